"""At-least-once delivery never duplicates: redelivery, two workers, a worker that died mid-create."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.functions.queue import QueueMessage

from sandbox.stack import SandboxStack
from sync_core.app import wiring
from sync_core.app.usecases import process_record_message
from sync_core.errors import TransientError
from sync_core.settings import RECORD_QUEUE, load_settings
from sync_core.state.ports import Coupling, JobRun
from sync_core.state.queues import queue_client
from sync_core.sync.messages import RecordMessage
from tests.e2e.host import fire_timer, user_functions
from tests.e2e.operator_support import command_json


def _eur(stack: SandboxStack) -> dict:
    return next(r for r in stack.bc.rows("currencies") if r["code"] == "EUR")


def _eur_rows(stack: SandboxStack) -> list[dict]:
    return [r for r in stack.dataverse.rows("transactioncurrencies") if r["isocurrencycode"] == "EUR"]


def _message(stack: SandboxStack) -> bytes:
    return RecordMessage("CURRENCY", "to-dataverse", _eur(stack)["id"], "job-x").to_json().encode()


def test_redelivered_message_changes_nothing(stack: SandboxStack) -> None:
    run = JobRun("job-x", "CURRENCY", "to-dataverse", datetime.now(UTC), datetime.now(UTC), 1, 1)
    wiring.services().stores.job_log.save_run(run)
    assert process_record_message(_message(stack)).outcome == "inserted"
    stack.dataverse.reset_counters()
    assert process_record_message(_message(stack)).outcome == "unchanged"
    assert stack.dataverse.counters()["total"] == 0 and len(_eur_rows(stack)) == 1
    summary = wiring.services().stores.job_log.summary("job-x")
    assert summary is not None and summary.processed == 1  # the outcome row counts once
    assert summary.finished and summary.counts["inserted"] == 1  # what the job did: never downgraded


def test_two_workers_racing_on_one_record_create_one_row(stack: SandboxStack) -> None:
    stack.dataverse.set_knobs(latency_ms=150)  # widen the race window
    contexts = [wiring.build_services(load_settings()).sync_context() for _ in range(2)]
    results: list[str] = []
    barrier = threading.Barrier(2)

    def worker(ctx) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            results.append(process_record_message(_message(stack), ctx=ctx).outcome)
        except TransientError:
            results.append("retry-later")

    threads = [threading.Thread(target=worker, args=(c,)) for c in contexts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) in (["inserted", "retry-later"], ["inserted", "unchanged"])
    stack.dataverse.clear_knobs()
    assert process_record_message(_message(stack)).outcome == "unchanged"  # the redelivery
    assert len(_eur_rows(stack)) == 1


def _stale_claim(stack: SandboxStack, crm_id: str) -> None:
    wiring.services().stores.couplings.claim(
        Coupling(
            "CURRENCY",
            _eur(stack)["id"],
            crm_id,
            state="claimed",
            claimed_at=datetime.now(UTC) - timedelta(minutes=10),
        )
    )


def test_worker_died_after_claim_before_create(stack: SandboxStack) -> None:
    crm_id = str(uuid.uuid4())
    _stale_claim(stack, crm_id)
    assert process_record_message(_message(stack)).outcome == "inserted"
    rows = _eur_rows(stack)
    assert [r["transactioncurrencyid"] for r in rows] == [crm_id]


def test_worker_died_after_create_before_coupling(stack: SandboxStack) -> None:
    crm_id = str(uuid.uuid4())
    _stale_claim(stack, crm_id)
    stack.dataverse.insert(
        "transactioncurrencies",
        {
            "transactioncurrencyid": crm_id,
            "isocurrencycode": "EUR",
            "currencyname": "Euro",
            "currencysymbol": "€",
            "exchangerate": 0.9,
            "currencyprecision": 2,
        },
    )
    outcome = process_record_message(_message(stack))
    assert outcome.outcome == "inserted"  # the claim's insert, completed: BC's job log counts it so
    assert [r["transactioncurrencyid"] for r in _eur_rows(stack)] == [crm_id]
    coupling = wiring.services().stores.couplings.get_by_bc("CURRENCY", _eur(stack)["id"])
    assert coupling is not None and coupling.state == "coupled"


def test_a_fresh_claim_of_another_worker_is_left_alone(stack: SandboxStack) -> None:
    wiring.services().stores.couplings.claim(
        Coupling(
            "CURRENCY", _eur(stack)["id"], str(uuid.uuid4()), state="claimed", claimed_at=datetime.now(UTC)
        )
    )
    try:
        process_record_message(_message(stack))
    except TransientError as exc:
        assert "being created by another worker" in str(exc)
    else:
        raise AssertionError("a fresh claim must make the message come back later")
    assert _eur_rows(stack) == []


def test_a_claim_sent_again_after_it_ran_is_known_as_ours(
    stack: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim's transaction ran but its answer was lost and it was sent again (409): the claim
    holds the id this worker chose, so it goes on and inserts now, not minutes later."""
    store = type(wiring.services().stores.couplings)
    claim = store.claim

    def sent_twice(self: Any, coupling: Coupling) -> Coupling:
        claim(self, coupling)  # ran, answer lost
        return claim(self, coupling)  # the resend: 409

    monkeypatch.setattr(store, "claim", sent_twice)
    assert process_record_message(_message(stack)).outcome == "inserted"
    assert len(_eur_rows(stack)) == 1
    coupling = wiring.services().stores.couplings.get_by_bc("CURRENCY", _eur(stack)["id"])
    assert coupling is not None and coupling.state == "coupled"
    assert coupling.crm_id == _eur_rows(stack)[0]["transactioncurrencyid"]


def test_existing_row_with_the_same_iso_code_is_coupled_not_duplicated(stack: SandboxStack) -> None:
    stack.dataverse.insert(
        "transactioncurrencies",
        {
            "isocurrencycode": "EUR",
            "currencyname": "Euro (made in CRM)",
            "currencysymbol": "€",
            "exchangerate": 0.5,
            "currencyprecision": 2,
        },
    )
    assert process_record_message(_message(stack)).outcome == "modified"
    rows = _eur_rows(stack)
    assert len(rows) == 1 and rows[0]["currencyname"] == _eur(stack)["displayName"]


def test_every_message_of_a_run_delivered_twice_counts_what_the_run_did(stack: SandboxStack) -> None:
    """A duplicate of every message (at-least-once): no duplicate row and the job log still
    counts the inserts as inserted, the failure once and not as Skipped."""
    conn = stack.azurite.connection_string
    rows_before = len(stack.dataverse.rows("transactioncurrencies"))
    fire_timer("sync_currency")
    process = user_functions()["process_record"]
    client = queue_client(conn, RECORD_QUEUE)
    messages = list(client.receive_messages(max_messages=32, visibility_timeout=60))
    for m in [*messages, *messages]:  # the second pass: the same message again
        process(QueueMessage(id=m.id, body=m.content.encode(), dequeue_count=m.dequeue_count))
    for m in messages:
        client.delete_message(m)
    [job] = command_json("jobs", "--mapping", "CURRENCY")["jobs"]
    currencies = len(stack.bc.rows("currencies"))
    assert job["enqueued"] == currencies and job["finished"]
    counts = {k: v for k, v in job["counts"].items() if v}
    assert counts == {"inserted": currencies - 1, "failed": 1}  # JPY has no exchange rate
    assert len(stack.dataverse.rows("transactioncurrencies")) == rows_before + currencies - 1
