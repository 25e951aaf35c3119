"""A mapping's timer as BC's job queue entry: inactivity back-off (BC §2.3).

BC puts a mapping's recurring job "On Hold with Inactivity Timeout" after a run in which nothing
happened, and runs it again when the inactivity timeout has passed, or earlier when something
changed (a BC table event, or its "needs to run" check of the Dataverse rows modified since the
watermark). Here the state comes from the job log alone: the mapping is on hold while its latest
timer run read and enqueued nothing and started less than ``inactivity_timeout_minutes`` ago.
While on hold, a tick only asks whether there is anything to do: one source row modified since
the watermark (a page of one, ids only) or a failed record to retry, per direction. If there is,
the job runs; if not, the tick writes nothing (no job log row, no watermark read-modify-write).
BC has table events to wake the job for BC-side changes; we have none, so the check looks at
both sides. Operator runs (``run``), full synchronization and webhooks never wait for a hold.
While the mapping's full synchronization line is In Process, ticks do nothing (BC holds the job
queue entry during a full synchronization and restores it afterwards).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.ports import JobRun
from sync_core.sync.context import SyncContext
from sync_core.sync.jobs.mapping_job import id_query, run_mapping_job
from sync_core.vocabulary import Direction

log = logging.getLogger(__name__)

READY, ON_HOLD = "Ready", "On Hold with Inactivity Timeout"
TIMER_TRIGGER = "timer"


@dataclass(frozen=True)
class JobQueueStatus:
    status: str
    wake_at: datetime | None = None  # when an on-hold entry runs again regardless


def job_queue_status(ctx: SyncContext, mapping: IntegrationTableMapping) -> JobQueueStatus:
    """On hold while the latest run (one row per direction) was an idle timer run, for the
    mapping's inactivity timeout after it started."""
    latest = ctx.stores.job_log.list_runs(mapping.name, limit=len(mapping.directions()))
    if not latest or not all(_idle_timer_run(r) for r in latest):
        return JobQueueStatus(READY)
    wake_at = max(r.started_at for r in latest) + timedelta(minutes=mapping.inactivity_timeout_minutes)
    return JobQueueStatus(ON_HOLD, wake_at) if ctx.clock() < wake_at else JobQueueStatus(READY)


def _idle_timer_run(run: JobRun) -> bool:
    finished = run.finished_enqueue_at is not None
    return finished and run.enqueued == 0 and run.message.startswith(f"{TIMER_TRIGGER}:")


def needs_to_run(ctx: SyncContext, mapping: IntegrationTableMapping) -> Direction | None:
    """The first direction with a source row modified since its watermark or a failed record."""
    for direction in mapping.directions():
        watermark = ctx.stores.watermarks.get(mapping.name, direction)
        query = replace(id_query(ctx, mapping, direction, watermark.value), page_size=1)
        if next(iter(ctx.source(direction).iter_modified(query)), None) is not None:
            return direction
        if next(iter(ctx.stores.couplings.iter_failed(mapping.name, direction)), None) is not None:
            return direction
    return None


def run_scheduled(
    ctx: SyncContext, mapping_name: str, *, full_sync_running: Callable[[str], bool] | None = None
) -> list[JobRun]:
    """A timer tick: the mapping's job, unless it is on hold and there is nothing to do, or its
    full synchronization is running (BC puts the job queue entry On Hold meanwhile)."""
    mapping = ctx.mapping(mapping_name)
    if full_sync_running is not None and full_sync_running(mapping.name):
        log.info("%s: on hold while its full synchronization runs", mapping.name)
        return []
    status = job_queue_status(ctx, mapping)
    if status.status == ON_HOLD:
        woken_by = needs_to_run(ctx, mapping)
        if woken_by is None:
            log.info("%s: %s until %s; nothing changed", mapping.name, ON_HOLD, status.wake_at)
            return []
        log.info("%s: woken from %s by a %s change", mapping.name, ON_HOLD, woken_by)
    return run_mapping_job(ctx, mapping_name, trigger=TIMER_TRIGGER)
