"""BC's engine rules against the emulators: lookups, inserts both ways, conflicts, deletions, Skipped.

Uses a test-only bidirectional mapping (tests/fixtures/mappings_engine/test_customer.toml):
customer name <-> account name, phone -> telephone1, currency code <-> transactioncurrencyid
through CURRENCY's couplings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.stack import SandboxStack, environment
from sync_core.app import wiring
from sync_core.mapping.catalog import Catalog
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.outcome import Outcome
from sync_core.sync.engine.record import RecordSynchronizer
from sync_core.sync.jobs.mapping_job import run_mapping_job
from sync_core.sync.messages import RecordMessage
from tests.e2e.host import deliver_all, fire_timer

MAPPINGS = str(Path(__file__).parent.parent / "fixtures" / "mappings_engine")
M = "TEST-CUSTOMER"


@pytest.fixture
def ctx(stack: SandboxStack) -> Iterator[SyncContext]:
    with environment({"SYNC_MAPPINGS_DIR": MAPPINGS}):
        wiring.reset()
        yield wiring.services().sync_context()
    wiring.reset()


def _sync(ctx: SyncContext, direction: str, source_id: str, reason: str = "modified") -> Outcome:
    """One record in a run of its own (a new job id: BC's "same error twice" spans two jobs)."""
    job_id = f"job-e-{uuid.uuid4().hex[:8]}"
    return RecordSynchronizer(ctx).process(RecordMessage(M, direction, source_id, job_id, reason))  # type: ignore[arg-type]


def _customer(stack: SandboxStack, number: str) -> dict:
    return next(r for r in stack.bc.rows("integrationCustomers") if r["number"] == number)


def _sync_currencies(stack: SandboxStack) -> None:
    fire_timer("sync_currency")
    deliver_all(stack.azurite.connection_string)


def _with_mapping(ctx: SyncContext, **changes: object) -> SyncContext:
    mappings = [replace(m, **changes) if m.name == M else m for m in ctx.catalog]
    return replace(ctx, catalog=Catalog(mappings))


def _coupled_customer(stack: SandboxStack, ctx: SyncContext, number: str = "30000") -> tuple[dict, dict]:
    customer = _customer(stack, number)
    assert _sync(ctx, "to-dataverse", customer["id"], "command").outcome == "inserted"
    coupling = ctx.stores.couplings.get_by_bc(M, customer["id"])
    return customer, stack.dataverse.get("accounts", coupling.crm_id)


def test_create_in_bc_couples_and_a_redelivery_changes_nothing(stack: SandboxStack, ctx: SyncContext) -> None:
    account = stack.dataverse.insert("accounts", {"name": "Fabrikam Test Ltd."})
    assert _sync(ctx, "to-bc", account["accountid"]).outcome == "skipped"  # synch only coupled
    assert _sync(ctx, "to-bc", account["accountid"], "command").outcome == "inserted"
    coupling = ctx.stores.couplings.get_by_crm(M, account["accountid"])
    created = stack.bc.get("integrationCustomers", coupling.bc_id)
    assert coupling.state == "coupled" and created["name"] == "Fabrikam Test Ltd."
    assert created["currencyCode"] == ""  # no currency in Dataverse -> BC's blank (LCY)
    stack.bc.reset_counters()
    assert _sync(ctx, "to-bc", account["accountid"]).outcome == "unchanged"
    assert stack.bc.counters()["writes"] == 0
    names = [r["name"] for r in stack.bc.rows("integrationCustomers")]
    assert names.count("Fabrikam Test Ltd.") == 1


def test_uncoupled_lookup_fails_with_bcs_message_until_the_currency_is_coupled(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    eur_customer = _customer(stack, "60000")
    outcome = _sync(ctx, "to-dataverse", eur_customer["id"], "command")
    assert (outcome.outcome, outcome.message) == (
        "failed",
        "Currency Code EUR must be coupled to a record in Dataverse.",
    )
    error = ctx.stores.sync_errors.list(M)[0]
    assert error.field == "_transactioncurrencyid_value" and "CURRENCY" in error.remedy
    _sync_currencies(stack)
    assert _sync(ctx, "to-dataverse", eur_customer["id"], "command").outcome == "inserted"
    account = stack.dataverse.get("accounts", ctx.stores.couplings.get_by_bc(M, eur_customer["id"]).crm_id)
    eur = next(r for r in stack.dataverse.rows("transactioncurrencies") if r["isocurrencycode"] == "EUR")
    assert account["_transactioncurrencyid_value"] == eur["transactioncurrencyid"]


def test_an_existing_account_with_the_same_name_is_coupled_not_duplicated(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    cannon = _customer(stack, "10000")  # Dataverse already has "The Cannon Group PLC"
    before = [a for a in stack.dataverse.rows("accounts") if a["name"] == cannon["name"]]
    assert len(before) == 1
    assert _sync(ctx, "to-dataverse", cannon["id"], "command").outcome == "modified"
    assert ctx.stores.couplings.get_by_bc(M, cannon["id"]).crm_id == before[0]["accountid"]
    assert [a for a in stack.dataverse.rows("accounts") if a["name"] == cannon["name"]] == [
        stack.dataverse.get("accounts", before[0]["accountid"])
    ]


def test_blank_currency_is_the_dataverse_lcy_currency(stack: SandboxStack, ctx: SyncContext) -> None:
    _, account = _coupled_customer(stack, ctx, "30000")
    usd = next(r for r in stack.dataverse.rows("transactioncurrencies") if r["isocurrencycode"] == "USD")
    assert account["_transactioncurrencyid_value"] == usd["transactioncurrencyid"]


def test_same_error_twice_marks_skipped_and_restore_brings_it_back(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    _sync_currencies(stack)
    customer, _ = _coupled_customer(stack, ctx, "60000")
    eur_coupling = ctx.stores.couplings.get_by_bc("CURRENCY", _eur_bc_id(stack))
    ctx.stores.couplings.delete(eur_coupling)  # the currency is no longer coupled
    stack.bc.update("integrationCustomers", customer["id"], {"name": "Autohaus Mielberg AG"})
    assert _sync(ctx, "to-dataverse", customer["id"]).outcome == "failed"
    assert _sync(ctx, "to-dataverse", customer["id"]).outcome == "skipped"  # same error again
    assert ctx.stores.couplings.get_by_bc(M, customer["id"]).skipped
    assert _sync(ctx, "to-dataverse", customer["id"]).message == "the coupled record is marked Skipped"
    eur = RecordMessage("CURRENCY", "to-dataverse", _eur_bc_id(stack), reason="command")
    assert RecordSynchronizer(ctx).process(eur).outcome in ("modified", "unchanged")  # matched by ISO code
    assert _sync(ctx, "to-dataverse", customer["id"], "restore").outcome == "modified"
    assert not ctx.stores.couplings.get_by_bc(M, customer["id"]).skipped


def _eur_bc_id(stack: SandboxStack) -> str:
    return next(r["id"] for r in stack.bc.rows("currencies") if r["code"] == "EUR")


def test_bidirectional_field_changed_on_both_sides_is_a_conflict(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    customer, account = _coupled_customer(stack, ctx)
    stack.bc.update("integrationCustomers", customer["id"], {"name": "Cannon (BC)"})
    stack.dataverse.update("accounts", account["accountid"], {"name": "Cannon (CRM)"})
    stack.dataverse.reset_counters()
    outcome = _sync(ctx, "to-dataverse", customer["id"])
    assert (
        outcome.outcome == "failed"
        and "is bi-directional, and one or both values have changed" in outcome.message
    )
    assert stack.dataverse.counters()["writes"] == 0
    assert stack.dataverse.get("accounts", account["accountid"])["name"] == "Cannon (CRM)"
    send = _with_mapping(ctx, update_conflict_resolution="send")
    assert (
        RecordSynchronizer(send).process(RecordMessage(M, "to-bc", account["accountid"])).outcome == "skipped"
    )
    assert (
        RecordSynchronizer(send).process(RecordMessage(M, "to-dataverse", customer["id"])).outcome
        == "modified"
    )
    assert stack.dataverse.get("accounts", account["accountid"])["name"] == "Cannon (BC)"


def test_a_change_of_unidirectional_or_unmapped_fields_is_no_conflict(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    customer, account = _coupled_customer(stack, ctx)
    stack.bc.update("integrationCustomers", customer["id"], {"phoneNo": "+44 20 0000 0001"})
    stack.dataverse.update("accounts", account["accountid"], {"description": "changed in CRM"})
    outcome = _sync(ctx, "to-dataverse", customer["id"])
    assert (outcome.outcome, outcome.message) == ("modified", "changed telephone1")


def test_coupled_to_a_deleted_record(stack: SandboxStack, ctx: SyncContext) -> None:
    customer, account = _coupled_customer(stack, ctx)
    stack.dataverse.delete("accounts", account["accountid"])
    stack.bc.update("integrationCustomers", customer["id"], {"name": "Cannon Group"})
    outcome = _sync(ctx, "to-dataverse", customer["id"])
    assert outcome.outcome == "failed" and "coupled to a deleted record" in outcome.message
    assert _sync(ctx, "to-dataverse", customer["id"]).outcome == "skipped"
    removing = _with_mapping(ctx, deletion_conflict_resolution="remove-coupling")
    message = RecordMessage(M, "to-dataverse", customer["id"], reason="restore")
    assert RecordSynchronizer(removing).process(message).outcome == "uncoupled"  # BC: not Skipped
    assert ctx.stores.couplings.get_by_bc(M, customer["id"]) is None


def test_deleted_destination_is_restored_when_the_mapping_says_so(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    customer, account = _coupled_customer(stack, ctx)
    stack.dataverse.delete("accounts", account["accountid"])
    stack.bc.update("integrationCustomers", customer["id"], {"name": "Cannon Group"})
    restoring = _with_mapping(ctx, deletion_conflict_resolution="restore")
    assert RecordSynchronizer(restoring).process(
        RecordMessage(M, "to-dataverse", customer["id"])
    ).outcome == ("inserted")
    coupling = ctx.stores.couplings.get_by_bc(M, customer["id"])
    assert coupling.crm_id != account["accountid"]
    assert stack.dataverse.get("accounts", coupling.crm_id)["name"] == "Cannon Group"


def test_bidirectional_job_suppresses_echoes_of_its_own_writes(stack: SandboxStack, ctx: SyncContext) -> None:
    customer, account = _coupled_customer(stack, ctx)
    run_mapping_job(ctx, M)  # settles both watermarks
    deliver_all(stack.azurite.connection_string)
    stack.bc.update("integrationCustomers", customer["id"], {"name": "Cannon Group (renamed)"})
    runs = {r.direction: r for r in run_mapping_job(ctx, M)}
    assert (runs["to-dataverse"].enqueued, runs["to-bc"].enqueued) == (1, 0)
    deliver_all(stack.azurite.connection_string)
    assert stack.dataverse.get("accounts", account["accountid"])["name"] == "Cannon Group (renamed)"
    runs = {r.direction: r for r in run_mapping_job(ctx, M)}
    assert (runs["to-dataverse"].enqueued, runs["to-bc"].enqueued) == (0, 0)  # our own write: no echo
    stack.dataverse.update("accounts", account["accountid"], {"name": "Cannon (CRM user)"})
    runs = {r.direction: r for r in run_mapping_job(ctx, M)}
    assert runs["to-bc"].enqueued == 1
    deliver_all(stack.azurite.connection_string)
    assert stack.bc.get("integrationCustomers", customer["id"])["name"] == "Cannon (CRM user)"


def test_failed_records_are_retried_by_the_next_run_even_if_unchanged(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    _sync_currencies(stack)
    customer, _ = _coupled_customer(stack, ctx, "60000")
    run_mapping_job(ctx, M)
    deliver_all(stack.azurite.connection_string)
    ctx.stores.couplings.delete(ctx.stores.couplings.get_by_bc("CURRENCY", _eur_bc_id(stack)))
    assert _sync(ctx, "to-dataverse", customer["id"], "command").outcome == "failed"
    runs = {r.direction: r for r in run_mapping_job(ctx, M)}
    assert (runs["to-dataverse"].read, runs["to-dataverse"].enqueued) == (0, 1)  # the retry
    delivered = deliver_all(stack.azurite.connection_string)
    assert len(delivered) == 1 and '"reason":"retry"' in delivered[0]
    assert ctx.stores.couplings.get_by_bc(M, customer["id"]).skipped  # same error twice -> Skipped
    runs = {r.direction: r for r in run_mapping_job(ctx, M)}
    assert runs["to-dataverse"].enqueued == 0  # Skipped records stay out


def test_uncoupled_records_of_synch_only_coupled_mappings_are_left_out_of_scheduled_runs(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    runs = {r.direction: r for r in run_mapping_job(ctx, M)}
    assert runs["to-dataverse"].read == len(stack.bc.rows("integrationCustomers"))
    assert runs["to-dataverse"].enqueued == 0 and runs["to-bc"].enqueued == 0
