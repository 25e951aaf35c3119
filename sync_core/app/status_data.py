"""What the status page shows, read from the stores (and, for webhook health, the two APIs).

Every read is bounded whatever the tenant's size: a mapping's last few runs (one partition query
each; a finished run's counts are kept on its row), one page of sync errors (a range query) plus
one coupling read per shown error, a coupling search by id (point reads), the review's lines, and
for health a queue-properties call per queue and two small API queries. Independent reads run in
parallel on a small thread pool (they wait on I/O).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sync_core.app.bc_webhooks import subscriptions
from sync_core.app.full_sync import report_json
from sync_core.app.operations import mapping_rows
from sync_core.app.wiring import Services
from sync_core.errors import SyncError
from sync_core.settings import CONTROL_QUEUE, DOCUMENT_QUEUE, RECORD_QUEUE
from sync_core.state.ports import Coupling, JobRun, SyncErrorEntry, coupling_of_source
from sync_core.state.queues import queue_depth
from sync_core.sync.commands.webhook_registration import WebhookRegistration
from sync_core.sync.full_sync.run import full_sync_status
from sync_core.vocabulary import TO_DATAVERSE

RUNS_PER_MAPPING = 3
ERRORS_PER_PAGE = 50
POISON_SUFFIX = "-poison"  # the Functions host's poison queue of a queue
_WORKERS = 8

T = TypeVar("T")
R = TypeVar("R")


def in_parallel(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(i) for i in items]``, the calls on a small thread pool (I/O-bound reads)."""
    work = list(items)
    if len(work) <= 1:
        return [fn(i) for i in work]
    with ThreadPoolExecutor(max_workers=min(_WORKERS, len(work))) as pool:
        return list(pool.map(fn, work))


@dataclass(frozen=True)
class RunView:
    run: JobRun
    counts: dict[str, int]
    finished: bool


@dataclass(frozen=True)
class MappingView:
    name: str
    direction: str
    schedule_minutes: int
    timer: str
    synch_only_coupled: bool
    settings_error: str
    runs: list[RunView]


@dataclass(frozen=True)
class ErrorView:
    entry: SyncErrorEntry
    bc_id: str  # the BC id of the record (its counterpart's when the error is from Dataverse)
    crm_id: str
    state: str  # Failure | Skipped | Success | Coupled | Not coupled
    action: str  # retry | restore | "" (nothing to do)

    @property
    def action_body(self) -> dict[str, str]:
        """What the manage route's retry / restore takes: the id on the error's source side."""
        if self.entry.direction == TO_DATAVERSE:
            return {"bc_id": self.bc_id or self.entry.source_id}
        return {"crm_id": self.crm_id or self.entry.source_id}


@dataclass(frozen=True)
class ErrorsView:
    rows: list[ErrorView]
    mapping: str = ""
    record: str = ""
    cursor: str = ""
    next_cursor: str = ""


@dataclass(frozen=True)
class CouplingSearch:
    query: str = ""
    couplings: list[Coupling] = field(default_factory=list)
    problem: str = ""


@dataclass(frozen=True)
class QueueView:
    name: str
    waiting: int | None
    poison: int | None
    problem: str = ""


@dataclass(frozen=True)
class HealthView:
    queues: list[QueueView]
    dataverse: dict[str, Any]
    bc_subscriptions: list[dict[str, Any]]
    problems: dict[str, str]


# -- mappings and their last runs ------------------------------------------------------------------


def _run_view(svc: Services, run: JobRun) -> RunView:
    summary = svc.stores.job_log.summary(run.job_id)
    if summary is None:
        return RunView(run, {}, False)
    return RunView(summary.run, summary.counts, summary.finished)


def _mapping_view(svc: Services, row: dict[str, Any]) -> MappingView:
    runs = svc.stores.job_log.list_runs(row["name"], limit=RUNS_PER_MAPPING)
    return MappingView(
        name=row["name"],
        direction=row["direction"],
        schedule_minutes=int(row["schedule_minutes"] or 0),
        timer=row["timer_function"] or "",
        synch_only_coupled=bool(row["synch_only_coupled"]),
        settings_error=row.get("settings_error", ""),
        runs=[_run_view(svc, r) for r in runs],
    )


def mapping_views(svc: Services) -> list[MappingView]:
    rows = mapping_rows(svc.catalog, svc.mapping_settings)
    return in_parallel(lambda row: _mapping_view(svc, row), rows)


# -- sync errors -----------------------------------------------------------------------------------


def _state_of(coupling: Coupling | None, entry: SyncErrorEntry) -> tuple[str, str]:
    if coupling is None:
        return "Not coupled", "retry"  # its creation failed: retry sends it again
    if coupling.skipped:
        return "Skipped", "restore"
    result = coupling.status(entry.direction).result
    if result == "failure":
        return "Failure", "retry"
    return ("Success", "") if result == "success" else ("Coupled", "")


def _error_view(svc: Services, entry: SyncErrorEntry) -> ErrorView:
    try:
        coupling = coupling_of_source(svc.stores.couplings, entry.mapping, entry.direction, entry.source_id)
    except SyncError:
        coupling = None
    state, action = _state_of(coupling, entry)
    bc_id = coupling.bc_id if coupling else (entry.source_id if entry.direction == TO_DATAVERSE else "")
    crm_id = coupling.crm_id if coupling else (entry.source_id if entry.direction != TO_DATAVERSE else "")
    return ErrorView(entry, bc_id, crm_id, state, action)


def errors_view(svc: Services, mapping: str = "", record: str = "", cursor: str = "") -> ErrorsView:
    """One page of errors, newest first (``ValueError`` for a cursor the store did not make)."""
    page = svc.stores.sync_errors.page(mapping or None, size=ERRORS_PER_PAGE, cursor=cursor, source_id=record)
    rows = in_parallel(lambda e: _error_view(svc, e), page.entries)
    return ErrorsView(rows, mapping, record, cursor, page.next_cursor)


# -- couplings -------------------------------------------------------------------------------------


def coupling_search(svc: Services, text: str, mapping: str = "") -> CouplingSearch:
    """Couplings whose BC id or Dataverse id is ``text`` (in ``mapping``, or in every mapping)."""
    text = text.strip()
    if not text:
        return CouplingSearch()
    try:
        record_id = str(uuid.UUID(text))
    except ValueError:
        return CouplingSearch(text, problem="Search by a BC id or a Dataverse id (a GUID).")
    names = [mapping] if mapping else [m.name for m in svc.catalog]
    store = svc.stores.couplings

    def both(name: str) -> list[Coupling]:
        return [c for c in (store.get_by_bc(name, record_id), store.get_by_crm(name, record_id)) if c]

    found: dict[tuple[str, str], Coupling] = {}
    for couplings in in_parallel(both, names):
        for c in couplings:
            found[(c.mapping, c.bc_id)] = c
    return CouplingSearch(text, sorted(found.values(), key=lambda c: c.mapping))


# -- full synchronization review -------------------------------------------------------------------


def review_view(svc: Services) -> dict[str, Any] | None:
    report = full_sync_status(svc.full_sync_review)
    return None if report is None else report_json(report)


# -- webhooks, subscriptions and queues ------------------------------------------------------------


def _queue_view(svc: Services, name: str) -> QueueView:
    try:
        return QueueView(
            name,
            queue_depth(svc.settings.storage, name),
            queue_depth(svc.settings.storage, name + POISON_SUFFIX),
        )
    except SyncError as exc:
        return QueueView(name, None, None, exc.message)


def _guarded(call: Callable[[], T], problems: dict[str, str], key: str, default: T) -> T:
    try:
        return call()
    except SyncError as exc:
        problems[key] = exc.message
        return default


def health_view(svc: Services) -> HealthView:
    problems: dict[str, str] = {}
    registration = WebhookRegistration(svc.dataverse, svc.catalog)
    no_endpoint: dict[str, Any] = {}
    no_subscriptions: list[dict[str, Any]] = []
    checks: list[Callable[[], Any]] = [
        lambda: in_parallel(lambda n: _queue_view(svc, n), (RECORD_QUEUE, CONTROL_QUEUE, DOCUMENT_QUEUE)),
        lambda: _guarded(registration.health, problems, "dataverse", no_endpoint),
        lambda: _guarded(subscriptions(svc).listing, problems, "bc", no_subscriptions),
    ]
    queues, dataverse, bc = in_parallel(lambda check: check(), checks)
    return HealthView(queues, dataverse, bc, problems)
