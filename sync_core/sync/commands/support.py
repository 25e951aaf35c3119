"""What the operator commands share: the mapping by name, direction checks, job-log runs, and
``MessageBatch`` for commands that enqueue record messages the way timers do.

A batch gives each direction gets its job-log run when its first message is added (so ``jobs`` shows the
command's progress as the queue function works through it); ``finish`` sends the rest and
stamps each run with how many messages it enqueued.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

from sync_core.errors import DataError, NotFoundError
from sync_core.mapping.catalog import CatalogError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.ports import JobRun
from sync_core.sync.context import SyncContext
from sync_core.sync.messages import RecordMessage
from sync_core.vocabulary import Direction

SEND_CHUNK = 100
PROGRESS_EVERY = 500

Progress = Callable[[str], None]


def mapping_of(ctx: SyncContext, name: str) -> IntegrationTableMapping:
    """The (effective) mapping; an unknown name is a NotFoundError listing the known ones."""
    try:
        return ctx.mapping(name)
    except CatalogError as exc:
        raise NotFoundError(exc.message) from None


def require_direction(mapping: IntegrationTableMapping, direction: Direction) -> None:
    if not mapping.allows(direction):
        raise DataError(
            f"The integration table mapping {mapping.name} is not configured for {direction} "
            f"synchronization (its direction is {mapping.direction})."
        )


def require_table_mapping(mapping: IntegrationTableMapping) -> None:
    """Record operations need rows on both sides; an option mapping couples codes to option values."""
    if mapping.kind != "table":
        raise DataError(
            f"{mapping.name} is an option mapping (BC codes coupled to Dataverse option values); "
            "its couplings are made by synchronizing it (run, full-sync), not record by record."
        )


def new_job_id(ctx: SyncContext) -> str:
    return f"{ctx.clock():%Y%m%d%H%M%S}-{uuid.uuid4().hex[:12]}"


def start_run(ctx: SyncContext, mapping: str, direction: Direction, message: str, kind: str) -> JobRun:
    run = JobRun(new_job_id(ctx), mapping, direction, ctx.clock(), message=message, kind=kind)
    ctx.stores.job_log.save_run(run)
    return run


def finish_run(ctx: SyncContext, run: JobRun, enqueued: int, message: str | None = None) -> JobRun:
    done = replace(run, finished_enqueue_at=ctx.clock(), enqueued=enqueued, read=max(run.read, enqueued))
    if message is not None:
        done = replace(done, message=message)
    ctx.stores.job_log.save_run(done)
    return done


class MessageBatch:
    def __init__(self, ctx: SyncContext, mapping: str, reason: str, what: str, kind: str = "synchronization"):
        self.ctx, self.mapping, self.reason, self.what, self.kind = ctx, mapping, reason, what, kind
        self.runs: dict[Direction, JobRun] = {}
        self.sent: dict[Direction, int] = {}
        self._pending: list[str] = []

    def add(self, direction: Direction, source_id: str) -> None:
        run = self.runs.get(direction)
        if run is None:
            run = self.runs[direction] = start_run(self.ctx, self.mapping, direction, self.what, self.kind)
            self.sent[direction] = 0
        self._pending.append(
            RecordMessage(self.mapping, direction, source_id, run.job_id, self.reason).to_json()
        )
        self.sent[direction] += 1
        if len(self._pending) >= SEND_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self.ctx.record_queue.send_many(self._pending)
            self._pending = []

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def job_ids(self) -> list[str]:
        return [run.job_id for run in self.runs.values()]

    def finish(self, message: str | None = None) -> list[JobRun]:
        self._flush()
        summary = message or self.what
        return [
            finish_run(self.ctx, run, self.sent[d], f"{summary}; enqueued {self.sent[d]}")
            for d, run in self.runs.items()
        ]
