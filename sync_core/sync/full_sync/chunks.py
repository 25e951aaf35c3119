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
entity-group transactions (100 per request), reads the sources of the rest together
(``read_sources``: ``READ_IDS`` ids per request) and writes them: the records not coupled at the
scan of a mapping that allows it are inserted together (``bulk_insert``: claims and couplings in
transactions, creates in Dataverse ``$batch``, each record its own outcome and error); every other
record goes to the per-record engine inline (``RecordSynchronizer``, reason ``full-sync``, a few
at a time, with its source as read and the chunk's lookup cache), so updates keep every
guarantee: the coupling claim, ETags, errors per record. The context is one per chunk, so the
mapping settings are read once per chunk. A record that meets a transient error (throttling, a
number BC gave out twice) goes back to the queue as its own record message; one whose claim is
held (a create in progress, or a worker that died) is sent to be visible once the claim is stale
(``RESUME_AFTER_S``). A redelivered chunk (or one cut short by a crash) is simply done again:
outcomes keep the strongest per record, and the claims and couplings the first pass made send
its records to the per-record path, so there is never a second counterpart.
No shortcut where the engine would do more than decide: option mappings, mappings whose
records re-synchronize dependents, and mappings the engine refuses for this direction.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sync_core.errors import TransientError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.full_sync_review import FullSyncReviewStore, StagedDecision, StagedRecord
from sync_core.state.ports import Coupling, DirectionStatus, OutcomeEntry
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.insert import CLAIM_STALE_AFTER, ClaimHeld
from sync_core.sync.engine.lookups import LookupResolver
from sync_core.sync.engine.record import Prefetched, RecordSynchronizer, refusal, unchanged_since_sync
from sync_core.sync.engine.resync import dependents
from sync_core.sync.engine.values import RecordValues
from sync_core.sync.full_sync.bulk_insert import BulkInserter, BulkResult, bulk_insert_allowed
from sync_core.sync.messages import ChunkMessage, RecordMessage
from sync_core.systems.ports import ModifiedQuery
from sync_core.telemetry import JobRunSummary, count_synchronized, error_code, log_job_run
from sync_core.vocabulary import TO_DATAVERSE, Direction, Record

log = logging.getLogger(__name__)

CHUNK_THREADS = 4  # records of one chunk processed at once (the host runs 16 messages at once)
READ_IDS = 25  # source ids per read request (~1,400 characters of filter)
RESUME_AFTER_S = int(CLAIM_STALE_AFTER.total_seconds()) + 10
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
        return "insert"
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
    settled = [_settled(r) for r in records if shortcut and r.decision in ("unchanged", "skipped")]
    ctx.stores.job_log.record_outcomes(msg.job_id, settled)
    counts: dict[str, int] = {}
    for entry in settled:
        counts[entry.outcome] = counts.get(entry.outcome, 0) + 1
    for outcome, n in counts.items():
        count_synchronized(mapping.name, msg.direction, outcome, n)
    rest = [r for r in records if not shortcut or r.decision in ("process", "insert")]
    retry, resume = _process_rest(ctx, msg, mapping, rest if shortcut else [], counts)
    if not shortcut:
        again, held = _process_each(ctx, msg, [r.id for r in rest], counts)
        retry, resume = retry + again, resume + held
    if retry:  # each on its own: its own redelivery, its own poison message and error
        ctx.record_queue.send_many(m.to_json() for m in retry)
    for m in resume:  # a claim kept: its record is taken up once the claim is stale
        ctx.record_queue.send(m.to_json(), visibility_timeout=RESUME_AFTER_S)
    retry += resume
    ctx.stores.job_log.record_chunk(msg.job_id, msg.chunk, counts, [m.source_id for m in retry])
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


def _process_rest(
    ctx: SyncContext,
    msg: ChunkMessage,
    mapping: IntegrationTableMapping,
    rest: list[StagedRecord],
    counts: dict[str, int],
) -> tuple[list[RecordMessage], list[RecordMessage]]:
    """The records to write: read together (``read_sources``), those uncoupled at the scan
    inserted together where the mapping allows it (``BulkInserter``), the others through the
    per-record engine with the record as read. Returns the messages to send again now and those
    to send once their kept claim is stale."""
    if not rest:
        return [], []
    lookups = LookupResolver(ctx)
    sources = read_sources(ctx, mapping, msg.direction, [r.id for r in rest])
    bulk = BulkResult()
    if bulk_insert_allowed(ctx, mapping, msg.direction):
        inserts = [sources[r.id] for r in rest if r.decision == "insert" and r.id in sources]
        bulk = BulkInserter(ctx, RecordValues(ctx, lookups=lookups), msg).insert(inserts)
        done = {s.id for s in inserts} - {s.id for s in bulk.to_engine}
        rest = [r for r in rest if r.id not in done]
    for outcome, n in bulk.counts.items():
        counts[outcome] = counts.get(outcome, 0) + n
    engine = [(r.id, Prefetched(sources.get(r.id))) for r in rest]
    retry, held = _process_each(ctx, msg, [i for i, _ in engine], counts, dict(engine), lookups)
    return retry + bulk.retry, held + bulk.resume


def read_sources(
    ctx: SyncContext, mapping: IntegrationTableMapping, direction: Direction, ids: list[str]
) -> dict[str, Record]:
    """The source records of ``ids``, ``READ_IDS`` per request (``key eq a or key eq b ...``); an
    id not found is missing from the answer (deleted since the scan). Not the table filter: the
    scan applied it, and the per-record engine's read (``get``) does not either."""
    if not all(_is_guid(i) for i in ids):
        return {}  # keys that are not GUIDs: each record is read on its own
    key, entity = mapping.source_key(direction), mapping.source_entity(direction)
    found: dict[str, Record] = {}
    for start in range(0, len(ids), READ_IDS):
        group = ids[start : start + READ_IDS]
        query = ModifiedQuery(
            entity, filter=" or ".join(f"{key} eq {i}" for i in group), page_size=len(group)
        )
        found.update((r.id, r) for r in ctx.source(direction).iter_modified(query))
    return found


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _process_each(
    ctx: SyncContext,
    msg: ChunkMessage,
    ids: Iterable[str],
    counts: dict[str, int],
    prefetched: dict[str, Prefetched] | None = None,
    lookups: LookupResolver | None = None,
) -> tuple[list[RecordMessage], list[RecordMessage]]:
    """The per-record engine on each id (its outcome, claim and errors its own); returns the
    messages of the records that met a transient error, to be sent again on their own: now, and
    once their claim is stale (a claim held by a create in progress, or by a worker that died)."""
    known = prefetched or {}

    def one(message: RecordMessage) -> str | TransientError:
        try:
            return RecordSynchronizer(ctx, lookups).process(message, known.get(message.source_id)).outcome
        except TransientError as exc:
            log.info(
                "%s %s %s: transient %s; sent again on its own (job %s)",
                msg.mapping, msg.direction, message.source_id, error_code(exc), msg.job_id,
            )  # fmt: skip
            return exc

    messages = [RecordMessage(msg.mapping, msg.direction, i, msg.job_id, "full-sync") for i in ids]
    if not messages:
        return [], []
    with ThreadPoolExecutor(CHUNK_THREADS, thread_name_prefix="full-sync-chunk") as pool:
        # each record in a copy of this context: its log lines keep the chunk's correlation id
        futures = [pool.submit(contextvars.copy_context().run, one, m) for m in messages]
        results = [f.result() for f in futures]
    for result in results:
        if isinstance(result, str):
            counts[result] = counts.get(result, 0) + 1
    resend = [(m, r) for m, r in zip(messages, results, strict=True) if isinstance(r, TransientError)]
    return [m for m, r in resend if not isinstance(r, ClaimHeld)], [
        m for m, r in resend if isinstance(r, ClaimHeld)
    ]
