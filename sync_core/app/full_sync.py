"""Full synchronization use-cases for the entry points: the ``sync-control`` queue function, the
operator HTTP routes (``/api/manage/full-sync...``) and the CLI. Plain values in and out.

The review store and the control queue are the worker's (``Services.full_sync_review``, table
``bcsyncfullsyncreview``; ``Services.control_queue``, queue ``sync-control``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sync_core.app.http import BadRequest, HttpResult, answer, json_body, names
from sync_core.app.wiring import Services, services
from sync_core.errors import NotFoundError, SyncError, TransientError
from sync_core.settings import MAX_DEQUEUE_COUNT
from sync_core.state.full_sync_review import FullSyncReviewStore, ReviewLine
from sync_core.state.ports import OUTCOMES, MessageQueue
from sync_core.sync.context import SyncContext
from sync_core.sync.full_sync.lines import ControlMessage
from sync_core.sync.full_sync.plan import waiting_on
from sync_core.sync.full_sync.run import (
    ReviewReport,
    full_sync_status,
    process_control_message,
    restart_full_sync,
    start_full_sync,
)

log = logging.getLogger(__name__)


@dataclass
class FullSyncDeps:
    ctx: SyncContext
    reviews: FullSyncReviewStore
    control: MessageQueue


def full_sync_deps(svc: Services | None = None) -> FullSyncDeps:
    svc = svc or services()
    return FullSyncDeps(svc.sync_context(), svc.full_sync_review, svc.control_queue)


def full_sync_running(mapping: str, deps: FullSyncDeps | None = None) -> bool:
    """Whether the current full synchronization's line of ``mapping`` is In Process."""
    d = deps or full_sync_deps()
    report = full_sync_status(d.reviews)
    return report is not None and any(
        line.mapping == mapping and line.status == "In Process" for line in report.lines
    )


# -- queue ------------------------------------------------------------------------------------------


def process_control(
    body: bytes | str, *, dequeue_count: int | None = None, deps: FullSyncDeps | None = None
) -> str:
    """Queue trigger body. Transient errors re-raise (redelivery); on the last attempt the line is
    put in Error so the review shows it (and ``full-sync restart`` takes it up again)."""
    d = deps or full_sync_deps()
    try:
        return process_control_message(d.ctx, d.reviews, d.control, body)
    except TransientError as exc:
        if (dequeue_count or 0) >= MAX_DEQUEUE_COUNT:
            _give_up(d, ControlMessage.from_json(body), exc)
        raise


def _give_up(d: FullSyncDeps, message: ControlMessage, exc: SyncError) -> None:
    try:
        line = d.reviews.get_line(message.run_id, message.mapping)
        if line is not None and line.attempt == message.attempt and line.status != "Finished":
            text = f"gave up after {MAX_DEQUEUE_COUNT} attempts: {exc.message}; run `full-sync restart`"
            d.reviews.save_line(replace(line, status="Error", finished_at=d.ctx.clock(), message=text))
    except SyncError as again:  # storage is down too: the log line is all we can leave
        log.error("full sync %s %s: could not record the failure: %s", message.run_id, message.mapping, again)


# -- operator verbs ---------------------------------------------------------------------------------


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def line_row(line: ReviewLine, lines: Sequence[ReviewLine]) -> dict[str, Any]:
    message = line.message
    if line.status == "Waiting" and waiting_on(line, lines):  # BC: "Dependency not satisfied"
        waiting = f"dependency not satisfied: {', '.join(waiting_on(line, lines))}"
        message = f"{waiting}; {message}" if message else waiting
    return {
        "mapping": line.mapping,
        "recommendation": line.recommendation,
        "status": line.status,
        **{outcome: int(line.counts.get(outcome, 0)) for outcome in OUTCOMES},
        "dependencies": ", ".join(line.dependencies),
        "jobs": ", ".join(f"{k} {v}" for k, v in line.jobs.items()),
        "started_at": _iso(line.started_at),
        "finished_at": _iso(line.finished_at),
        "message": message,
    }


def report_json(report: ReviewReport, mappings: Sequence[str] | None = None) -> dict[str, Any]:
    lines = report.lines
    shown = [li for li in lines if not mappings or li.mapping in mappings]
    review: dict[str, Any] = {
        "run_id": report.review.run_id,
        "state": report.state,
        "started_at": _iso(report.review.started_at),
        "trigger": report.review.trigger,
        "lines_finished": f"{sum(li.status == 'Finished' for li in lines)} of {len(lines)}",
    }
    if report.note:
        review["note"] = report.note
    return {"review": review, "lines": [line_row(li, lines) for li in shown]}


def start(
    mappings: Sequence[str] | None = None,
    recommend_full_sync: Sequence[str] = (),
    match: Mapping[str, Sequence[str]] | None = None,
    *,
    trigger: str = "command",
    deps: FullSyncDeps | None = None,
) -> dict[str, Any]:
    d = deps or full_sync_deps()
    report = start_full_sync(
        d.ctx,
        d.reviews,
        d.control,
        mappings,
        recommend_full_sync=recommend_full_sync,
        match=match,
        trigger=trigger,
    )
    return report_json(report)


def status(
    run_id: str | None = None, mappings: Sequence[str] | None = None, *, deps: FullSyncDeps | None = None
) -> dict[str, Any]:
    d = deps or full_sync_deps()
    report = full_sync_status(d.reviews, run_id)
    if report is None:
        raise NotFoundError(
            f"no full synchronization {run_id}" if run_id else "no full synchronization has been started"
        )
    return report_json(report, mappings)


def restart(
    run_id: str | None = None, mappings: Sequence[str] | None = None, *, deps: FullSyncDeps | None = None
) -> dict[str, Any]:
    d = deps or full_sync_deps()
    return report_json(restart_full_sync(d.ctx, d.reviews, d.control, run_id, mappings))


# -- HTTP (manage/full-sync ...) --------------------------------------------------------------------


def _match(value: Any) -> dict[str, list[str]]:
    """``{"CUSTOMER": ["name"], ...}`` (a comma-separated string is accepted for the list)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest('match must be an object like {"CUSTOMER": ["name"]}')
    result = {}
    for mapping, attrs in value.items():
        attrs = attrs.split(",") if isinstance(attrs, str) else attrs
        if not isinstance(attrs, list) or not all(isinstance(a, str) and a.strip() for a in attrs):
            raise BadRequest(f"match of {mapping} must be a list of Dataverse attribute names")
        result[str(mapping)] = [a.strip() for a in attrs]
    return result


def http_start(raw: bytes, *, deps: FullSyncDeps | None = None) -> HttpResult:
    def call() -> HttpResult:
        data = json_body(raw, {"mappings", "recommend_full_sync", "match"})
        chosen, full = names(data, "mappings"), names(data, "recommend_full_sync")
        match = _match(data.get("match"))
        return HttpResult(202, start(chosen or None, full, match, trigger="http", deps=deps))

    return answer(call)


def http_status(params: Mapping[str, str], *, deps: FullSyncDeps | None = None) -> HttpResult:
    mappings = [m for m in (params.get("mapping") or "").split(",") if m]
    return answer(lambda: HttpResult(200, status(params.get("run_id") or None, mappings or None, deps=deps)))


def http_restart(raw: bytes, *, deps: FullSyncDeps | None = None) -> HttpResult:
    def call() -> HttpResult:
        data = json_body(raw, {"run_id", "mappings"})
        run_id = data.get("run_id")
        if run_id is not None and not isinstance(run_id, str):
            raise BadRequest("run_id must be a string")
        return HttpResult(202, restart(run_id or None, names(data, "mappings") or None, deps=deps))

    return answer(call)
