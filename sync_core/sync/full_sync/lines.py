"""Full synchronization: how one review line moves, one control message at a time.

A line message (``full-sync-line``) starts a line; a check message (``full-sync-check``, sent with
a delay) looks at its jobs again. Both do the same thing, so any redelivery resumes where a crash
left off: for each direction (BC -> Dataverse first, then back, as BC's full-sync job does) stage
every record id under a job id kept on the line (a scan cut short is simply run again under the
same id), send them to the record queue a window at a time (``full_sync_feed``; the job log counts
each record once, so a re-sent message changes nothing), until the job log says the job is done. When
every direction is done the line is Finished, the mapping's watermarks move to the scan's start
(BC copies the full sync's watermarks back to the parent mapping) and the lines that were waiting
for it start. Messages carry the line's ``attempt``: after a restart, older ones are dropped.
A "Couple Records" line runs match-based coupling (creating what has no match, synchronizing
after coupling) and then follows the jobs it enqueued; option mappings couple by synchronizing,
so their lines run like full synchronizations. A line whose jobs make no progress for
``STALL_AFTER`` (records lost, or in the poison queue) goes to Error; ``full-sync restart``
takes it up again. No timer is involved: the queue alone moves a full synchronization forward.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sync_core.errors import ConfigError, ConflictError, DataError, PermanentError, TransientError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.settings import full_sync_chunks
from sync_core.state.common import empty_counts
from sync_core.state.full_sync_review import (
    FULL_SYNCHRONIZATION,
    FullSyncReviewStore,
    ReviewLine,
)
from sync_core.state.ports import JobSummary, MessageQueue
from sync_core.sync.commands.match_couple import match_couple
from sync_core.sync.context import SyncContext
from sync_core.sync.full_sync.feed import feed, stage_records
from sync_core.sync.full_sync.plan import dependencies_met, is_option, startable
from sync_core.sync.full_sync.progress import job_progress
from sync_core.sync.jobs.mapping_job import advance_watermark
from sync_core.telemetry import JobRunSummary, correlated, current_correlation_id, error_code, log_job_run
from sync_core.vocabulary import Direction

log = logging.getLogger(__name__)

LINE_MESSAGE, CHECK_MESSAGE = "full-sync-line", "full-sync-check"
CHECK_DELAY_S = 3  # how long a check message stays invisible (at least) ...
CHECK_DELAY_MAX_S = 60  # ... growing by a second per RECORDS_PER_CHECK_SECOND records processed
RECORDS_PER_CHECK_SECOND = 20_000  # (without chunks a check counts the job's outcomes: 20 pages)
FEED_WINDOW = 2000  # record messages outstanding per line at CHECK_DELAY_S; grows with the delay
STALL_AFTER = timedelta(minutes=15)  # no record processed for this long -> the line is in Error
MAX_REDECIDE = 5


@dataclass(frozen=True)
class ControlMessage:
    kind: str
    run_id: str
    mapping: str
    attempt: int = 1
    correlation_id: str = field(default_factory=current_correlation_id)  # "" in older messages

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @staticmethod
    def from_json(text: str | bytes) -> ControlMessage:
        try:
            data: Any = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"control message is not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("kind") not in (LINE_MESSAGE, CHECK_MESSAGE):
            raise DataError("control message must be an object with kind full-sync-line|full-sync-check")
        if not data.get("run_id") or not data.get("mapping"):
            raise DataError("control message lacks run_id or mapping")
        try:
            attempt = int(data.get("attempt", 1))
        except (TypeError, ValueError) as exc:
            raise DataError("control message attempt must be a number") from exc
        correlation_id = str(data.get("correlation_id") or "")
        return ControlMessage(
            str(data["kind"]), str(data["run_id"]), str(data["mapping"]), attempt, correlation_id
        )


@dataclass
class FullSync:
    """What the full-sync use-cases work with: the sync context, the review store, the queue."""

    ctx: SyncContext
    reviews: FullSyncReviewStore
    control: MessageQueue
    check_delay_s: int = field(default_factory=lambda: CHECK_DELAY_S)
    stall_after: timedelta = field(default_factory=lambda: STALL_AFTER)
    chunks: bool = field(default_factory=full_sync_chunks)  # SYNC_FULL_SYNC_CHUNKS

    def check_delay(self, processed: int) -> int:
        return max(self.check_delay_s, min(CHECK_DELAY_MAX_S, processed // RECORDS_PER_CHECK_SECOND))

    def window(self, processed: int) -> int:
        """Outstanding messages allowed: FEED_WINDOW per CHECK_DELAY_S between two checks."""
        return FEED_WINDOW * max(1, self.check_delay(processed) // max(self.check_delay_s, 1))

    def send(self, kind: str, line: ReviewLine, processed: int = 0) -> None:
        body = ControlMessage(kind, line.run_id, line.mapping, line.attempt).to_json()
        delay = self.check_delay(processed) if kind == CHECK_MESSAGE else None
        self.control.send(body, visibility_timeout=delay)


def new_job_id(now: datetime) -> str:
    return f"{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:12]}"


def process(fs: FullSync, message: ControlMessage) -> str:
    """Handle one control message; returns what happened (for logs and tests). The full
    synchronization's correlation id is the one it was started under (else its run id)."""
    with correlated(message.correlation_id or message.run_id):
        return _process(fs, message)


def _process(fs: FullSync, message: ControlMessage) -> str:
    for _ in range(MAX_REDECIDE):
        line = fs.reviews.get_line(message.run_id, message.mapping)
        if line is None:
            log.warning("full sync %s: no review line %s; message dropped", message.run_id, message.mapping)
            return "unknown"
        if line.attempt != message.attempt or line.status in ("Finished", "Error"):
            return "stale"
        if line.status == "Waiting" and not dependencies_met(line, fs.reviews.lines(line.run_id)):
            return "waiting"
        try:
            return _advance(fs, line)
        except ConflictError as exc:  # the line changed under us: re-read, re-decide
            log.info("full sync %s %s: %s; re-deciding", line.run_id, line.mapping, exc)
    raise TransientError(f"full sync {message.run_id} {message.mapping}: the line kept changing")


def synchronizes_records(line: ReviewLine, mapping: IntegrationTableMapping) -> bool:
    """Full synchronization lines, and option mappings (whose couplings come from synchronizing
    them: BC couples each option by its code when the option mapping runs)."""
    return line.recommendation == FULL_SYNCHRONIZATION or is_option(mapping)


def _advance(fs: FullSync, line: ReviewLine) -> str:
    mapping = fs.ctx.mapping(line.mapping)
    if synchronizes_records(line, mapping):
        return _advance_full(fs, line, mapping)
    if not line.jobs:
        return _couple(fs, line, mapping)
    found = (fs.ctx.stores.job_log.summary(job_id) for job_id in line.job_ids())
    summaries = [summary for summary in found if summary is not None]
    if not all(summary.finished for summary in summaries):
        return _progress(fs, line, summaries)
    return _finish(fs, line, mapping, summaries)


def _advance_full(fs: FullSync, line: ReviewLine, mapping: IntegrationTableMapping) -> str:
    summaries: list[JobSummary] = []
    for direction in mapping.directions():
        job_id = line.jobs.get(direction)
        if job_id is None:
            line = _begin(fs, line, direction)
            run = stage_records(fs.ctx, fs.reviews, line, mapping, direction, fs.ctx.clock(), fs.chunks)
            line = feed(fs.ctx, fs.reviews, line, run, 0, fs.window(0), fs.chunks)
            return _await(fs, line, "scanned")
        summary = job_progress(fs.ctx.stores.job_log, job_id, fs.chunks)
        if summary is None or summary.run.finished_enqueue_at is None:  # a scan cut short
            started = summary.run.started_at if summary else fs.ctx.clock()
            run = stage_records(fs.ctx, fs.reviews, line, mapping, direction, started, fs.chunks)
            line = feed(fs.ctx, fs.reviews, line, run, 0, fs.window(0), fs.chunks)
            return _await(fs, line, "rescanned")
        summaries.append(summary)
        if not summary.finished:
            processed = summary.processed
            line = feed(fs.ctx, fs.reviews, line, summary.run, processed, fs.window(processed), fs.chunks)
            return _progress(fs, line, summaries)
    return _finish(fs, line, mapping, summaries)


def _begin(fs: FullSync, line: ReviewLine, direction: Direction) -> ReviewLine:
    now = fs.ctx.clock()
    return fs.reviews.save_line(
        replace(
            line,
            status="In Process",
            jobs={**line.jobs, direction: new_job_id(now)},
            fed=0,
            started_at=line.started_at or now,
            progress_at=now,
            message=f"{direction}: reading every record",
        )
    )


def _await(fs: FullSync, line: ReviewLine, what: str, processed: int = 0) -> str:
    fs.send(CHECK_MESSAGE, line, processed)
    return what


def _sum(summaries: list[JobSummary]) -> dict[str, int]:
    counts = empty_counts()
    for summary in summaries:
        for outcome, n in summary.counts.items():
            counts[outcome] = counts.get(outcome, 0) + n
    return counts


def _progress(fs: FullSync, line: ReviewLine, summaries: list[JobSummary]) -> str:
    """Show the counts so far and look again later; no progress for ``stall_after`` -> Error."""
    counts, now = _sum(summaries), fs.ctx.clock()
    processed, enqueued = sum(counts.values()), sum(s.run.enqueued for s in summaries)
    marks = (line.progress_at, line.started_at, *(s.run.finished_enqueue_at for s in summaries))
    since = max((t for t in marks if t is not None), default=now)
    if processed == line.processed and now - since >= fs.stall_after:
        return _stalled(fs, line, counts, enqueued, now)
    if processed != line.processed:
        message = (
            line.message if "coupling" in line.jobs else f"{processed} of {enqueued} record(s) processed"
        )
        line = fs.reviews.save_line(replace(line, counts=counts, progress_at=now, message=message))
    fs.send(CHECK_MESSAGE, line, processed)
    return "in process"


def _stalled(fs: FullSync, line: ReviewLine, counts: dict[str, int], enqueued: int, now: datetime) -> str:
    quiet = int(fs.stall_after.total_seconds())
    quiet_text = f"{quiet // 60} min" if quiet >= 120 else f"{quiet} s"
    message = (
        f"stalled: {line.processed} of {enqueued} record(s) processed and none for {quiet_text} "
        "(messages lost or in the poison queue?); see `errors`, then run `full-sync restart`"
    )
    fs.reviews.save_line(replace(line, status="Error", counts=counts, finished_at=now, message=message))
    _log_line(line, counts, now, f"stalled: none processed for {quiet_text}", logging.ERROR)
    return "stalled"


def _log_line(line: ReviewLine, counts: dict[str, int], now: datetime, detail: str, level: int) -> None:
    """The one log line of a review line that ends (Finished, or Error)."""
    took = (now - line.started_at).total_seconds() if line.started_at else None
    summary = JobRunSummary(
        "full-sync line", line.run_id, line.mapping, "", "full sync", counts, took, detail
    )
    log_job_run(log, summary, level)


def _finish(
    fs: FullSync, line: ReviewLine, mapping: IntegrationTableMapping, summaries: list[JobSummary]
) -> str:
    records = synchronizes_records(line, mapping)
    if records:
        for summary in summaries:  # BC copies the full sync's watermarks back to the parent mapping
            advance_watermark(fs.ctx, mapping.name, summary.run.direction, summary.run.started_at)
            fs.reviews.drop_stage(summary.run.job_id)
    counts, now = _sum(summaries), fs.ctx.clock()
    done = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "nothing to do"
    message = done if records else f"{line.message}; {done}"
    fs.reviews.save_line(
        replace(line, status="Finished", counts=counts, finished_at=now, progress_at=now, message=message)
    )
    _log_line(line, counts, now, f"finished (attempt {line.attempt})", logging.INFO)
    start_ready_lines(fs, line.run_id)
    return "finished"


def start_ready_lines(fs: FullSync, run_id: str) -> list[str]:
    """Waiting lines whose dependencies are now satisfied -> Ready, and their line messages.

    Called after a line's status is saved, so of two lines finishing at once at least one sees
    the other Finished; the Waiting -> Ready write is IfNotModified, so only one sends.
    """
    started = []
    for line in startable(fs.reviews.lines(run_id)):
        try:
            ready = fs.reviews.save_line(replace(line, status="Ready"))
        except ConflictError:
            continue
        fs.send(LINE_MESSAGE, ready)
        started.append(line.mapping)
    return started


# -- "Couple Records" lines ---------------------------------------------------------------------


def couple_records(
    ctx: SyncContext, mapping: IntegrationTableMapping, attrs: Sequence[str] = ()
) -> tuple[dict[str, str], str]:
    """BC's "Couple Records" start: match-based coupling on ``attrs`` (default: the mapping's match
    fields), creating new records when nothing matches and synchronizing after coupling. Returns
    the jobs to follow (the coupling run, then the record messages it enqueued) and a summary.
    """
    attrs = list(attrs) or [f.crm_field for f in mapping.match_fields]
    if not attrs:
        raise ConfigError(
            f"{mapping.name} has no match fields: start again with --match {mapping.name}=ATTR[,ATTR] "
            "(or match = true in its mapping file), or with --recommend-full-sync"
        )
    result = match_couple(
        ctx, mapping.name, attrs, case_sensitive=False, create_new=True, sync_after=True, dry_run=False
    )
    classes = ", ".join(f"{k} {v}" for k, v in result.counts.items() if v) or "no BC records"
    jobs = {("coupling" if i == 0 else f"sync {i}"): job_id for i, job_id in enumerate(result.job_ids)}
    return jobs, f"match-based coupling on {', '.join(attrs)}: {classes}; enqueued {result.enqueued}"


def _couple(fs: FullSync, line: ReviewLine, mapping: IntegrationTableMapping) -> str:
    now = fs.ctx.clock()
    line = fs.reviews.save_line(
        replace(line, status="In Process", started_at=line.started_at or now, message="match-based coupling")
    )
    try:
        jobs, message = couple_records(fs.ctx, mapping, line.match_fields)
    except (ConfigError, PermanentError) as exc:
        now = fs.ctx.clock()
        fs.reviews.save_line(replace(line, status="Error", finished_at=now, message=exc.message))
        _log_line(
            line, empty_counts(), now, f"error {error_code(exc)}: see `full-sync status`", logging.ERROR
        )
        return "error"
    line = fs.reviews.save_line(replace(line, jobs=jobs, progress_at=fs.ctx.clock(), message=message))
    return _await(fs, line, "coupled")
