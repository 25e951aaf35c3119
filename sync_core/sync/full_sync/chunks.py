"""Full synchronization in chunks (``SYNC_FULL_SYNC_CHUNKS``, on unless ``0``/``false``).

Staging: before the scan, the mapping's couplings are streamed once (``iter_sync_state``: one
query per 1,000 couplings, only the columns that decide) into a compact dict, source id ->
(last synchronized source modified-on in Unix ms, flags): ~215 bytes a coupling, 20.5 MiB for
100,000 (tracemalloc). Each scanned record is staged with its modified-on and a decision made by
BC's rule (``unchanged_since_sync``, the record engine's own): ``unchanged`` (coupled, not
failed, not modified since its last synchronization), ``skipped`` (coupled and Skipped) or
``process``. Decisions are as of the scan; a change after the scan is the incremental job's (the
full synchronization moves the watermark to when its scan started, as today).

Processing: one record-queue message per staged chunk (``ChunkMessage``). Its use-case reads the
chunk (one point read), records the outcome of every unchanged and skipped record in
entity-group transactions (100 per request) and hands every other record to the per-record
engine inline (``RecordSynchronizer``, reason ``full-sync``), a few at a time, so inserts and
updates keep every guarantee: the coupling claim, ETags, errors per record. The context is one per
chunk, so the mapping settings are read once per chunk. A record that meets a transient error
(a fresh claim of another worker, a number BC gave out twice, throttling) goes back to the queue
as its own record message. A redelivered chunk (or one cut short by a crash) is simply done
again: outcomes keep the strongest per record, and the per-record path finds the claims and
couplings the first pass made, so there is never a second counterpart.
No shortcut where the engine would do more than decide: option mappings, mappings whose
records re-synchronize dependents, and mappings the engine refuses for this direction.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sync_core.errors import TransientError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.full_sync_review import FullSyncReviewStore, StagedDecision, StagedRecord
from sync_core.state.ports import Coupling, DirectionStatus, OutcomeEntry
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.record import RecordSynchronizer, refusal, unchanged_since_sync
from sync_core.sync.engine.resync import dependents
from sync_core.sync.messages import ChunkMessage, RecordMessage
from sync_core.telemetry import JobRunSummary, count_synchronized, error_code, log_job_run
from sync_core.vocabulary import TO_DATAVERSE, Direction

log = logging.getLogger(__name__)

CHUNK_THREADS = 4  # records of one chunk processed at once (the host runs 16 messages at once)
SKIPPED_MESSAGE = "the coupled record is marked Skipped"  # the record engine's words
FAILED, SKIPPED, CLAIMED = 1, 2, 4
CouplingFacts = dict[str, tuple[int | None, int]]  # source id -> (last source modified-on ms, flags)


def to_ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


def from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


def shortcut_allowed(ctx: SyncContext, mapping: IntegrationTableMapping, direction: Direction) -> bool:
    """Whether the engine, for an unchanged or Skipped record, would only decide (no side effect)."""
    if mapping.kind == "option" or refusal(ctx, mapping, direction) is not None:
        return False
    return direction != TO_DATAVERSE or not dependents(ctx, mapping.name)


def coupling_facts(ctx: SyncContext, mapping: str, direction: Direction) -> CouplingFacts:
    """Every coupling of ``mapping`` by the id of the record ``direction`` reads (one stream)."""
    facts: CouplingFacts = {}
    for c in ctx.stores.couplings.iter_sync_state(mapping):
        flags = (
            (FAILED if c.status(direction).result == "failure" else 0)
            | (SKIPPED if c.skipped else 0)
            | (CLAIMED if c.state == "claimed" else 0)
        )
        facts[c.source_id(direction)] = (to_ms(c.last_source_modified_on(direction)), flags)
    return facts


def decide(
    fact: tuple[int | None, int] | None, direction: Direction, modified_on: datetime
) -> StagedDecision:
    """What the record engine would decide for a full-sync message, from the coupling's facts."""
    if fact is None:
        return "process"
    last, flags = fact
    if flags & SKIPPED:
        return "skipped"
    if flags & CLAIMED:
        return "process"
    coupling = Coupling("", "", "", bc_modified_on=from_ms(last), crm_modified_on=from_ms(last))
    coupling = coupling.with_status(direction, DirectionStatus("failure" if flags & FAILED else None))
    return "unchanged" if unchanged_since_sync(coupling, direction, "full-sync", modified_on) else "process"


def process_chunk(ctx: SyncContext, reviews: FullSyncReviewStore, msg: ChunkMessage) -> dict[str, int]:
    """One chunk message: returns the outcome counts. A record that meets a transient error is
    sent again as its own record message (the per-record path: its own redelivery and poison
    message); anything else that goes wrong re-raises, and the queue brings the chunk back."""
    started = time.monotonic()
    records = reviews.staged_chunk(msg.job_id, msg.chunk)
    if records is None:  # the line finished or was restarted: its stage is gone
        log.info("full-sync job %s chunk %d: no staged records; message dropped", msg.job_id, msg.chunk)
        return {}
    mapping = ctx.mapping(msg.mapping)
    shortcut = shortcut_allowed(ctx, mapping, msg.direction)
    settled = [_settled(r) for r in records if shortcut and r.decision != "process"]
    ctx.stores.job_log.record_outcomes(msg.job_id, settled)
    counts: dict[str, int] = {}
    for entry in settled:
        counts[entry.outcome] = counts.get(entry.outcome, 0) + 1
    for outcome, n in counts.items():
        count_synchronized(mapping.name, msg.direction, outcome, n)
    rest = [r.id for r in records if not shortcut or r.decision == "process"]
    retry = _process_each(ctx, msg, rest, counts)
    if retry:  # each on its own: its own redelivery, its own poison message and error
        ctx.record_queue.send_many(m.to_json() for m in retry)
    detail = f"chunk {msg.chunk}: {len(records)} record(s)" + (f", {len(retry)} sent again" if retry else "")
    summary = JobRunSummary(
        "full-sync chunk", msg.job_id, mapping.name, msg.direction, "full sync", counts,
        time.monotonic() - started, detail,
    )  # fmt: skip
    log_job_run(log, summary, logging.WARNING if retry else logging.INFO)
    return counts


def _settled(record: StagedRecord) -> OutcomeEntry:
    if record.decision == "skipped":
        return OutcomeEntry(record.id, "skipped", SKIPPED_MESSAGE)
    return OutcomeEntry(record.id, "unchanged")


def _process_each(
    ctx: SyncContext, msg: ChunkMessage, ids: Iterable[str], counts: dict[str, int]
) -> list[RecordMessage]:
    """The per-record engine on each id (its outcome, claim and errors its own); returns the
    messages of the records that met a transient error (to be retried on their own)."""

    def one(message: RecordMessage) -> str | TransientError:
        try:
            return RecordSynchronizer(ctx).process(message).outcome
        except TransientError as exc:
            log.info(
                "%s %s %s: transient %s; sent again on its own (job %s)",
                msg.mapping, msg.direction, message.source_id, error_code(exc), msg.job_id,
            )  # fmt: skip
            return exc

    messages = [RecordMessage(msg.mapping, msg.direction, i, msg.job_id, "full-sync") for i in ids]
    if not messages:
        return []
    with ThreadPoolExecutor(CHUNK_THREADS, thread_name_prefix="full-sync-chunk") as pool:
        # each record in a copy of this context: its log lines keep the chunk's correlation id
        futures = [pool.submit(contextvars.copy_context().run, one, m) for m in messages]
        results = [f.result() for f in futures]
    for result in results:
        if isinstance(result, str):
            counts[result] = counts.get(result, 0) + 1
    return [m for m, r in zip(messages, results, strict=True) if isinstance(r, TransientError)]
