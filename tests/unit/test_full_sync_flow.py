"""Full synchronization moving through control messages alone, with in-memory twins.

The record processor is replaced by a stand-in that only writes job-log outcomes: these tests are
about the review lines (waves, counts, watermarks, crashes, restarts), not record sync. They run
with per-record messages; ``test_full_sync_chunks`` follows chunk messages.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sync_core.errors import ConflictError, TransientError
from sync_core.mapping.catalog import Catalog, default_catalog
from sync_core.mapping.model import FieldMapping, IntegrationTableMapping
from sync_core.state.full_sync_review import MemoryFullSyncReviewStore
from sync_core.state.memory import MemoryMessageQueue
from sync_core.state.stores import memory_stores
from sync_core.sync.context import SyncContext
from sync_core.sync.full_sync import lines as full_sync_lines
from sync_core.sync.full_sync.plan import waiting_on
from sync_core.sync.full_sync.run import (
    full_sync_status,
    process_control_message,
    restart_full_sync,
    start_full_sync,
)
from sync_core.sync.messages import RecordMessage
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import Record

T0 = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def per_record_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests follow per-record messages (``SYNC_FULL_SYNC_CHUNKS=0``); chunks have their own."""
    monkeypatch.setenv("SYNC_FULL_SYNC_CHUNKS", "0")


def _mapping(
    name: str, bc: str, crm: str, *deps: str, direction: str = "to-dataverse"
) -> IntegrationTableMapping:
    """A mapping with the full synchronization rules its namesake in the default catalog declares."""
    field = FieldMapping("name", "displayName", direction=direction)  # type: ignore[arg-type]
    declared = DECLARED.get(name, {})
    return IntegrationTableMapping(name, bc, crm, "id", direction, (field,), dependencies=deps, **declared)  # type: ignore[arg-type]


DECLARED = {
    m.name: {"recommendation_rule": m.recommendation_rule, "review_priority": m.review_priority}
    for m in default_catalog()
}


CATALOG = Catalog(
    [
        _mapping("CURRENCY", "currencies", "transactioncurrencies"),
        _mapping("ITEM", "items", "products", "CURRENCY"),
        _mapping("CUSTOMER", "customers", "accounts", "CURRENCY", direction="bidirectional"),
        _mapping("PRICE", "prices", "pricelevels", "ITEM"),
    ]
)


class FakeSystem:
    """A RecordSource over lists of rows; ``fail_after`` cuts the next scan of an entity short."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.rows = {entity: [self._record(r) for r in items] for entity, items in rows.items()}
        self.fail_after: dict[str, int] = {}
        self.queries: list[ModifiedQuery] = []

    @staticmethod
    def _record(fields: dict[str, Any]) -> Record:
        return Record(str(uuid.uuid4()), T0, None, fields)

    def iter_modified(self, query: ModifiedQuery) -> Iterator[Record]:
        self.queries.append(query)
        for i, record in enumerate(self.rows.get(query.entity, [])):
            if self.fail_after.get(query.entity) == i:
                del self.fail_after[query.entity]
                raise TransientError("connection reset while reading a page")
            yield record

    def get(self, entity: str, record_id: str, select: Sequence[str] = ()) -> Record | None:
        return next((r for r in self.rows.get(entity, []) if r.id == record_id), None)

    def whoami(self) -> str:
        return "00000000-0000-0000-0000-0000000000aa"

    def list_rows(self, entity: str, filter: str | None = None, select: Sequence[str] = ()) -> Iterator:
        return iter([])


class Harness:
    def __init__(self, bc: dict[str, list], dv: dict[str, list]) -> None:
        self.now = T0
        self.bc, self.dv = FakeSystem(bc), FakeSystem(dv)
        self.records = MemoryMessageQueue("sync-records")
        self.control = MemoryMessageQueue("sync-control")
        self.reviews = MemoryFullSyncReviewStore()
        self.ctx = SyncContext(
            CATALOG, self.bc, self.dv, memory_stores(), self.records, clock=lambda: self.now
        )  # type: ignore[arg-type]

    def start(self, mappings: list[str] | None = None, **kw: Any):  # type: ignore[no-untyped-def]
        return start_full_sync(self.ctx, self.reviews, self.control, mappings, **kw)

    def control_step(self) -> list[str]:
        """Deliver every control message sent so far (checks are not delayed here)."""
        bodies = self.control.take_all()
        return [process_control_message(self.ctx, self.reviews, self.control, b) for b in bodies]

    def process_records(self, limit: int | None = None) -> list[RecordMessage]:
        """The record processor's stand-in: each message -> an 'inserted' outcome in its job."""
        bodies = self.records.take_all()
        done, rest = bodies[:limit], bodies[limit:] if limit is not None else []
        self.records.messages.extend(rest)
        messages = [RecordMessage.from_json(b) for b in done]
        for m in messages:
            self.ctx.stores.job_log.record_outcome(m.job_id, m.source_id, "inserted")
        return messages

    def line(self, mapping: str):  # type: ignore[no-untyped-def]
        report = full_sync_status(self.reviews)
        assert report is not None
        return next(li for li in report.lines if li.mapping == mapping)

    def run_to_end(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            if not self.control.messages and not self.records.messages:
                return
            self.process_records()
            self.control_step()
        raise AssertionError("the full synchronization did not finish")


def _rows(n: int, key: str = "displayName") -> list[dict[str, Any]]:
    return [{key: f"row {i}"} for i in range(n)]


@pytest.fixture
def h() -> Harness:
    return Harness(
        bc={"currencies": _rows(3), "items": _rows(5), "customers": _rows(2)},
        dv={"transactioncurrencies": [{"exchangerate": 1.0}], "accounts": _rows(4, "name")},
    )


def test_start_builds_the_review_and_starts_the_first_wave_only(h: Harness) -> None:
    report = h.start()
    by_name = {li.mapping: li for li in report.lines}
    assert [li.mapping for li in report.lines] == ["CURRENCY", "CUSTOMER", "ITEM", "PRICE"]
    assert (by_name["CURRENCY"].recommendation, by_name["CURRENCY"].status) == (
        "Full Synchronization",
        "Ready",
    )
    assert (by_name["ITEM"].recommendation, by_name["ITEM"].status) == ("Full Synchronization", "Waiting")
    assert waiting_on(by_name["ITEM"], report.lines) == ["CURRENCY"]
    assert by_name["CUSTOMER"].recommendation == "Couple Records"  # both sides have rows
    assert [json.loads(b)["mapping"] for b in h.control.messages] == ["CURRENCY"]
    assert all(q.page_size == 2 for q in h.bc.queries + h.dv.queries)  # samples, never whole tables
    assert report.state == "In Process"
    with pytest.raises(ConflictError, match="in process"):
        h.start()


def test_lines_advance_in_waves_with_counts_and_watermarks(h: Harness) -> None:
    h.start(["CURRENCY", "ITEM"])
    assert h.control_step() == ["scanned"]
    currency = h.line("CURRENCY")
    assert currency.status == "In Process" and list(currency.jobs) == ["to-dataverse"]
    sent = [RecordMessage.from_json(b) for b in h.records.messages]
    assert len(sent) == 3 and {m.reason for m in sent} == {"full-sync"}
    assert {m.job_id for m in sent} == {currency.jobs["to-dataverse"]}
    assert h.control.visibility_timeouts == [full_sync_lines.CHECK_DELAY_S]
    h.process_records(limit=2)
    h.now += timedelta(seconds=5)
    assert h.control_step() == ["in process"]
    assert h.line("CURRENCY").counts["inserted"] == 2 and h.line("ITEM").status == "Waiting"
    h.process_records()
    assert h.control_step() == ["finished"]
    assert h.line("CURRENCY").status == "Finished" and h.line("CURRENCY").counts["inserted"] == 3
    assert h.line("ITEM").status == "Ready"
    assert h.ctx.stores.watermarks.get("CURRENCY", "to-dataverse").value == T0  # the scan's start
    h.run_to_end()
    assert h.line("ITEM").status == "Finished" and h.line("ITEM").counts["inserted"] == 5
    assert full_sync_status(h.reviews).state == "Finished"  # type: ignore[union-attr]


def test_bidirectional_line_runs_bc_to_dataverse_first_then_back(h: Harness) -> None:
    h.start(["CUSTOMER"], recommend_full_sync=["CUSTOMER"])
    line = h.line("CUSTOMER")
    assert line.recommendation == "Full Synchronization" and "recommended" in line.message
    h.control_step()
    assert list(h.line("CUSTOMER").jobs) == ["to-dataverse"]
    assert {RecordMessage.from_json(b).direction for b in h.records.messages} == {"to-dataverse"}
    h.process_records()
    h.control_step()  # BC -> Dataverse done: now the Dataverse rows
    assert list(h.line("CUSTOMER").jobs) == ["to-dataverse", "to-bc"]
    assert len(h.records.messages) == 4
    h.run_to_end()
    assert h.line("CUSTOMER").counts["inserted"] == 6


def test_a_scan_cut_short_is_run_again_under_the_same_job(h: Harness) -> None:
    h.bc.rows["items"] = [FakeSystem._record({"displayName": f"item {i}"}) for i in range(450)]
    h.start(["ITEM"])
    h.bc.fail_after["items"] = 420
    with pytest.raises(TransientError):
        h.control_step()  # the worker dies while reading the table; the message comes back
    job = h.line("ITEM").jobs["to-dataverse"]
    assert len(h.reviews.staged(job, 0, 10)) == 2 and h.records.messages == []  # staged, not sent
    h.control.send(json.dumps({"kind": "full-sync-line", "run_id": h.line("ITEM").run_id, "mapping": "ITEM"}))
    assert h.control_step() == ["rescanned"]
    assert h.line("ITEM").jobs["to-dataverse"] == job
    assert len(h.records.messages) == 450 and h.line("ITEM").fed == 450
    h.run_to_end()
    line = h.line("ITEM")
    assert line.status == "Finished" and line.counts["inserted"] == 450
    assert h.reviews.staged(job, 0, 10) == []  # the staged ids are dropped when the line is done


def test_records_are_fed_a_window_at_a_time(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(full_sync_lines, "FEED_WINDOW", 400)
    h.bc.rows["items"] = [FakeSystem._record({"displayName": f"item {i}"}) for i in range(1000)]
    h.start(["ITEM"])
    h.control_step()
    assert len(h.records.messages) == 400 and h.line("ITEM").fed == 400
    h.process_records(limit=250)
    h.control_step()  # 150 outstanding: room for 250, sent as whole chunks of 200
    assert len(h.records.messages) == 150 + 400 and h.line("ITEM").fed == 800
    h.control_step()  # nothing processed meanwhile: nothing more is sent
    assert len(h.records.messages) == 550
    h.run_to_end()
    line = h.line("ITEM")
    assert (line.status, line.counts["inserted"], line.fed) == ("Finished", 1000, 1000)


def test_restart_after_lost_messages_gives_a_fresh_attempt(h: Harness) -> None:
    h.start(["ITEM"])
    h.control_step()
    h.process_records(limit=2)
    h.records.take_all()  # lost: the record messages ...
    stale_check = h.control.take_all()  # ... and the check of the crashed attempt
    report = restart_full_sync(h.ctx, h.reviews, h.control)
    assert "restarted ITEM" in report.note
    line = h.line("ITEM")
    assert (line.attempt, line.status, line.jobs) == (2, "Ready", {})
    assert [process_control_message(h.ctx, h.reviews, h.control, b) for b in stale_check] == ["stale"]
    h.run_to_end()
    line = h.line("ITEM")
    assert line.status == "Finished" and line.counts["inserted"] == 5 and line.attempt == 2
    assert "nothing to restart" in restart_full_sync(h.ctx, h.reviews, h.control).note


def test_a_line_without_progress_goes_to_error_and_a_new_start_is_allowed(h: Harness) -> None:
    h.start(["ITEM"])
    h.control_step()
    h.records.take_all()  # every record message lost (e.g. poisoned)
    assert h.control_step() == ["in process"]
    h.now += full_sync_lines.STALL_AFTER
    assert h.control_step() == ["stalled"]
    line = h.line("ITEM")
    assert line.status == "Error" and "stalled: 0 of 5" in line.message
    assert full_sync_status(h.reviews).state == "Error"  # type: ignore[union-attr]
    assert h.start(["ITEM"]).state == "In Process"


def test_couple_records_line_without_match_fields_reports_an_error(h: Harness) -> None:
    h.start(["CUSTOMER"])
    assert h.line("CUSTOMER").recommendation == "Couple Records"
    assert h.control_step() == ["error"]
    line = h.line("CUSTOMER")
    assert line.status == "Error" and "no match fields" in line.message


def test_no_records_found_lines_are_done_and_do_not_block(h: Harness) -> None:
    h.bc.rows["items"] = []
    h.bc.rows["prices"] = [FakeSystem._record({"displayName": "p"})]
    report = h.start(["ITEM", "PRICE"])
    by_name = {li.mapping: li for li in report.lines}
    item, price = by_name["ITEM"], by_name["PRICE"]
    assert (item.recommendation, item.status) == ("No Records Found", "Finished")
    assert item.message == "No records to synchronize now" and item.jobs == {}
    assert price.status == "Ready"  # its dependency found nothing to do
    assert [json.loads(b)["mapping"] for b in h.control.messages] == ["PRICE"]
    h.run_to_end()
    assert full_sync_status(h.reviews).state == "Finished"  # type: ignore[union-attr]


def test_malformed_and_stale_control_messages(h: Harness) -> None:
    from sync_core.errors import DataError

    with pytest.raises(DataError):
        process_control_message(h.ctx, h.reviews, h.control, b"{}")
    body = json.dumps({"kind": "full-sync-check", "run_id": "nope", "mapping": "ITEM"})
    assert process_control_message(h.ctx, h.reviews, h.control, body) == "unknown"


def test_checks_and_window_grow_with_big_jobs(h: Harness) -> None:
    fs = full_sync_lines.FullSync(h.ctx, h.reviews, h.control)
    assert (fs.check_delay(0), fs.window(0)) == (full_sync_lines.CHECK_DELAY_S, full_sync_lines.FEED_WINDOW)
    # a check reads the job's outcomes page by page: big jobs are looked at less often, and the
    # window grows with the delay so the queue does not run dry between two checks
    assert fs.check_delay(1_000_000) == 50 and fs.window(1_000_000) == 16 * full_sync_lines.FEED_WINDOW
    assert fs.check_delay(10**9) == full_sync_lines.CHECK_DELAY_MAX_S


def test_a_mappings_timer_is_held_while_its_line_is_in_process(h: Harness) -> None:
    from sync_core.app.full_sync import FullSyncDeps, full_sync_running

    deps = FullSyncDeps(h.ctx, h.reviews, h.control)
    assert not full_sync_running("CURRENCY", deps)  # no full synchronization yet
    h.start(["CURRENCY", "ITEM"])
    h.control_step()  # CURRENCY starts; ITEM waits for it
    assert full_sync_running("CURRENCY", deps) and not full_sync_running("ITEM", deps)
    h.run_to_end()
    assert not full_sync_running("CURRENCY", deps) and not full_sync_running("ITEM", deps)
