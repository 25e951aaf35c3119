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
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.full_sync_review import FullSyncReviewStore, ReviewLine
from sync_core.state.ports import JobRun, MessageQueue
from sync_core.sync.context import SyncContext
from sync_core.sync.jobs.mapping_job import full_scan_query
from sync_core.sync.jobs.run_lines import log_run
from sync_core.sync.messages import RecordMessage
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
) -> JobRun:
    """Scan the source of ``direction`` and stage every record id under the line's job."""
    job_id = line.jobs[direction]
    run = JobRun(
        job_id, mapping.name, direction, started, kind="full-sync", message=f"full-sync run {line.run_id}"
    )
    ctx.stores.job_log.save_run(run)
    total, chunk_no, chunk = 0, 0, []
    for record in ctx.source(direction).iter_modified(full_scan_query(ctx, mapping, direction)):
        chunk.append(record.id)
        total += 1
        if len(chunk) == STAGE_CHUNK:
            reviews.stage(job_id, chunk_no, chunk)
            chunk_no, chunk = chunk_no + 1, []
    if chunk:
        reviews.stage(job_id, chunk_no, chunk)
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


def feed(
    ctx: SyncContext,
    reviews: FullSyncReviewStore,
    line: ReviewLine,
    run: JobRun,
    processed: int,
    window: int,
) -> ReviewLine:
    """Send the next staged chunks while fewer than ``window`` messages are outstanding."""
    room = window - max(line.fed - processed, 0)
    if line.fed >= run.enqueued or room <= 0:
        return line
    chunks = reviews.staged(run.job_id, line.fed // STAGE_CHUNK, math.ceil(room / STAGE_CHUNK))
    bodies = [
        RecordMessage(run.mapping, run.direction, record_id, run.job_id, "full-sync").to_json()
        for chunk in chunks
        for record_id in chunk
    ]
    if not bodies:
        return line
    send_all(ctx.record_queue, bodies)  # sent before the count is saved: a crash re-sends, never loses
    fed = line.fed + len(bodies)
    return reviews.save_line(replace(line, fed=fed, message=f"{fed} of {run.enqueued} record(s) sent"))


def send_all(queue: MessageQueue, bodies: list[str]) -> None:
    if len(bodies) <= STAGE_CHUNK:
        queue.send_many(bodies)
        return
    with ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="full-sync-feed") as pool:
        list(pool.map(queue.send, bodies))
