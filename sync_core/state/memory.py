"""In-memory twins of the state ports, for unit tests and the local runner.

They pass the same contract suite as the Table Storage stores: thread-safe, ETags that change on
every write, insert-if-absent and IfNotModified semantics, the same normalization of values.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime

from sync_core.errors import AlreadyExistsError, ConflictError
from sync_core.state.common import (
    check_error_cursor,
    check_outcome,
    chunk_ids,
    clip,
    empty_counts,
    error_key,
    key_escape,
    normalize_coupling,
    normalize_error,
    normalize_run,
    require_utc,
    strongest,
)
from sync_core.state.ports import (
    ChunkTally,
    Coupling,
    DirectionStatus,
    JobRun,
    JobSummary,
    OutcomeEntry,
    RecordOutcome,
    SyncErrorEntry,
    SyncErrorPage,
    Watermark,
)
from sync_core.state.tables_couplings_bulk import check_batch, repeated, twice
from sync_core.vocabulary import Direction

_etags = itertools.count(1)
_etag_lock = threading.Lock()


def _new_etag() -> str:
    with _etag_lock:
        return f'W/"mem-{next(_etags)}"'


class MemoryCouplingStore:
    """Couplings keyed by (mapping, bc_id), with an index by (mapping, crm_id)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._by_bc: dict[tuple[str, str], Coupling] = {}
        self._by_crm: dict[tuple[str, str], str] = {}

    def get_by_bc(self, mapping: str, bc_id: str) -> Coupling | None:
        with self._lock:
            return self._by_bc.get((mapping, bc_id))

    def get_by_crm(self, mapping: str, crm_id: str) -> Coupling | None:
        with self._lock:
            bc_id = self._by_crm.get((mapping, crm_id))
            return None if bc_id is None else self._by_bc.get((mapping, bc_id))

    def claim(self, coupling: Coupling) -> Coupling:
        bc_key = (coupling.mapping, coupling.bc_id)
        crm_key = (coupling.mapping, coupling.crm_id)
        with self._lock:
            if bc_key in self._by_bc or crm_key in self._by_crm:
                raise AlreadyExistsError(
                    f"coupling {coupling.mapping} bc {coupling.bc_id} / crm {coupling.crm_id} already exists",
                    status=409,
                )
            stored = normalize_coupling(coupling, _new_etag())
            self._by_bc[bc_key] = stored
            self._by_crm[crm_key] = coupling.bc_id
            return stored

    def claim_many(self, couplings: Sequence[Coupling]) -> list[Coupling | AlreadyExistsError]:
        check_batch(couplings)
        skip = repeated(couplings)
        with self._lock:
            return [
                twice(AlreadyExistsError, c) if n in skip else self._claim_or_error(c)
                for n, c in enumerate(couplings)
            ]

    def _claim_or_error(self, coupling: Coupling) -> Coupling | AlreadyExistsError:
        try:
            return self.claim(coupling)
        except AlreadyExistsError as exc:
            return exc

    def save(self, coupling: Coupling) -> Coupling:
        if coupling.etag is None:
            raise ValueError("save needs the coupling's etag (read it first)")
        with self._lock:
            current = self._by_bc.get((coupling.mapping, coupling.bc_id))
            if current is None or current.etag != coupling.etag:
                raise ConflictError(
                    f"coupling {coupling.mapping} bc {coupling.bc_id} changed since read",
                    status=412,
                )
            if current.crm_id != coupling.crm_id:
                raise ValueError("save cannot change a coupling's crm_id; delete and claim")
            stored = normalize_coupling(coupling, _new_etag())
            self._by_bc[(coupling.mapping, coupling.bc_id)] = stored
            return stored

    def complete_claims(self, couplings: Sequence[Coupling]) -> list[Coupling | ConflictError]:
        """Loops over ``save``; a changed crm_id raises ValueError before anything is saved."""
        check_batch(couplings, need_etags=True)
        skip = repeated(couplings)
        with self._lock:
            self._check_crm_ids_kept([c for n, c in enumerate(couplings) if n not in skip])
            return [
                twice(ConflictError, c) if n in skip else self._save_or_error(c)
                for n, c in enumerate(couplings)
            ]

    def _check_crm_ids_kept(self, couplings: Sequence[Coupling]) -> None:
        for c in couplings:
            current = self._by_bc.get((c.mapping, c.bc_id))
            if current is not None and current.crm_id != c.crm_id:
                raise ValueError("save cannot change a coupling's crm_id; delete and claim")

    def _save_or_error(self, coupling: Coupling) -> Coupling | ConflictError:
        try:
            return self.save(coupling)
        except ConflictError as exc:
            return exc

    def rekey_bc(self, coupling: Coupling, bc_id: str) -> Coupling:
        old_key, new_key = (coupling.mapping, coupling.bc_id), (coupling.mapping, bc_id)
        with self._lock:
            current = self._by_bc.get(old_key)
            if current is None or current.etag != coupling.etag:
                raise ConflictError(
                    f"coupling {coupling.mapping} bc {coupling.bc_id} changed since read", status=412
                )
            if new_key in self._by_bc:
                raise AlreadyExistsError(f"coupling {coupling.mapping} bc {bc_id} already exists", status=409)
            stored = normalize_coupling(replace(coupling, bc_id=bc_id), _new_etag())
            del self._by_bc[old_key]
            self._by_bc[new_key] = stored
            self._by_crm[(coupling.mapping, current.crm_id)] = bc_id
            return stored

    def delete(self, coupling: Coupling) -> None:
        bc_key = (coupling.mapping, coupling.bc_id)
        with self._lock:
            current = self._by_bc.get(bc_key)
            if current is None:
                crm_key = (coupling.mapping, coupling.crm_id)
                if self._by_crm.get(crm_key) == coupling.bc_id:
                    del self._by_crm[crm_key]
                return
            if coupling.etag is not None and current.etag != coupling.etag:
                raise ConflictError(
                    f"coupling {coupling.mapping} bc {coupling.bc_id} changed since read",
                    status=412,
                )
            del self._by_bc[bc_key]
            self._by_crm.pop((coupling.mapping, current.crm_id), None)

    def iter_mapping(self, mapping: str) -> Iterator[Coupling]:
        with self._lock:
            rows = [c for (m, _), c in self._by_bc.items() if m == mapping]
        rows.sort(key=lambda c: key_escape(c.bc_id))
        yield from rows

    def iter_sync_state(self, mapping: str) -> Iterator[Coupling]:
        for c in self.iter_mapping(mapping):
            yield Coupling(
                c.mapping,
                c.bc_id,
                c.crm_id,
                c.state,
                c.bc_modified_on,
                c.crm_modified_on,
                DirectionStatus(c.to_dataverse.result),
                DirectionStatus(c.to_bc.result),
                c.skipped,
            )

    def iter_failed(self, mapping: str, direction: Direction) -> Iterator[Coupling]:
        for c in self.iter_mapping(mapping):
            if c.status(direction).result == "failure" and not c.skipped:
                yield c


class MemoryWatermarkStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, Direction], Watermark] = {}

    def get(self, mapping: str, direction: Direction) -> Watermark:
        with self._lock:
            return self._rows.get((mapping, direction)) or Watermark(mapping, direction)

    def advance(self, watermark: Watermark, value: datetime) -> Watermark:
        value = require_utc(value)
        if watermark.value is not None and value <= watermark.value:
            return watermark
        key = (watermark.mapping, watermark.direction)
        with self._lock:
            current = self._rows.get(key)
            current_etag = current.etag if current else None
            if current_etag != watermark.etag:
                error = AlreadyExistsError if watermark.etag is None else ConflictError
                raise error(
                    f"watermark {watermark.mapping} {watermark.direction} changed since read",
                    status=409 if watermark.etag is None else 412,
                )
            stored = Watermark(watermark.mapping, watermark.direction, value, _new_etag())
            self._rows[key] = stored
            return stored


def _newest_run_first(run: JobRun) -> tuple[float, str]:
    return (-run.started_at.timestamp(), key_escape(run.job_id))


class MemoryJobLogStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, JobRun] = {}
        self._outcomes: dict[str, dict[str, tuple[RecordOutcome, str]]] = {}
        self._chunks: dict[str, dict[int, tuple[dict[str, int], tuple[str, ...], int]]] = {}

    def save_run(self, run: JobRun) -> None:
        with self._lock:
            self._runs[run.job_id] = normalize_run(run)

    def record_outcome(self, job_id: str, source_id: str, outcome: RecordOutcome, message: str = "") -> None:
        checked = check_outcome(outcome)
        with self._lock:
            outcomes = self._outcomes.setdefault(job_id, {})
            previous = outcomes.get(source_id)
            if previous is None or strongest((previous[0], checked)) == checked:
                outcomes[source_id] = (checked, clip(message) or "")

    def record_outcomes(self, job_id: str, entries: Sequence[OutcomeEntry]) -> None:
        for entry in entries:
            self.record_outcome(job_id, entry.source_id, entry.outcome, entry.message)

    def summary(self, job_id: str) -> JobSummary | None:
        with self._lock:
            run = self._runs.get(job_id)
            if run is None:
                return None
            counts = empty_counts()
            for outcome, _ in self._outcomes.get(job_id, {}).values():
                counts[outcome] = counts.get(outcome, 0) + 1
            return JobSummary(run=run, counts=counts)

    def record_chunk(
        self, job_id: str, chunk: int, counts: dict[str, int], sent_again: Sequence[str] = ()
    ) -> None:
        kept: dict[str, int] = {check_outcome(o): n for o, n in counts.items() if n}
        listed = chunk_ids(sent_again) is not None  # as on a Table Storage row
        row = (kept, tuple(sent_again), 0) if listed else (kept, (), len(sent_again))
        with self._lock:
            self._chunks.setdefault(job_id, {})[chunk] = row

    def chunk_tally(self, job_id: str) -> ChunkTally | None:
        with self._lock:
            run = self._runs.get(job_id)
            rows = list(self._chunks.get(job_id, {}).values())
        if run is None:
            return None
        counts = empty_counts()
        for chunk_counts, _, _ in rows:
            for outcome, n in chunk_counts.items():
                counts[outcome] += n
        sent = tuple(i for _, ids, _ in rows for i in ids)
        return ChunkTally(run, counts, sent, sum(r[2] for r in rows), len(rows))

    def outcomes_of(self, job_id: str, source_ids: Sequence[str]) -> dict[str, RecordOutcome]:
        with self._lock:
            outcomes = self._outcomes.get(job_id, {})
            return {i: outcomes[i][0] for i in source_ids if i in outcomes}

    def list_runs(self, mapping: str | None = None, limit: int = 50) -> list[JobRun]:
        with self._lock:
            runs = [r for r in self._runs.values() if mapping is None or r.mapping == mapping]
        runs.sort(key=_newest_run_first)
        return runs[:limit]


class MemorySyncErrorStore:
    _LAST = 16**12 - 1

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[str, SyncErrorEntry]] = []  # (key as Table Storage's RowKey, entry)

    def add(self, entry: SyncErrorEntry) -> None:
        stored = normalize_error(entry)
        with self._lock:
            key = error_key(stored.occurred_at, f"{self._LAST - len(self._entries):012x}")  # later first
            self._entries.append((key, stored))

    def _sorted(self, mapping: str | None) -> list[tuple[str, SyncErrorEntry]]:
        with self._lock:
            rows = [r for r in self._entries if mapping is None or r[1].mapping == mapping]
        return sorted(rows, key=lambda r: r[0])

    def list(self, mapping: str | None = None, limit: int = 100) -> list[SyncErrorEntry]:
        return [e for _, e in self._sorted(mapping)[: max(limit, 0)]]

    def page(
        self, mapping: str | None = None, *, size: int = 50, cursor: str = "", source_id: str = ""
    ) -> SyncErrorPage:
        after = check_error_cursor(cursor)
        rows = [
            r
            for r in self._sorted(mapping)
            if r[0] > after and (not source_id or r[1].source_id == source_id)
        ]
        shown = rows[: max(size, 1)]
        more = len(rows) > len(shown)
        return SyncErrorPage([e for _, e in shown], shown[-1][0] if more else "")


class MemoryMessageQueue:
    """A queue that keeps what was sent, in order (``messages``), for tests and local runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[str] = []
        self.visibility_timeouts: list[int | None] = []
        self._lock = threading.Lock()

    def send(self, body: str, visibility_timeout: int | None = None) -> None:
        with self._lock:
            self.messages.append(body)
            self.visibility_timeouts.append(visibility_timeout)

    def send_many(self, bodies: Iterable[str]) -> int:
        count = 0
        for body in bodies:
            self.send(body)
            count += 1
        return count

    def take_all(self) -> list[str]:
        """Remove and return every message sent so far (oldest first)."""
        with self._lock:
            taken, self.messages, self.visibility_timeouts = self.messages, [], []
        return taken
