"""Full synchronization review (BC's "CRM Full Synch. Review Line"): port, values, in-memory twin.

One review per full synchronization run (``run_id``) with one line per mapping: its dependencies,
BC's recommendation, the line's status, the job id of each direction, the job log counts, start and
finish times and a message. A ``current`` pointer names the latest run; ``create`` moves it with an
ETag, so two starts at the same moment cannot both win. Lines are saved IfNotModified their ETag.
A full-sync job's scan stages the source record ids here in numbered chunks; the line feeds them
to the record queue a window at a time (``ReviewLine.fed`` counts what was sent).
The Table Storage implementation is in ``full_sync_review_tables.py`` (kept apart so this module,
which the use-cases import, needs no Azure SDK); ``full_sync_review_tables.full_sync_review_store``
builds the Table Storage one.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol

from sync_core.errors import AlreadyExistsError, ConflictError
from sync_core.state.common import clip, empty_counts, require_utc, to_utc

Recommendation = Literal["Full Synchronization", "Couple Records", "No Records Found"]
LineStatus = Literal["Ready", "Waiting", "In Process", "Finished", "Error"]

FULL_SYNCHRONIZATION: Recommendation = "Full Synchronization"
COUPLE_RECORDS: Recommendation = "Couple Records"
NO_RECORDS_FOUND: Recommendation = "No Records Found"
RECOMMENDATIONS: tuple[Recommendation, ...] = (FULL_SYNCHRONIZATION, COUPLE_RECORDS, NO_RECORDS_FOUND)
LINE_STATUSES: tuple[LineStatus, ...] = ("Ready", "Waiting", "In Process", "Finished", "Error")


@dataclass(frozen=True)
class ReviewLine:
    """One mapping's line of a full synchronization review.

    ``attempt`` grows on every restart; control messages carry it, so messages of an earlier
    attempt are recognized and dropped. ``jobs`` maps a direction (for a "Couple Records" line, a
    label) to a job id of the job log, in the order they run. ``progress_at`` is when the
    processed count last changed (a stalled line becomes Error). ``match_fields``: the
    Dataverse attributes a "Couple Records" line matches on when the operator chose them at
    start (BC's "Match Based Coupling Criteria"); empty means the mapping's own match fields.
    """

    run_id: str
    mapping: str
    recommendation: Recommendation
    dependencies: tuple[str, ...] = ()
    status: LineStatus = "Waiting"
    position: int = 0
    attempt: int = 1
    jobs: Mapping[str, str] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=empty_counts)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress_at: datetime | None = None
    message: str = ""
    match_fields: tuple[str, ...] = ()
    fed: int = 0  # record messages sent so far for the direction in process
    etag: str | None = None

    @property
    def processed(self) -> int:
        return sum(self.counts.values())

    def job_ids(self) -> list[str]:
        return list(self.jobs.values())


StagedDecision = Literal["unchanged", "skipped", "process", "insert"]
STAGED_DECISIONS: tuple[StagedDecision, ...] = ("unchanged", "skipped", "process", "insert")


@dataclass(frozen=True)
class StagedRecord:
    """One record of a staged chunk, with what its coupling said when the scan read it.

    ``modified_on_ms``: the source's modified-on (Unix ms) at the scan, None when it had none.
    ``decision``: ``unchanged`` = coupled and not modified since its last synchronization (BC
    §4.1), ``skipped`` = coupled and marked Skipped, ``insert`` = not coupled (nor claimed) at the
    scan, ``process`` = anything else (changed, failed, claimed, or not decided at staging).
    """

    id: str
    modified_on_ms: int | None = None
    decision: StagedDecision = "process"


@dataclass(frozen=True)
class FullSyncReview:
    """The header of one run: when it started, which mappings (in dependency order), by what."""

    run_id: str
    started_at: datetime
    mappings: tuple[str, ...] = ()
    trigger: str = "command"


@dataclass(frozen=True)
class CurrentReview:
    """The pointer to the latest run (``run_id`` None before the first) with its ETag."""

    run_id: str | None = None
    etag: str | None = None


class FullSyncReviewStore(Protocol):
    def current(self) -> CurrentReview: ...

    def create(self, review: FullSyncReview, lines: Iterable[ReviewLine], expected: CurrentReview) -> None:
        """Store the review and its lines, then point ``current`` at it.

        The pointer is written IfNotModified ``expected.etag`` (insert-if-absent when None):
        ConflictError (or AlreadyExistsError) when another start moved it since it was read.
        """
        ...

    def get(self, run_id: str) -> FullSyncReview | None: ...

    def lines(self, run_id: str) -> list[ReviewLine]:
        """The run's lines in review order (``position``)."""
        ...

    def get_line(self, run_id: str, mapping: str) -> ReviewLine | None: ...

    def save_line(self, line: ReviewLine) -> ReviewLine:
        """Replace an existing line IfNotModified ``line.etag``; ConflictError if it changed."""
        ...

    def stage(self, job_id: str, chunk: int, ids: Sequence[str]) -> None:
        """Write chunk number ``chunk`` of a job's staged record ids (an upsert: idempotent)."""
        ...

    def staged(self, job_id: str, first: int, limit: int) -> list[list[str]]:
        """Chunks ``first``, ``first + 1``, ... (at most ``limit``), in order."""
        ...

    def stage_records(self, job_id: str, chunk: int, records: Sequence[StagedRecord]) -> None:
        """``stage`` with each record's modified-on and decision (``staged`` still gives the ids)."""
        ...

    def staged_chunk(self, job_id: str, chunk: int) -> list[StagedRecord] | None:
        """Chunk number ``chunk`` (one point read), None if absent; ids staged by ``stage`` come
        back with decision ``process``."""
        ...

    def drop_stage(self, job_id: str) -> None:
        """Remove a job's staged chunks (absent is not an error)."""
        ...


def normalize_line(line: ReviewLine, etag: str | None) -> ReviewLine:
    """The line as a store keeps it: UTC datetimes, every count present, clipped message."""
    return replace(
        line,
        dependencies=tuple(line.dependencies),
        match_fields=tuple(line.match_fields),
        jobs={k: str(v) for k, v in line.jobs.items() if v},
        counts={**empty_counts(), **{k: int(v) for k, v in line.counts.items()}},
        started_at=to_utc(line.started_at),
        finished_at=to_utc(line.finished_at),
        progress_at=to_utc(line.progress_at),
        message=clip(line.message) or "",
        etag=etag,
    )


def normalize_review(review: FullSyncReview) -> FullSyncReview:
    return replace(review, started_at=require_utc(review.started_at), mappings=tuple(review.mappings))


class MemoryFullSyncReviewStore:
    """The in-memory twin: same ETag and pointer semantics as the Table Storage store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._etags = itertools.count(1)
        self._current = CurrentReview()
        self._reviews: dict[str, FullSyncReview] = {}
        self._lines: dict[str, dict[str, ReviewLine]] = {}
        self._stage: dict[str, dict[int, list[StagedRecord]]] = {}

    def _etag(self) -> str:
        return f'W/"fsr-{next(self._etags)}"'

    def current(self) -> CurrentReview:
        with self._lock:
            return self._current

    def create(self, review: FullSyncReview, lines: Iterable[ReviewLine], expected: CurrentReview) -> None:
        stored = normalize_review(review)
        rows = {line.mapping: line for line in lines}
        with self._lock:
            if self._current.etag != expected.etag:
                error = AlreadyExistsError if expected.etag is None else ConflictError
                raise error("the current full synchronization changed since read", status=412)
            if stored.run_id in self._reviews:
                raise AlreadyExistsError(f"full synchronization {stored.run_id} already exists", status=409)
            self._reviews[stored.run_id] = stored
            self._lines[stored.run_id] = {m: normalize_line(li, self._etag()) for m, li in rows.items()}
            self._current = CurrentReview(stored.run_id, self._etag())

    def get(self, run_id: str) -> FullSyncReview | None:
        with self._lock:
            return self._reviews.get(run_id)

    def lines(self, run_id: str) -> list[ReviewLine]:
        with self._lock:
            rows = list(self._lines.get(run_id, {}).values())
        return sorted(rows, key=lambda li: (li.position, li.mapping))

    def get_line(self, run_id: str, mapping: str) -> ReviewLine | None:
        with self._lock:
            return self._lines.get(run_id, {}).get(mapping)

    def save_line(self, line: ReviewLine) -> ReviewLine:
        if line.etag is None:
            raise ValueError("save_line needs the line's etag (read it first)")
        with self._lock:
            current = self._lines.get(line.run_id, {}).get(line.mapping)
            if current is None or current.etag != line.etag:
                raise ConflictError(
                    f"full-sync review line {line.run_id} {line.mapping} changed since read", status=412
                )
            stored = normalize_line(line, self._etag())
            self._lines[line.run_id][line.mapping] = stored
            return stored

    def stage(self, job_id: str, chunk: int, ids: Sequence[str]) -> None:
        self.stage_records(job_id, chunk, [StagedRecord(i) for i in ids])

    def stage_records(self, job_id: str, chunk: int, records: Sequence[StagedRecord]) -> None:
        with self._lock:
            self._stage.setdefault(job_id, {})[chunk] = list(records)

    def staged(self, job_id: str, first: int, limit: int) -> list[list[str]]:
        with self._lock:
            chunks = self._stage.get(job_id, {})
            return [[r.id for r in chunks[i]] for i in sorted(chunks) if i >= first][: max(limit, 0)]

    def staged_chunk(self, job_id: str, chunk: int) -> list[StagedRecord] | None:
        with self._lock:
            found = self._stage.get(job_id, {}).get(chunk)
            return None if found is None else list(found)

    def drop_stage(self, job_id: str) -> None:
        with self._lock:
            self._stage.pop(job_id, None)
