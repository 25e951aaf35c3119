"""Full synchronization in chunk messages (``SYNC_FULL_SYNC_CHUNKS``, the default) end to end:
a chunk delivered twice, a chunk whose worker died half-way and that is delivered again, and a
no-change rerun that reads and writes nothing per record. Exactly one counterpart per record.

Chunk messages are taken from the Azurite record queue and handed to the use-case the queue
function calls (``process_record_message``), so a redelivery is the same body again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from sandbox.odata.protocol import Fault
from sandbox.stack import SandboxStack
from sync_core.app import full_sync, wiring
from sync_core.app.usecases import process_record_message
from sync_core.settings import CONTROL_QUEUE, RECORD_QUEUE
from sync_core.state.queues import queue_client
from sync_core.sync.engine import insert as engine_insert
from sync_core.sync.full_sync import chunks as full_sync_chunks
from sync_core.sync.full_sync import feed as full_sync_feed
from sync_core.sync.messages import ChunkMessage, parse_record_queue_message
from sync_core.systems.dataverse import DataverseAdapter
from tests.e2e.test_full_sync_e2e import FIXTURES, counts, deliver, lines_of, run_to_end


@pytest.fixture
def fs_stack(stack: SandboxStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxStack]:
    monkeypatch.setenv("SYNC_MAPPINGS_DIR", str(FIXTURES))
    monkeypatch.delenv("SYNC_FULL_SYNC_CHUNKS", raising=False)  # the default: chunks
    monkeypatch.setattr("sync_core.sync.full_sync.lines.CHECK_DELAY_S", 1)
    monkeypatch.setattr(full_sync_feed, "STAGE_CHUNK", 10)
    wiring.reset()
    for i in range(25):
        stack.bc.insert("items", {"displayName": f"Chunk test item {i}"})
    yield stack
    wiring.reset()


def chunk_bodies(conn: str, chunks_only: bool = True) -> list[str]:
    """Take every message of the record queue (all chunk messages unless told otherwise)."""
    client, bodies = queue_client(conn, RECORD_QUEUE), []
    while batch := list(client.receive_messages(max_messages=32, visibility_timeout=60)):
        for m in batch:
            bodies.append(m.content)
            client.delete_message(m)
    assert not chunks_only or all(isinstance(parse_record_queue_message(b), ChunkMessage) for b in bodies)
    return bodies


def products(stack: SandboxStack) -> list[str]:
    numbers = [p["productnumber"] for p in stack.dataverse.rows("products")]
    assert len(numbers) == len(set(numbers)), "a record got two counterparts"
    return numbers


def one_counterpart_each(stack: SandboxStack) -> None:
    items = stack.bc.rows("items")
    assert sorted(products(stack)) == sorted(i["number"] for i in items)
    couplings = list(wiring.services().stores.couplings.iter_mapping("FS-ITEM"))
    assert len(couplings) == len(items) and {c.state for c in couplings} == {"coupled"}


def test_a_chunk_delivered_twice_gives_one_counterpart_per_record(fs_stack: SandboxStack) -> None:
    conn = fs_stack.azurite.connection_string
    items = len(fs_stack.bc.rows("items"))
    full_sync.start(["FS-ITEM"])
    assert deliver(conn, CONTROL_QUEUE, "process_control") == 1  # scan, stage, feed the chunks
    bodies = chunk_bodies(conn)
    assert len(bodies) == -(-items // 10)
    for body in bodies:
        process_record_message(body)
        process_record_message(body)  # redelivered
    line = lines_of(run_to_end(conn))["FS-ITEM"]
    assert line["status"] == "Finished" and counts(line) == {"inserted": items}
    one_counterpart_each(fs_stack)

    for emulator in (fs_stack.bc, fs_stack.dataverse):
        emulator.reset_counters()
    full_sync.start(["FS-ITEM"], ["FS-ITEM"])  # the no-change rerun, each chunk twice again
    assert deliver(conn, CONTROL_QUEUE, "process_control") == 1
    for body in chunk_bodies(conn):
        assert process_record_message(body).outcome == "unchanged"
        process_record_message(body)
    line = lines_of(run_to_end(conn))["FS-ITEM"]
    assert counts(line) == {"unchanged": items}
    dv, bc = fs_stack.dataverse.counters(), fs_stack.bc.counters()
    assert dv["writes"] == bc["writes"] == 0
    assert dv["by_entity"].get("products", {}).get("GET", 0) <= 1  # the review's sample only
    assert bc["total"] <= 4  # the review's sample and the scan's page: no read per record
    one_counterpart_each(fs_stack)


def one_staged_chunk(fs_stack: SandboxStack, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int, str]:
    """A full synchronization of FS-ITEM started and staged as one chunk: (connection, items, body)."""
    conn = fs_stack.azurite.connection_string
    monkeypatch.setattr(full_sync_feed, "STAGE_CHUNK", 100)  # one chunk
    full_sync.start(["FS-ITEM"])
    assert deliver(conn, CONTROL_QUEUE, "process_control") == 1
    [body] = chunk_bodies(conn)
    return conn, len(fs_stack.bc.rows("items")), body


class WorkerDied(Exception):
    """The worker process was killed: nothing after this point ran."""


def test_a_chunk_that_died_half_way_is_finished_by_its_redelivery(
    fs_stack: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = fs_stack.azurite.connection_string
    items = len(fs_stack.bc.rows("items"))
    monkeypatch.setattr(full_sync_feed, "STAGE_CHUNK", 100)  # one chunk
    monkeypatch.setattr(full_sync_chunks, "CHUNK_THREADS", 1)
    create_many = DataverseAdapter.create_many

    def dying_create_many(self: DataverseAdapter, entity: str, rows: Any) -> Any:
        create_many(self, entity, rows[:5])  # Dataverse created 5 rows, then the worker was gone
        raise WorkerDied

    monkeypatch.setattr(DataverseAdapter, "create_many", dying_create_many)
    full_sync.start(["FS-ITEM"])
    assert deliver(conn, CONTROL_QUEUE, "process_control") == 1
    [body] = chunk_bodies(conn)
    with pytest.raises(WorkerDied):
        process_record_message(body)
    assert len(products(fs_stack)) == 5
    claims = [c for c in wiring.services().stores.couplings.iter_mapping("FS-ITEM") if c.state == "claimed"]
    assert len(claims) == items  # every record claimed the id its row gets, 5 rows made

    monkeypatch.setattr(DataverseAdapter, "create_many", create_many)  # the next worker
    for emulator in (fs_stack.bc, fs_stack.dataverse):
        emulator.reset_counters()
    done = process_record_message(body, dequeue_count=2)  # the redelivery knows its own claims
    assert f"inserted {items}" in done.message
    assert fs_stack.dataverse.counters()["by_entity"]["products"]["POST"] == items  # 5 answered "exists"
    assert chunk_bodies(conn, chunks_only=False) == []  # nothing left to come back later
    line = lines_of(run_to_end(conn))["FS-ITEM"]
    assert line["status"] == "Finished" and counts(line) == {"inserted": items}
    one_counterpart_each(fs_stack)
    rows = {p["productid"] for p in fs_stack.dataverse.rows("products")}
    assert rows == {c.crm_id for c in claims}  # the rows have the ids the first pass claimed


def test_a_chunk_inserts_together_and_each_record_keeps_its_own_outcome(
    fs_stack: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uncoupled records of a chunk: one read of their sources, one Dataverse $batch of creates,
    claims and couplings in transactions. A create Dataverse refuses fails that record alone (its
    sync error, its claim freed); a throttled one keeps its claim and comes back on its own."""
    conn, items, body = one_staged_chunk(fs_stack, monkeypatch)
    refused, throttled = (
        Fault(status=400, method="POST", entity="products"),
        Fault(status=429, method="POST", entity="products", retry_after=1),
    )
    fs_stack.dataverse.set_knobs(faults=[refused, throttled])
    for emulator in (fs_stack.bc, fs_stack.dataverse):
        emulator.reset_counters()
    monkeypatch.setattr(full_sync_chunks, "RESUME_AFTER_S", 0)  # the throttled one: visible at once
    assert "failed 1" in process_record_message(body).message
    dv, bc = fs_stack.dataverse.counters(), fs_stack.bc.counters()
    assert dv["total"] == 1 and dv["by_entity"]["products"]["POST"] == items  # one $batch
    assert bc["total"] == -(-items // full_sync_chunks.READ_IDS)  # the sources, read together
    assert len(products(fs_stack)) == items - 2

    couplings = list(wiring.services().stores.couplings.iter_mapping("FS-ITEM"))
    assert len(couplings) == items - 1  # the refused record's claim is gone
    [claim] = [c for c in couplings if c.state == "claimed"]  # the throttled record's stays
    [error] = wiring.services().stores.sync_errors.page(mapping="FS-ITEM").entries
    assert error.source_id not in {c.bc_id for c in couplings} and "injected HTTP 400" in error.message
    [again] = [parse_record_queue_message(b) for b in chunk_bodies(conn, chunks_only=False)]
    assert again.source_id == claim.bc_id  # type: ignore[union-attr]
    monkeypatch.setattr(engine_insert, "CLAIM_STALE_AFTER", timedelta(0))
    assert process_record_message(again.to_json()).outcome == "inserted"
    line = lines_of(run_to_end(conn))["FS-ITEM"]
    assert line["status"] == "Finished" and counts(line) == {"inserted": items - 1, "failed": 1}
    assert len(products(fs_stack)) == items - 1


def test_a_throttled_create_batch_waits_its_turn(
    fs_stack: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dataverse answers the whole $batch 429 (with Retry-After) more often than the client retries:
    the chunk sends it again when told, and every record is inserted now, none left for later."""
    conn, items, body = one_staged_chunk(fs_stack, monkeypatch)
    fs_stack.dataverse.set_knobs(faults=[Fault(status=429, count=6, retry_after=1)])
    assert "inserted" in process_record_message(body).message
    assert fs_stack.dataverse.knobs()["faults"][0]["count"] == 0  # the client alone gave up after 5
    assert len(products(fs_stack)) == items
    assert chunk_bodies(conn, chunks_only=False) == []  # nothing sent again
    line = lines_of(run_to_end(conn))["FS-ITEM"]
    assert counts(line) == {"inserted": items}
    one_counterpart_each(fs_stack)


def test_a_claim_transaction_sent_again_after_it_ran_keeps_its_claims(
    fs_stack: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim transaction that timed out after Azurite ran it and was sent again answers 409 for
    its own rows: the chunk recognises its claims (crm ids derived from its job) and goes on,
    instead of leaving every record to come back on its own minutes later."""
    conn = fs_stack.azurite.connection_string
    items = len(fs_stack.bc.rows("items"))
    monkeypatch.setattr(full_sync_feed, "STAGE_CHUNK", 100)  # one chunk
    store = type(wiring.services().stores.couplings)
    claim_many = store.claim_many

    def sent_twice(self: Any, couplings: Any) -> Any:
        claim_many(self, couplings)  # ran, but its answer was lost
        return claim_many(self, couplings)  # the resend: 409 for every row

    monkeypatch.setattr(store, "claim_many", sent_twice)
    full_sync.start(["FS-ITEM"])
    assert deliver(conn, CONTROL_QUEUE, "process_control") == 1
    [body] = chunk_bodies(conn)
    assert f"inserted {items}" in process_record_message(body).message
    assert chunk_bodies(conn, chunks_only=False) == []  # nothing left to come back
    line = lines_of(run_to_end(conn))["FS-ITEM"]
    assert counts(line) == {"inserted": items}
    one_counterpart_each(fs_stack)
