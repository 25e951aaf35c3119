"""Inactivity back-off of a mapping's timer (BC §2.3), with in-memory twins and fake systems."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sync_core.mapping.catalog import Catalog
from sync_core.mapping.model import FieldMapping, IntegrationTableMapping
from sync_core.state.memory import MemoryMessageQueue
from sync_core.state.ports import Coupling, DirectionStatus
from sync_core.state.stores import memory_stores
from sync_core.sync.context import SyncContext
from sync_core.sync.jobs.job_queue import ON_HOLD, READY, job_queue_status, run_scheduled
from sync_core.sync.jobs.mapping_job import run_mapping_job
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import Record

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
NAME = "CUSTOMER"
MAPPING = IntegrationTableMapping(
    NAME,
    "customers",
    "accounts",
    "accountid",
    "bidirectional",
    (FieldMapping("name", "displayName"),),
    synch_only_coupled=False,
    inactivity_timeout_minutes=720,
)


class FakeSystem:
    """Rows with a modified-on; a query returns those modified after ``since``, ``page_size`` at most."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Record]] = {}
        self.queries: list[ModifiedQuery] = []

    def touch(self, entity: str, when: datetime) -> None:
        self.rows.setdefault(entity, []).append(Record(str(uuid.uuid4()), when, None, {"name": "x"}))

    def iter_modified(self, query: ModifiedQuery) -> Iterator[Record]:
        self.queries.append(query)
        for record in self.rows.get(query.entity, []):
            if query.since is None or record.modified_on > query.since:
                yield record

    def get(self, entity: str, record_id: str, select: Sequence[str] = ()) -> Record | None:
        return next((r for r in self.rows.get(entity, []) if r.id == record_id), None)

    def whoami(self) -> str:
        return "00000000-0000-0000-0000-0000000000aa"


class Harness:
    def __init__(self) -> None:
        self.now = T0
        self.bc, self.dv = FakeSystem(), FakeSystem()
        self.queue = MemoryMessageQueue("sync-records")
        self.ctx = SyncContext(
            Catalog([MAPPING]), self.bc, self.dv, memory_stores(), self.queue, clock=lambda: self.now
        )  # type: ignore[arg-type]

    def tick(self, after: timedelta = timedelta(minutes=30)) -> list[Any]:
        self.now += after
        return run_scheduled(self.ctx, NAME)

    def runs(self) -> int:
        return len(self.ctx.stores.job_log.list_runs(NAME, limit=1000))


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_an_idle_run_puts_the_timer_on_hold_and_holds_write_nothing(h: Harness) -> None:
    h.bc.touch("customers", T0 - timedelta(hours=1))
    assert [r.enqueued for r in h.tick()] == [1, 0]  # activity: stays Ready
    assert job_queue_status(h.ctx, MAPPING).status == READY
    assert [r.enqueued for r in h.tick()] == [0, 0]  # nothing happened: on hold
    status = job_queue_status(h.ctx, MAPPING)
    assert status.status == ON_HOLD and status.wake_at == h.now + timedelta(minutes=720)
    runs, seen_bc, seen_dv = h.runs(), len(h.bc.queries), len(h.dv.queries)
    assert h.tick() == [] and h.tick() == []  # held ticks: no job log row, no job
    assert h.runs() == runs
    # each held tick asked each side for one id only
    held = h.bc.queries[seen_bc:] + h.dv.queries[seen_dv:]
    assert len(held) == 4 and all(q.page_size == 1 and len(q.select) == 1 for q in held)


@pytest.mark.parametrize("side", ["bc", "dv"])
def test_a_change_on_either_side_wakes_a_held_timer(h: Harness, side: str) -> None:
    h.tick()
    assert job_queue_status(h.ctx, MAPPING).status == ON_HOLD
    system, entity = (h.bc, "customers") if side == "bc" else (h.dv, "accounts")
    system.touch(entity, h.now + timedelta(minutes=1))
    runs = h.tick()
    assert sum(r.enqueued for r in runs) == 1
    assert job_queue_status(h.ctx, MAPPING).status == READY


def test_a_failed_record_wakes_a_held_timer_for_its_retry(h: Harness) -> None:
    h.tick()
    failed = DirectionStatus(result="failure", error="Currency Code JPY must be coupled", job_id="j")
    coupling = Coupling(NAME, "bc-1", "crm-1").with_status("to-dataverse", failed)
    h.ctx.stores.couplings.claim(coupling)
    assert sum(r.enqueued for r in h.tick()) == 1


def test_the_inactivity_timeout_runs_the_job_again(h: Harness) -> None:
    h.tick()
    before = h.runs()
    assert h.tick(timedelta(minutes=719)) == []
    assert len(h.tick(timedelta(minutes=1))) == 2  # 720 minutes after the idle run: a full run
    assert h.runs() == before + 2
    assert job_queue_status(h.ctx, MAPPING).status == ON_HOLD  # idle again: held again


def test_operator_runs_ignore_the_hold_and_end_it_when_they_find_work(h: Harness) -> None:
    h.tick()
    h.now += timedelta(minutes=1)
    assert len(run_mapping_job(h.ctx, NAME, trigger="command")) == 2  # ran although on hold
    assert job_queue_status(h.ctx, MAPPING).status == READY  # not a timer run: no hold after it


def test_ticks_do_nothing_while_the_mappings_full_synchronization_runs(h: Harness) -> None:
    h.bc.touch("customers", T0 - timedelta(hours=1))
    running = {NAME}
    assert run_scheduled(h.ctx, NAME, full_sync_running=lambda m: m in running) == []
    assert h.runs() == 0 and h.queue.messages == []
    running.clear()  # finished: the next tick runs the job
    assert sum(r.enqueued for r in run_scheduled(h.ctx, NAME, full_sync_running=lambda m: m in running)) == 1
