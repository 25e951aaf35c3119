"""Helpers for the operator e2e tests: the worker's services with their mapping settings store,
a sync context that applies the runtime settings, CLI calls, and stack lookups.

``attach_settings`` does to the cached worker services what ``wiring`` does once it builds
``Services.mapping_settings`` itself (the same Table Storage store, default prefix).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.stack import SandboxStack
from sync_core import wiring
from sync_core.cli import main
from sync_core.mapping.overrides import EffectiveCatalog
from sync_core.state.mapping_settings import mapping_settings_store
from sync_core.state.queues import queue_client
from sync_core.sync.context import SyncContext
from sync_core.sync.messages import RECORD_QUEUE
from sync_core.usecases import process_record_message
from sync_core.wiring import Services


def attach_settings(stack: SandboxStack) -> Services:
    svc = wiring.services()
    svc.mapping_settings = mapping_settings_store(stack.azurite.connection_string)  # type: ignore[attr-defined]
    svc.reference.ttl_seconds = 0  # tests change exchange rates and expect the next sync to see them
    return svc


def effective_context(svc: Services) -> SyncContext:
    """A sync context whose mappings carry the stored runtime settings (read on every use)."""
    catalog = EffectiveCatalog(svc.catalog, svc.mapping_settings, ttl_seconds=0)  # type: ignore[attr-defined]
    return SyncContext(catalog, svc.bc, svc.dataverse, svc.stores, svc.record_queue, reference=svc.reference)


def deliver_with(conn: str, ctx: SyncContext, *, max_rounds: int = 20) -> list[str]:
    """Like ``host.deliver_all`` but processing each message with ``ctx``."""
    client = queue_client(conn, RECORD_QUEUE)
    delivered: list[str] = []
    for _ in range(max_rounds):
        batch = list(client.receive_messages(max_messages=32, visibility_timeout=60))
        if not batch:
            return delivered
        for m in batch:
            process_record_message(m.content, dequeue_count=m.dequeue_count, ctx=ctx)
            client.delete_message(m)
            delivered.append(m.content)
    return delivered


def cli(capsys: pytest.CaptureFixture[str], svc: Services, *argv: str) -> dict[str, Any]:
    """Run a command with --json; it must succeed; its one JSON object."""
    code = main(["--json", *argv], svc=svc)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def cli_refused(capsys: pytest.CaptureFixture[str], svc: Services, *argv: str) -> str:
    """Run a command that must be refused (exit 1); its stderr."""
    code = main(list(argv), svc=svc)
    captured = capsys.readouterr()
    assert code == 1, captured.out
    return captured.err


def cli_usage_error(capsys: pytest.CaptureFixture[str], svc: Services, *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        main(list(argv), svc=svc)
    assert info.value.code == 2
    return capsys.readouterr().err


def bc_currency(stack: SandboxStack, code: str) -> str:
    return next(r["id"] for r in stack.bc.rows("currencies") if r["code"] == code)


def dv_currencies(stack: SandboxStack) -> dict[str, dict]:
    return {r["isocurrencycode"].upper(): r for r in stack.dataverse.rows("transactioncurrencies")}


def add_dv_currency(stack: SandboxStack, code: str, name: str = "") -> str:
    row = stack.dataverse.insert(
        "transactioncurrencies",
        {
            "isocurrencycode": code,
            "currencyname": name or f"{code} (CRM)",
            "currencysymbol": code[:1],
            "exchangerate": 1.0,
            "currencyprecision": 2,
        },
    )
    return str(row["transactioncurrencyid"])


def couplings_of(svc: Services, mapping: str) -> list:
    return list(svc.stores.couplings.iter_mapping(mapping))
