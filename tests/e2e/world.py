"""A synchronized world for the document tests: currencies, salespeople, options, units, then the
named customers and items created in Dataverse and coupled, as BC's "Create in Dataverse" does."""

from __future__ import annotations

from sandbox.stack import SandboxStack
from sync_core.app import wiring
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.outcome import Outcome
from sync_core.sync.engine.record import RecordSynchronizer
from sync_core.sync.messages import RecordMessage
from tests.e2e.host import deliver_all, fire_timer

SALESPEOPLE_USERS = ("salesperson_jo", "salesperson_ps", "salesperson_of")
OPTION_TIMERS = ("sync_currency", "sync_payment_terms", "sync_shipment_method", "sync_shipping_agent")


def context() -> SyncContext:
    return wiring.services().sync_context()


def sync(
    ctx: SyncContext, mapping: str, source_id: str, reason: str = "command", direction: str = ""
) -> Outcome:
    msg = RecordMessage(mapping, direction or "to-dataverse", source_id, "job-documents", reason)  # type: ignore[arg-type]
    return RecordSynchronizer(ctx).process(msg)


def bc_row(stack: SandboxStack, entity: str, number: str) -> dict:
    return next(r for r in stack.bc.rows(entity) if r.get("number") == number)


def crm_id(ctx: SyncContext, mapping: str, bc_id: str) -> str:
    coupling = ctx.stores.couplings.get_by_bc(mapping, bc_id)
    assert coupling is not None and coupling.state == "coupled", coupling
    return coupling.crm_id


def prepare(
    stack: SandboxStack, ctx: SyncContext, customers: tuple[str, ...], items: tuple[str, ...]
) -> None:
    """Currencies, salespeople, options and units, then the named customers and items, coupled."""
    conn = stack.azurite.connection_string
    for timer in OPTION_TIMERS:
        fire_timer(timer)
        deliver_all(conn)
    for user in SALESPEOPLE_USERS:  # matched to BC's salespeople by e-mail
        assert sync(ctx, "SALESPEOPLE", stack.dataverse.ids[user], "modified", "to-bc").outcome != "failed"
    for unit in stack.bc.rows("unitsOfMeasure"):
        assert sync(ctx, "UNIT OF MEASURE", unit["id"]).outcome in ("inserted", "modified", "unchanged")
    for number in customers:
        assert (
            sync(ctx, "CUSTOMER", bc_row(stack, "integrationCustomers", number)["id"]).outcome == "inserted"
        )
    for number in items:
        assert (
            sync(ctx, "ITEM-PRODUCT", bc_row(stack, "integrationItems", number)["id"]).outcome == "inserted"
        )
