"""The one log line of a job run, mirroring its job-log row (``telemetry.log_job_run``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sync_core.state.ports import JobRun
from sync_core.telemetry import JobRunSummary, log_job_run


def log_run(
    logger: logging.Logger,
    run: JobRun,
    *,
    job: str,
    trigger: str,
    counts: Mapping[str, int] | None = None,
    detail: str = "",
) -> None:
    """``counts`` default to the row's read / enqueued; the duration runs to the end of the enqueue."""
    took = (run.finished_enqueue_at - run.started_at).total_seconds() if run.finished_enqueue_at else None
    counted = counts if counts is not None else {"read": run.read, "enqueued": run.enqueued}
    summary = JobRunSummary(job, run.job_id, run.mapping, run.direction, trigger, counted, took, detail)
    log_job_run(logger, summary)
