"""Mapping job: find what changed since the watermark -> enqueue one message per record -> move on.

BC's rules (§4.1): the watermark becomes the maximum modified-on of every record scanned (ignored,
skipped and failed ones included), capped at the job's start time, forward only, and only after
the messages are durably enqueued; nothing scanned -> nothing moves. Failed (not Skipped) coupled
records are enqueued again even if unchanged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

from sync_core.errors import ConflictError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.ports import JobRun, Watermark
from sync_core.sync.context import SyncContext, source_coupling
from sync_core.sync.engine.child_lines import refuse_alone
from sync_core.sync.jobs.run_lines import log_run
from sync_core.sync.messages import RecordMessage
from sync_core.systems.ports import ModifiedQuery
from sync_core.telemetry import correlated
from sync_core.vocabulary import Direction, Record

log = logging.getLogger(__name__)

SEND_CHUNK = 100


def run_mapping_job(ctx: SyncContext, mapping_name: str, *, trigger: str = "timer") -> list[JobRun]:
    """Run one integration table mapping's job in each of its directions."""
    mapping = ctx.mapping(mapping_name)
    refuse_alone(ctx.catalog, mapping)
    return [_run_direction(ctx, mapping, direction, trigger) for direction in mapping.directions()]


def query_for(
    ctx: SyncContext, mapping: IntegrationTableMapping, direction: Direction, since: datetime | None
) -> ModifiedQuery:
    if direction == "to-dataverse":
        return ModifiedQuery(mapping.bc_entity, since, mapping.table_filter or None)
    echo = ctx.dataverse.whoami() if _suppress_echo(mapping) else None
    return ModifiedQuery(
        mapping.crm_entity,
        since,
        mapping.integration_table_filter or None,
        exclude_modified_by=echo,
    )


def _suppress_echo(mapping: IntegrationTableMapping) -> bool:
    """BC §4.2: skip rows last modified by the integration user on bidirectional mappings, unless
    an enabled Dataverse -> BC-only field mapping exists (then our own writes must be read back)."""
    if mapping.direction != "bidirectional":
        return False
    return not any(f.enabled and f.direction == "to-bc" for f in mapping.fields)


def _run_direction(
    ctx: SyncContext, mapping: IntegrationTableMapping, direction: Direction, trigger: str
) -> JobRun:
    """One direction's run; its messages carry the job id as correlation id (unless the job runs
    for a change that has one already: a BC catch-up message, an operator command)."""
    started = ctx.clock()
    watermark = ctx.stores.watermarks.get(mapping.name, direction)
    run = JobRun(f"{started:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:12]}", mapping.name, direction, started)
    with correlated(run.job_id, received_at=started, keep_current=True):
        ctx.stores.job_log.save_run(run)
        scan = _Scan(ctx, mapping, direction, run.job_id)
        sent = scan.enqueue(query_for(ctx, mapping, direction, watermark.value))
        sent += scan.enqueue_failed()
        if scan.max_modified is not None:
            _advance(ctx, watermark, min(scan.max_modified, started))
        run = replace(
            run,
            finished_enqueue_at=ctx.clock(),
            read=scan.read,
            enqueued=sent,
            message=f"{trigger}: read {scan.read}, enqueued {sent}, skipped {scan.skipped}",
        )
        ctx.stores.job_log.save_run(run)
        moved_to = min(scan.max_modified, started) if scan.max_modified else watermark.value
        counts = {"read": scan.read, "enqueued": sent, "retries": scan.retries, "skipped": scan.skipped}
        log_run(log, run, job="mapping job", trigger=trigger, counts=counts, detail=f"watermark {moved_to}")
    return run


def id_query(
    ctx: SyncContext, mapping: IntegrationTableMapping, direction: Direction, since: datetime | None
) -> ModifiedQuery:
    """The job's query for ``direction`` from ``since``, reading only the source ids."""
    return replace(query_for(ctx, mapping, direction, since), select=(mapping.source_key(direction),))


def full_scan_query(
    ctx: SyncContext, mapping: IntegrationTableMapping, direction: Direction
) -> ModifiedQuery:
    """What a full synchronization reads: every source record, the table filters kept (BC's full-sync
    job runs a clone of the mapping with both watermarks cleared), only the ids."""
    return id_query(ctx, mapping, direction, None)


def advance_watermark(ctx: SyncContext, mapping: str, direction: Direction, value: datetime) -> None:
    """Move a mapping's watermark forward to ``value`` (a later stored value is kept)."""
    _advance(ctx, ctx.stores.watermarks.get(mapping, direction), value)


def _advance(ctx: SyncContext, watermark: Watermark, value: datetime) -> None:
    for _ in range(5):
        try:
            ctx.stores.watermarks.advance(watermark, value)
            return
        except ConflictError:  # another run moved it: re-read; advance is forward-only anyway
            watermark = ctx.stores.watermarks.get(watermark.mapping, watermark.direction)
    raise ConflictError(f"watermark {watermark.mapping} {watermark.direction} kept changing")


class _Scan:
    """Streams the modified records page by page and enqueues in chunks (memory stays flat)."""

    def __init__(
        self, ctx: SyncContext, mapping: IntegrationTableMapping, direction: Direction, job_id: str
    ) -> None:
        self.ctx, self.mapping, self.direction, self.job_id = ctx, mapping, direction, job_id
        self.read = self.skipped = self.retries = 0
        self.max_modified: datetime | None = None
        self._seen: set[str] = set()

    def _wanted(self, record: Record) -> bool:
        """BC drops uncoupled records of synch-only-coupled mappings before the engine sees them."""
        only_coupled = self.mapping.synch_only_coupled and not self.mapping.create_new_if_no_match
        coupling = source_coupling(
            self.ctx, self.mapping.name, self.direction, record.id
        )  # also needed to leave Skipped records out
        if coupling is not None and coupling.skipped:
            self.skipped += 1
            self.ctx.stores.job_log.record_outcome(self.job_id, record.id, "skipped", "Skipped")
            return False
        return coupling is not None or not only_coupled

    def _messages(self, records: Iterator[Record], reason: str) -> Iterator[str]:
        for record in records:
            self.read += 1
            if self.max_modified is None or record.modified_on > self.max_modified:
                self.max_modified = record.modified_on
            if record.id in self._seen or not self._wanted(record):
                continue
            self._seen.add(record.id)
            yield RecordMessage(self.mapping.name, self.direction, record.id, self.job_id, reason).to_json()

    def enqueue(self, query: ModifiedQuery) -> int:
        return self._send(self._messages(self.ctx.source(self.direction).iter_modified(query), "modified"))

    def enqueue_failed(self) -> int:
        """Coupled records whose last result in this direction was Failure and that are not Skipped."""
        bodies = []
        for coupling in self.ctx.stores.couplings.iter_failed(self.mapping.name, self.direction):
            source_id = coupling.source_id(self.direction)
            if source_id not in self._seen:
                self._seen.add(source_id)
                bodies.append(
                    RecordMessage(
                        self.mapping.name, self.direction, source_id, self.job_id, "retry"
                    ).to_json()
                )
        self.retries = len(bodies)
        return self._send(iter(bodies))

    def _send(self, bodies: Iterator[str]) -> int:
        sent, chunk = 0, []
        for body in bodies:
            chunk.append(body)
            if len(chunk) >= SEND_CHUNK:
                sent += self.ctx.record_queue.send_many(chunk)
                chunk = []
        if chunk:
            sent += self.ctx.record_queue.send_many(chunk)
        return sent
