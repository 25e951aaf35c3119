"""Operator commands in their own process while this process is the worker.

Each command runs as an operator runs it (``python -m sync_core`` in a subprocess, with the
stack's settings); this process plays the Functions worker: timers fired and queue messages
delivered through the function entry points, with its services (and any cache) kept between
calls. What a command changes applies to the very next tick and message, and what it writes
leaves neither a false conflict nor a wrong count behind. TEST-CUSTOMER is a test-only
bidirectional mapping (tests/fixtures/mappings_engine): customer name <-> account name, phone ->
telephone1, currency through CURRENCY's couplings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.stack import SandboxStack
from sync_core.app import wiring
from tests.e2e.host import deliver_all, fire_timer
from tests.e2e.operator_support import bc_currency, command_json, dv_currencies, run_command

M = "TEST-CUSTOMER"
MAPPINGS = str(Path(__file__).parent.parent / "fixtures" / "mappings_engine")


@pytest.fixture
def engine(stack: SandboxStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxStack]:
    """The stack with TEST-CUSTOMER loaded, here and in every command's process."""
    monkeypatch.setenv("SYNC_MAPPINGS_DIR", MAPPINGS)
    wiring.reset()
    yield stack
    wiring.reset()


def _customer(stack: SandboxStack, number: str) -> dict:
    return next(r for r in stack.bc.rows("integrationCustomers") if r["number"] == number)


def _coupled(stack: SandboxStack, number: str) -> tuple[str, str]:
    """``create-in-dataverse`` for a customer: its BC id and its new account's id."""
    bc_id = _customer(stack, number)["id"]
    created = command_json("create-in-dataverse", M, "--bc-id", bc_id)["created"]
    assert created["outcome"] == "inserted"
    return bc_id, created["destination_id"]


def _run_and_deliver(stack: SandboxStack) -> dict[str, dict]:
    """``run`` the mapping (a command), deliver its messages here (the worker); the job log's rows
    of that run by direction, as ``jobs`` shows them."""
    ran = command_json("run", M)["jobs"]
    deliver_all(stack.azurite.connection_string)
    listed = {j["job_id"]: j for j in command_json("jobs", "--mapping", M)["jobs"]}
    return {job["direction"]: listed[job["job_id"]] for job in ran}


def _counts(job: dict) -> dict[str, int]:
    return {k: v for k, v in job["counts"].items() if v}


def test_mapping_set_applies_to_the_next_message_and_tick_of_a_running_worker(stack: SandboxStack) -> None:
    conn = stack.azurite.connection_string
    fire_timer("sync_currency")
    deliver_all(conn)  # the worker has read CURRENCY's settings
    eur = bc_currency(stack, "EUR")
    stack.bc.update("currencies", eur, {"symbol": "EU", "displayName": "Euro (new)"})
    fire_timer("sync_currency")  # the change is enqueued ...
    run_command("mapping-set", "CURRENCY", "--disable-field", "currencysymbol")
    assert len(deliver_all(conn)) == 1  # ... and processed after the command returned
    row = dv_currencies(stack)["EUR"]
    assert (row["currencyname"], row["currencysymbol"]) == ("Euro (new)", "€")

    run_command("mapping-set", "CURRENCY", "--table-filter", "code ne 'EUR'")
    stack.bc.update("currencies", eur, {"displayName": "Euro (filtered out)"})
    fire_timer("sync_currency")  # the next tick reads with the new filter
    assert deliver_all(conn) == []
    assert dv_currencies(stack)["EUR"]["currencyname"] == "Euro (new)"


def test_update_conflict_resolution_set_between_a_run_and_its_messages(engine: SandboxStack) -> None:
    bc_id, account = _coupled(engine, "30000")
    engine.bc.update("integrationCustomers", bc_id, {"name": "Cannon (warm-up)"})
    assert _counts(_run_and_deliver(engine)["to-dataverse"]) == {"modified": 1}
    engine.bc.update("integrationCustomers", bc_id, {"name": "Cannon (BC)"})
    engine.dataverse.update("accounts", account, {"name": "Cannon (CRM)"})
    ran = command_json("run", M)["jobs"]
    assert {j["direction"]: j["enqueued"] for j in ran} == {"to-dataverse": 1, "to-bc": 1}
    run_command("mapping-set", M, "--update-conflict-resolution", "send")
    deliver_all(engine.azurite.connection_string)
    assert engine.dataverse.get("accounts", account)["name"] == "Cannon (BC)"  # BC won
    assert engine.bc.get("integrationCustomers", bc_id)["name"] == "Cannon (BC)"
    listed = {j["job_id"]: j for j in command_json("jobs", "--mapping", M)["jobs"]}
    by_direction = {j["direction"]: _counts(listed[j["job_id"]]) for j in ran}
    assert by_direction["to-dataverse"] == {"modified": 1}
    # BC's CRM->BC pass skips it; processed after BC's write, nothing differs any more
    assert by_direction["to-bc"] in ({"skipped": 1}, {"unchanged": 1})


def test_sync_now_without_a_conflict_leaves_no_false_conflict(engine: SandboxStack) -> None:
    bc_id, account = _coupled(engine, "30000")
    engine.bc.update("integrationCustomers", bc_id, {"phoneNo": "+44 20 7946 0001"})
    synced = command_json("sync-now", M, "--bc-id", bc_id, "--direction", "to-dataverse")
    assert synced["synchronized"]["outcome"] == "modified"
    engine.bc.update("integrationCustomers", bc_id, {"name": "Cannon Group (BC only)"})
    jobs = _run_and_deliver(engine)
    assert _counts(jobs["to-dataverse"]) == {"modified": 1}  # not a two-sided conflict
    assert jobs["to-bc"]["enqueued"] == 0  # and the forced write is no change to bring back
    assert engine.dataverse.get("accounts", account)["name"] == "Cannon Group (BC only)"
    assert command_json("errors", "--mapping", M)["errors"] == []


def test_restore_without_a_conflict_leaves_no_false_conflict(engine: SandboxStack) -> None:
    conn = engine.azurite.connection_string
    fire_timer("sync_currency")
    deliver_all(conn)
    eur, dv_eur = bc_currency(engine, "EUR"), dv_currencies(engine)["EUR"]["transactioncurrencyid"]
    bc_id, account = _coupled(engine, "60000")  # a customer in EUR
    run_command("uncouple", "CURRENCY", "--bc-id", eur)
    for name in ("Autohaus (1)", "Autohaus (2)"):  # two runs fail the same way: Skipped
        engine.bc.update("integrationCustomers", bc_id, {"name": name})
        assert _counts(_run_and_deliver(engine)["to-dataverse"]) in ({"failed": 1}, {"skipped": 1})
    assert wiring.services().stores.couplings.get_by_bc(M, bc_id).skipped
    command_json("couple", "CURRENCY", "--bc-id", eur, "--crm-id", dv_eur)  # the cause is fixed
    assert command_json("restore", M, "--bc-id", bc_id)["restore"]["enqueued"] == 1
    deliver_all(conn)
    assert engine.dataverse.get("accounts", account)["name"] == "Autohaus (2)"
    engine.bc.update("integrationCustomers", bc_id, {"name": "Autohaus (BC only)"})
    assert _counts(_run_and_deliver(engine)["to-dataverse"]) == {"modified": 1}
    assert engine.dataverse.get("accounts", account)["name"] == "Autohaus (BC only)"


def test_deletion_resolution_remove_coupling_counts_no_skip_and_recreates_nothing(
    engine: SandboxStack,
) -> None:
    bc_id, account = _coupled(engine, "30000")
    run_command("mapping-set", M, "--deletion-conflict-resolution", "remove-coupling")
    engine.dataverse.delete("accounts", account)
    accounts = len(engine.dataverse.rows("accounts"))
    engine.bc.update("integrationCustomers", bc_id, {"name": "Cannon (after the delete)"})
    job = _run_and_deliver(engine)["to-dataverse"]
    assert _counts(job) == {"uncoupled": 1} and job["finished"]
    assert wiring.services().stores.couplings.get_by_bc(M, bc_id) is None
    assert command_json("errors", "--mapping", M)["errors"] == []
    engine.bc.update("integrationCustomers", bc_id, {"name": "Cannon (changed again)"})
    assert _run_and_deliver(engine)["to-dataverse"]["enqueued"] == 0  # uncoupled: left alone
    assert len(engine.dataverse.rows("accounts")) == accounts  # nothing re-created
