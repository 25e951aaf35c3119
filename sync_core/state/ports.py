"""State ports: couplings, watermarks, job log, sync errors, queues.

Each port has a Table Storage implementation (``tables.py``) and an in-memory twin (``memory.py``);
one contract suite (``tests/contract``) runs against both. Rows are written with ETags: a stale
write raises ``ConflictError``; an insert-if-absent that finds the row raises ``AlreadyExistsError``.
All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol

from sync_core.errors import AlreadyExistsError, ConflictError
from sync_core.vocabulary import TO_DATAVERSE, Direction

SyncResult = Literal["success", "failure"]
RecordOutcome = Literal["inserted", "modified", "unchanged", "skipped", "failed", "uncoupled"]
CouplingState = Literal["claimed", "coupled"]

OUTCOMES: tuple[RecordOutcome, ...] = ("inserted", "modified", "unchanged", "skipped", "failed", "uncoupled")
# A record processed twice in one job (a redelivered or duplicate message) keeps the strongest
# outcome: what the job did to it. The second pass of an insert finds the record coupled and
# unchanged; the job still inserted it.
OUTCOME_STRENGTH: dict[str, int] = {
    "unchanged": 0,
    "skipped": 1,
    "failed": 2,
    "uncoupled": 3,
    "modified": 4,
    "inserted": 5,
}


@dataclass(frozen=True)
class DirectionStatus:
    """Last synchronization result of one direction of a coupling (BC's Last Synch. (CRM) Result)."""

    result: SyncResult | None = None
    error: str | None = None
    job_id: str | None = None


@dataclass(frozen=True)
class Coupling:
    """One BC record linked to one Dataverse row, for one integration table mapping.

    A coupling starts ``claimed`` (insert-if-absent, before the counterpart is created, with the
    Dataverse id the creator will use) and becomes ``coupled`` once the counterpart exists.
    """

    mapping: str
    bc_id: str
    crm_id: str
    state: CouplingState = "coupled"
    bc_modified_on: datetime | None = None  # BC "Last Synch. Modified On"
    crm_modified_on: datetime | None = None  # BC "Last Synch. CRM Modified On"
    to_dataverse: DirectionStatus = field(default_factory=DirectionStatus)
    to_bc: DirectionStatus = field(default_factory=DirectionStatus)
    skipped: bool = False
    claimed_at: datetime | None = None
    etag: str | None = None

    def status(self, direction: Direction) -> DirectionStatus:
        return self.to_dataverse if direction == TO_DATAVERSE else self.to_bc

    def with_status(self, direction: Direction, status: DirectionStatus) -> Coupling:
        if direction == TO_DATAVERSE:
            return replace(self, to_dataverse=status)
        return replace(self, to_bc=status)

    def source_id(self, direction: Direction) -> str:
        """The id of the record a sync in ``direction`` reads (BC's going to Dataverse)."""
        return self.bc_id if direction == TO_DATAVERSE else self.crm_id

    def destination_id(self, direction: Direction) -> str:
        """The id of the record a sync in ``direction`` writes."""
        return self.crm_id if direction == TO_DATAVERSE else self.bc_id

    def last_source_modified_on(self, direction: Direction) -> datetime | None:
        """The source's modified-on stamp at the last synchronization (BC's Last Synch. (CRM) Modified On)."""
        return self.bc_modified_on if direction == TO_DATAVERSE else self.crm_modified_on

    def last_destination_modified_on(self, direction: Direction) -> datetime | None:
        """The destination's modified-on stamp at the last synchronization."""
        return self.crm_modified_on if direction == TO_DATAVERSE else self.bc_modified_on


class CouplingStore(Protocol):
    def get_by_bc(self, mapping: str, bc_id: str) -> Coupling | None: ...

    def get_by_crm(self, mapping: str, crm_id: str) -> Coupling | None: ...

    def claim(self, coupling: Coupling) -> Coupling:
        """Insert-if-absent keyed by (mapping, bc_id) AND (mapping, crm_id), atomically.

        Raises AlreadyExistsError when either side is already coupled or claimed. Returns the
        stored coupling with its ETag.
        """
        ...

    def claim_many(self, couplings: Sequence[Coupling]) -> list[Coupling | AlreadyExistsError]:
        """``claim`` for each item, in input order: the stored coupling with its ETag, or the
        AlreadyExistsError ``claim`` would have raised. All items of one mapping (ValueError
        otherwise). An item whose bc_id or crm_id an earlier item has gets AlreadyExistsError.
        In Table Storage, one entity-group transaction per 50 couplings.
        """
        ...

    def save(self, coupling: Coupling) -> Coupling:
        """Update an existing coupling, IfNotModified its ``etag``; ConflictError if stale or
        deleted; ValueError without an etag.

        The ids (bc_id, crm_id) of a saved coupling must not change; use delete + claim for that.
        The in-memory twin checks the crm_id; the Table store does not (one request, no read).
        """
        ...

    def complete_claims(self, couplings: Sequence[Coupling]) -> list[Coupling | ConflictError]:
        """``save`` for each item (each carries the etag its claim returned), in input order: the
        saved coupling with its new ETag, or the ConflictError ``save`` would have raised. All items
        of one mapping, each with an etag (ValueError otherwise, before any write). An item whose
        bc_id or crm_id an earlier item has gets ConflictError. In Table Storage, one entity-group
        transaction per 50 couplings.
        """
        ...

    def rekey_bc(self, coupling: Coupling, bc_id: str) -> Coupling:
        """Move a claim to the BC id its record finally got (Create in Business Central).

        Atomically: the row under the old bc_id (IfNotModified its etag) is replaced by the given
        coupling under ``bc_id`` and the crm lookup points to it. AlreadyExistsError if ``bc_id``
        is coupled already; ConflictError if the claim changed since read.
        """
        ...

    def delete(self, coupling: Coupling) -> None:
        """Remove both lookups of the coupling (IfNotModified its etag; absent is not an error)."""
        ...

    def iter_mapping(self, mapping: str) -> Iterator[Coupling]: ...

    def iter_sync_state(self, mapping: str) -> Iterator[Coupling]:
        """Every coupling of ``mapping`` with only what decides a synchronization: both ids, state,
        both last-synced modified-on stamps, each direction's last result and Skipped (no error
        texts, no job ids, no etag). Streamed a page (1,000 rows) at a time: one query per page."""
        ...

    def iter_failed(self, mapping: str, direction: Direction) -> Iterator[Coupling]:
        """Couplings whose last result in ``direction`` is Failure and that are not Skipped."""
        ...


@dataclass(frozen=True)
class Watermark:
    mapping: str
    direction: Direction
    value: datetime | None = None
    etag: str | None = None


def coupling_of_source(
    store: CouplingStore, mapping: str, direction: Direction, source_id: str
) -> Coupling | None:
    """The coupling of a source record: by its BC id going to Dataverse, by its Dataverse id back."""
    if direction == TO_DATAVERSE:
        return store.get_by_bc(mapping, source_id)
    return store.get_by_crm(mapping, source_id)


class WatermarkStore(Protocol):
    def get(self, mapping: str, direction: Direction) -> Watermark:
        """Never None: an unknown watermark has ``value=None`` and ``etag=None``."""
        ...

    def advance(self, watermark: Watermark, value: datetime) -> Watermark:
        """Move forward only (a value not later than the stored one changes nothing).

        Written IfNotModified ``watermark.etag`` (insert-if-absent when etag is None);
        ConflictError if it changed since read.
        """
        ...


@dataclass(frozen=True)
class JobRun:
    """One run of a mapping job in one direction (BC's Integration Synch. Job)."""

    job_id: str
    mapping: str
    direction: Direction
    started_at: datetime
    finished_enqueue_at: datetime | None = None
    read: int = 0  # records scanned by the job
    enqueued: int = 0  # per-record messages sent
    message: str = ""
    kind: str = "synchronization"


@dataclass(frozen=True)
class OutcomeEntry:
    """One record's outcome in a job, for ``JobLogStore.record_outcomes``."""

    source_id: str
    outcome: RecordOutcome
    message: str = ""


@dataclass(frozen=True)
class JobSummary:
    """A job run plus the outcome counts of the records its messages processed so far."""

    run: JobRun
    counts: dict[str, int]

    @property
    def processed(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> bool:
        return self.run.finished_enqueue_at is not None and self.processed >= self.run.enqueued


@dataclass(frozen=True)
class ChunkTally:
    """What the chunks of a full-sync job reported (``JobLogStore.record_chunk``), each chunk's
    latest pass only: the outcomes it recorded, and the records it sent back to the queue on
    their own (``sent_again``; ``unlisted`` counts those whose ids did not fit on the row)."""

    run: JobRun
    counts: dict[str, int]
    sent_again: tuple[str, ...] = ()
    unlisted: int = 0
    chunks: int = 0


class JobLogStore(Protocol):
    def save_run(self, run: JobRun) -> None:
        """Upsert the run row (called at start, and again when enqueueing is done)."""
        ...

    def record_outcome(self, job_id: str, source_id: str, outcome: RecordOutcome, message: str = "") -> None:
        """Record what the job did to a record; a record counts once, with its strongest outcome
        (``OUTCOME_STRENGTH``): a redelivery never downgrades it (idempotent, order-free)."""
        ...

    def record_outcomes(self, job_id: str, entries: Sequence[OutcomeEntry]) -> None:
        """``record_outcome`` for many records of one job, with the same merge and strongest-outcome
        semantics; in Table Storage one entity-group transaction per 100 records."""
        ...

    def summary(self, job_id: str) -> JobSummary | None: ...

    def record_chunk(
        self, job_id: str, chunk: int, counts: dict[str, int], sent_again: Sequence[str] = ()
    ) -> None:
        """What one pass of a full-sync chunk did (one row per chunk, a later pass replaces it):
        how a check follows a large job by reading a row per chunk, not one per record."""
        ...

    def chunk_tally(self, job_id: str) -> ChunkTally | None:
        """The run and its chunks' rows added up (None: no such run)."""
        ...

    def outcomes_of(self, job_id: str, source_ids: Sequence[str]) -> dict[str, RecordOutcome]:
        """The strongest outcome recorded for each of ``source_ids`` that has one."""
        ...

    def list_runs(self, mapping: str | None = None, limit: int = 50) -> list[JobRun]:
        """Newest first."""
        ...


@dataclass(frozen=True)
class SyncErrorEntry:
    """One failure, tied to a record pair, mapping and field, with a remedy (BC's job errors)."""

    mapping: str
    direction: Direction
    source_id: str
    message: str
    occurred_at: datetime
    job_id: str = ""
    destination_id: str = ""
    field: str = ""
    remedy: str = ""
    error_code: str = ""


@dataclass(frozen=True)
class SyncErrorPage:
    """One page of sync errors, newest first; ``next_cursor`` asks for the page after it ("" = last)."""

    entries: list[SyncErrorEntry]
    next_cursor: str = ""


class SyncErrorStore(Protocol):
    def add(self, entry: SyncErrorEntry) -> None: ...

    def list(self, mapping: str | None = None, limit: int = 100) -> list[SyncErrorEntry]:
        """Newest first."""
        ...

    def page(
        self, mapping: str | None = None, *, size: int = 50, cursor: str = "", source_id: str = ""
    ) -> SyncErrorPage:
        """Newest first, ``size`` at most, after ``cursor`` (a page's ``next_cursor``; an opaque
        key, so errors added meanwhile never shift a later page); only ``source_id``'s if given.
        A cursor this store did not make raises ``ValueError``."""
        ...


class MessageQueue(Protocol):
    """A storage queue as the core sees it: text messages, at-least-once."""

    name: str

    def send(self, body: str, visibility_timeout: int | None = None) -> None: ...

    def send_many(self, bodies: Iterable[str]) -> int:
        """Send each body; returns how many were sent. Raises on the first failure."""
        ...
