"""What the benchmarks share: a run on a fresh embedded stack, and coupled bench customers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sandbox.stack import SandboxStack, environment, start_stack

T = TypeVar("T")


def on_stack(measure: Callable[[SandboxStack], T]) -> T:
    """Start the embedded stack, run ``measure`` with the app's settings and fresh services, stop it."""
    stack = start_stack()
    try:
        with environment(stack.settings()):
            from sync_core.app import wiring

            wiring.reset()
            return measure(stack)
    finally:
        stack.stop()


def couple_new_customers(stack: SandboxStack, prefix: str, count: int) -> list[tuple[str, str]]:
    """``count`` new BC customers (``<prefix>00000`` ...) created in Dataverse and coupled, through
    the record engine as "Create in Dataverse" does: (customer id, account id) each."""
    from sync_core.app.wiring import services
    from sync_core.sync.engine.record import RecordSynchronizer
    from sync_core.sync.messages import RecordMessage

    ctx, pairs = services().sync_context(), []
    for n in range(count):
        number = f"{prefix}{n:05d}"
        row = stack.bc.insert("integrationCustomers", {"number": number, "name": f"Bench customer {number}"})
        message = RecordMessage("CUSTOMER", "to-dataverse", row["id"], "bench", "command")
        outcome = RecordSynchronizer(ctx).process(message)
        if outcome.outcome != "inserted":
            raise RuntimeError(f"customer {number} was not created in Dataverse: {outcome.message}")
        pairs.append((row["id"], outcome.destination_id))
    return pairs
