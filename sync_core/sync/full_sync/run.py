"""Full synchronization (bc-integration-behaviour §2.2): start, status, restart, control messages.

``start_full_sync`` builds the review (one line per mapping, BC's recommendation from at most two
rows read per side), refuses while another full synchronization is in process, and sends a
``full-sync-line`` control message for every line whose dependencies are satisfied. From there the
control queue alone moves it (``full_sync_lines``). ``restart_full_sync`` gives every line that is
not Finished a fresh attempt: its records are enqueued again, and record processing is idempotent,
so a restart after a crash creates no duplicates.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import islice

from sync_core.errors import ConflictError, DataError, NotFoundError, TransientError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.common import empty_counts
from sync_core.state.full_sync_review import (
    COUPLE_RECORDS,
    FULL_SYNCHRONIZATION,
    NO_RECORDS_FOUND,
    FullSyncReview,
    FullSyncReviewStore,
    Recommendation,
    ReviewLine,
)
from sync_core.state.ports import MessageQueue
from sync_core.sync.context import SyncContext
from sync_core.sync.full_sync.lines import (
    LINE_MESSAGE,
    ControlMessage,
    FullSync,
    process,
    start_ready_lines,
)
from sync_core.sync.full_sync.plan import (
    SAMPLE_SIZE,
    ReviewState,
    SideSample,
    dependencies_met,
    known_mapping,
    recommend,
    review_mappings,
    review_state,
    samples_needed,
)
from sync_core.systems.ports import ModifiedQuery, RecordSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReviewReport:
    review: FullSyncReview
    lines: list[ReviewLine]
    note: str = ""

    @property
    def state(self) -> ReviewState:
        return review_state(self.lines)


def _sample(source: RecordSource, entity: str, filter: str | None) -> SideSample:
    """At most two rows ($top=2 style: one page of two), never the whole table."""
    query = ModifiedQuery(entity, filter=filter or None, page_size=SAMPLE_SIZE)
    return SideSample(tuple(r.fields for r in islice(source.iter_modified(query), SAMPLE_SIZE)))


def _recommendation(
    ctx: SyncContext, mapping: IntegrationTableMapping, override: bool
) -> tuple[Recommendation, str]:
    need_bc, need_crm = samples_needed(mapping)
    bc = _sample(ctx.bc, mapping.bc_entity, None) if need_bc else SideSample()
    crm = _sample(ctx.dataverse, mapping.crm_entity, mapping.integration_table_filter) if need_crm else None
    recommendation = recommend(mapping, bc, crm or SideSample())
    if override and recommendation == COUPLE_RECORDS:  # BC's "Recommend Full Synchronization" action
        return FULL_SYNCHRONIZATION, "full synchronization recommended by the operator (was Couple Records)"
    return recommendation, ""


def _initial_status(lines: list[ReviewLine], now: datetime) -> list[ReviewLine]:
    done = [
        replace(
            li, status="Finished", started_at=now, finished_at=now, message="No records to synchronize now"
        )
        if li.recommendation == NO_RECORDS_FOUND
        else li
        for li in lines
    ]
    return [
        replace(li, status="Ready") if li.status == "Waiting" and dependencies_met(li, done) else li
        for li in done
    ]


def _refuse_if_running(reviews: FullSyncReviewStore, run_id: str | None) -> None:
    if run_id is None:
        return
    lines = reviews.lines(run_id)
    if review_state(lines) == "In Process":
        finished = sum(li.status == "Finished" for li in lines)
        raise ConflictError(
            f"full synchronization {run_id} is in process ({finished} of {len(lines)} lines finished); "
            "see `full-sync status`, or `full-sync restart` it after a crash",
            remedy="wait for it to finish or restart it",
        )


def start_full_sync(
    ctx: SyncContext,
    review_store: FullSyncReviewStore,
    control_queue: MessageQueue,
    mappings: Sequence[str] | None = None,
    *,
    recommend_full_sync: Iterable[str] = (),
    match: Mapping[str, Sequence[str]] | None = None,
    trigger: str = "command",
) -> ReviewReport:
    """Build the review, then start every line whose dependencies are satisfied.

    ``mappings`` narrows the review (a dependency outside it counts as satisfied);
    ``recommend_full_sync`` turns those "Couple Records" lines into full synchronizations;
    ``match`` chooses the Dataverse attributes a "Couple Records" line matches on.
    """
    chosen = [ctx.mapping(m.name) for m in review_mappings(ctx.catalog, mappings)]  # effective settings
    overrides = {known_mapping(ctx.catalog, name).name for name in recommend_full_sync}
    criteria = {known_mapping(ctx.catalog, name).name: tuple(a) for name, a in (match or {}).items()}
    current = review_store.current()
    _refuse_if_running(review_store, current.run_id)
    started = ctx.clock()
    review = FullSyncReview(
        f"{started:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}", started, tuple(m.name for m in chosen), trigger
    )
    lines = _initial_status(_lines(ctx, review.run_id, chosen, overrides, criteria), started)
    try:
        review_store.create(review, lines, current)
    except ConflictError as exc:
        raise ConflictError("another full synchronization was started at the same moment") from exc
    fs = FullSync(ctx, review_store, control_queue)
    for line in lines:
        if line.status == "Ready":
            fs.send(LINE_MESSAGE, line)
    summary = ", ".join(f"{li.mapping} ({li.recommendation}, {li.status})" for li in lines)
    log.info("full synchronization %s started: %s", review.run_id, summary)
    return ReviewReport(review, review_store.lines(review.run_id))


def _lines(
    ctx: SyncContext,
    run_id: str,
    mappings: Sequence[IntegrationTableMapping],
    overrides: set[str],
    criteria: Mapping[str, tuple[str, ...]],
) -> list[ReviewLine]:
    lines = []
    for position, mapping in enumerate(mappings):
        recommendation, note = _recommendation(ctx, mapping, mapping.name in overrides)
        line = ReviewLine(run_id, mapping.name, recommendation, mapping.dependencies, position=position)
        lines.append(replace(line, message=note, match_fields=criteria.get(mapping.name, ())))
    return lines


def full_sync_status(review_store: FullSyncReviewStore, run_id: str | None = None) -> ReviewReport | None:
    """The review of ``run_id`` (default: the latest full synchronization), or None."""
    run_id = run_id or review_store.current().run_id
    review = review_store.get(run_id) if run_id else None
    return None if review is None else ReviewReport(review, review_store.lines(review.run_id))


def _fresh_attempt(line: ReviewLine) -> ReviewLine:
    return replace(
        line,
        status="Waiting",
        attempt=line.attempt + 1,
        jobs={},
        fed=0,
        counts=empty_counts(),
        started_at=None,
        finished_at=None,
        progress_at=None,
        message=f"restarted (attempt {line.attempt + 1})",
    )


def _restart_line(review_store: FullSyncReviewStore, line: ReviewLine) -> bool:
    for _ in range(5):
        if line.status == "Finished":
            return False
        try:
            review_store.save_line(_fresh_attempt(line))
            for job_id in line.job_ids():  # the earlier attempt's staged ids
                review_store.drop_stage(job_id)
            return True
        except ConflictError:
            fresh = review_store.get_line(line.run_id, line.mapping)
            if fresh is None:
                return False
            line = fresh
    raise TransientError(f"review line {line.run_id} {line.mapping} kept changing; try again")


def restart_full_sync(
    ctx: SyncContext,
    review_store: FullSyncReviewStore,
    control_queue: MessageQueue,
    run_id: str | None = None,
    mappings: Sequence[str] | None = None,
) -> ReviewReport:
    """Give every line that is not Finished (or only ``mappings``) a fresh attempt and start it."""
    run_id = run_id or review_store.current().run_id
    review = review_store.get(run_id) if run_id else None
    if review is None:
        raise NotFoundError("no full synchronization to restart; start one with `full-sync start`")
    lines = review_store.lines(review.run_id)
    names = {li.mapping for li in lines}
    unknown = sorted(set(mappings or ()) - names)
    if unknown:
        raise DataError(f"not in full synchronization {review.run_id}: {', '.join(unknown)}")
    chosen = [li for li in lines if not mappings or li.mapping in mappings]
    restarted = [li.mapping for li in chosen if _restart_line(review_store, li)]
    started = start_ready_lines(FullSync(ctx, review_store, control_queue), review.run_id)
    note = f"restarted {', '.join(restarted)}; started {', '.join(started) or 'none yet'}"
    if not restarted:
        note = "nothing to restart: every line is Finished"
    log.info("full synchronization %s: %s", review.run_id, note)
    return ReviewReport(review, review_store.lines(review.run_id), note)


def process_control_message(
    ctx: SyncContext, review_store: FullSyncReviewStore, control_queue: MessageQueue, body: str | bytes
) -> str:
    """One ``sync-control`` queue message; returns what it did."""
    return process(FullSync(ctx, review_store, control_queue), ControlMessage.from_json(body))
