"""A full-sync job's records: staged once, fed to the record queue a window at a time.

The scan streams the source (every record, table filters kept, ids only) and writes the ids to the
review store in numbered chunks: one storage write per ``STAGE_CHUNK`` records, so even a very
large table is read within one invocation, and memory holds one chunk. The job-log run gets the
staged total as its ``enqueued`` count, so the job is finished when every staged record has an
outcome. Then each check sends the next chunks as record messages while fewer than the window are
outstanding (sent but not yet processed): the record queue never holds a whole table, so the
changes timers and webhooks enqueue meanwhile are not stuck behind it (and Azurite, whose queue
operations slow down with depth, stays fast). A re-sent chunk (after a crash) only duplicates
messages; the job log counts each record once.

With chunks on (``SYNC_FULL_SYNC_CHUNKS``, the default; ``chunks.py``) the scan also stages what
each record's coupling says (one stream of the mapping's couplings), and the feed sends one
message per staged chunk instead of one per record; the window still counts records.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.full_sync_review import FullSyncReviewStore, ReviewLine, StagedDecision, StagedRecord
from sync_core.state.ports import JobRun, MessageQueue
from sync_core.sync.context import SyncContext
from sync_core.sync.full_sync.chunks import coupling_facts, decide, shortcut_allowed, to_ms
from sync_core.sync.jobs.mapping_job import full_scan_query
from sync_core.sync.jobs.run_lines import log_run
from sync_core.sync.messages import ChunkMessage, RecordMessage
from sync_core.vocabulary import Direction

log = logging.getLogger(__name__)

STAGE_CHUNK = 200  # record ids per staged row
SEND_THREADS = 8  # a window is sent by this many threads (queue sends are one request each)


def stage_records(
    ctx: SyncContext,
    reviews: FullSyncReviewStore,
    line: ReviewLine,
    mapping: IntegrationTableMapping,
    direction: Direction,
    started: datetime,
    chunks: bool = False,
) -> JobRun:
    """Scan the source of ``direction`` and stage every record id under the line's job (with
    ``chunks``, also its modified-on and what its coupling says)."""
    job_id = line.jobs[direction]
    run = JobRun(
        job_id, mapping.name, direction, started, kind="full-sync", message=f"full-sync run {line.run_id}"
    )
    ctx.stores.job_log.save_run(run)
    total = _scan_and_stage(ctx, reviews, job_id, mapping, direction, chunks)
    run = replace(
        run,
        finished_enqueue_at=ctx.clock(),
        read=total,
        enqueued=total,
        message=f"full-sync run {line.run_id}: {total} record(s) staged",
    )
    ctx.stores.job_log.save_run(run)
    log_run(log, run, job="full-sync job", trigger="full sync", detail=f"full synchronization {line.run_id}")
    return run


def _scan_and_stage(
    ctx: SyncContext,
    reviews: FullSyncReviewStore,
    job_id: str,
    mapping: IntegrationTableMapping,
    direction: Direction,
    chunks: bool,
) -> int:
    """Stream the source into staged chunks of ``STAGE_CHUNK``; returns how many were staged."""
    decided = chunks and shortcut_allowed(ctx, mapping, direction)
    facts = coupling_facts(ctx, mapping.name, direction) if decided else {}
    total, chunk_no, chunk = 0, 0, []
    for record in ctx.source(direction).iter_modified(full_scan_query(ctx, mapping, direction)):
        decision: StagedDecision = "process"
        if decided:
            decision = decide(facts.get(record.id), direction, record.modified_on)
        chunk.append(StagedRecord(record.id, to_ms(record.modified_on), decision))
        total += 1
        if len(chunk) == STAGE_CHUNK:
            _stage(reviews, job_id, chunk_no, chunk, chunks)
            chunk_no, chunk = chunk_no + 1, []
    if chunk:
        _stage(reviews, job_id, chunk_no, chunk, chunks)
    return total


def _stage(
    reviews: FullSyncReviewStore, job_id: str, chunk_no: int, chunk: list[StagedRecord], chunks: bool
) -> None:
    if chunks:
        reviews.stage_records(job_id, chunk_no, chunk)
    else:
        reviews.stage(job_id, chunk_no, [r.id for r in chunk])


def feed(
    ctx: SyncContext,
    reviews: FullSyncReviewStore,
    line: ReviewLine,
    run: JobRun,
    processed: int,
    window: int,
    chunks: bool = False,
) -> ReviewLine:
    """Send the next staged chunks while fewer than ``window`` records are outstanding: one
    message per chunk with ``chunks``, else one per record."""
    room = window - max(line.fed - processed, 0)
    if line.fed >= run.enqueued or room <= 0:
        return line
    if chunks:
        return _feed_chunks(ctx, reviews, line, run, room)
    chunks_read = reviews.staged(run.job_id, line.fed // STAGE_CHUNK, math.ceil(room / STAGE_CHUNK))
    bodies = [
        RecordMessage(run.mapping, run.direction, record_id, run.job_id, "full-sync").to_json()
        for chunk in chunks_read
        for record_id in chunk
    ]
    if not bodies:
        return line
    send_all(ctx.record_queue, bodies)  # sent before the count is saved: a crash re-sends, never loses
    fed = line.fed + len(bodies)
    return reviews.save_line(replace(line, fed=fed, message=f"{fed} of {run.enqueued} record(s) sent"))


def _feed_chunks(
    ctx: SyncContext, reviews: FullSyncReviewStore, line: ReviewLine, run: JobRun, room: int
) -> ReviewLine:
    """Chunk messages for the next chunks (numbered from ``fed``; every chunk but the last holds
    ``STAGE_CHUNK`` records, so nothing is read to send them)."""
    first = line.fed // STAGE_CHUNK
    last = min(math.ceil(run.enqueued / STAGE_CHUNK), first + math.ceil(room / STAGE_CHUNK))
    bodies = [ChunkMessage(run.job_id, run.mapping, run.direction, n).to_json() for n in range(first, last)]
    if not bodies:
        return line
    send_all(ctx.record_queue, bodies)  # sent before the count is saved: a crash re-sends, never loses
    fed = min(last * STAGE_CHUNK, run.enqueued)
    message = f"{fed} of {run.enqueued} record(s) sent in {last} chunk(s)"
    return reviews.save_line(replace(line, fed=fed, message=message))


def send_all(queue: MessageQueue, bodies: list[str]) -> None:
    if len(bodies) <= STAGE_CHUNK:
        queue.send_many(bodies)
        return
    with ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="full-sync-feed") as pool:
        list(pool.map(queue.send, bodies))
