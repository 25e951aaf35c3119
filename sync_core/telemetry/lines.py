"""Structured log lines: one per job run, one per synchronized record, one per failed record.

Each line is a readable %-style message and carries its fields as log record attributes
(``extra=``): Application Insights (``azure-monitor-opentelemetry`` 1.8) turns every attribute of
a log record into a key of ``customDimensions``; a nested dict would arrive as one string, so the
fields are flat (``DIMENSIONS``). Only ids, names of mappings and fields, counts, codes and
durations: never a record's values, a message text from the other system, a name, an e-mail or
a secret (an error's message can quote field values: it goes to the sync errors, not here).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sync_core.telemetry.correlation import CORRELATION_ID, current_correlation_id, parse_time
from sync_core.telemetry.metrics import count_failed, count_synchronized, record_latency

EVENT = "event"  # customDimensions.event: job_run | record_synchronized | record_failed
JOB_RUN, RECORD_SYNCHRONIZED, RECORD_FAILED = "job_run", "record_synchronized", "record_failed"
WRITES = frozenset({"inserted", "modified"})  # the outcomes that wrote to the other side
COUNT_PREFIX = "count_"
# the fields a line can carry (and count_<name> on job runs)
DIMENSIONS = (
    EVENT, "job", "job_id", "mapping", "direction", "trigger", "reason", "source_id",
    "destination_id", "outcome", CORRELATION_ID, "error_code", "http_status", "field", "skipped",
    "duration_ms", "latency_ms",
)  # fmt: skip


@dataclass(frozen=True)
class JobRunSummary:
    """One job run as its job-log row shows it."""

    job: str  # what ran: "mapping job", "webhook", "full-sync job", "sales documents", "statistics", ...
    job_id: str
    mapping: str = ""
    direction: str = ""
    trigger: str = ""  # timer, webhook, command, ...
    counts: Mapping[str, int] = field(default_factory=dict)
    duration_s: float | None = None
    detail: str = ""  # ids and numbers only (a watermark, a run id)


@dataclass(frozen=True)
class RecordRef:
    """Which record of which mapping, in which direction, for which job and change."""

    mapping: str
    direction: str
    source_id: str
    job_id: str = ""
    reason: str = ""
    destination_id: str = ""
    correlation_id: str = ""  # "" -> the current scope's


def dimensions(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a log record carries (what becomes its customDimensions)."""
    known = {k: v for k, v in vars(record).items() if k in DIMENSIONS or k.startswith(COUNT_PREFIX)}
    return {k: v for k, v in known.items() if v not in ("", None)}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 1)


def _extra(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in ("", None)}


def _ref_fields(ref: RecordRef) -> dict[str, Any]:
    return {
        "mapping": ref.mapping,
        "direction": ref.direction,
        "source_id": ref.source_id,
        "destination_id": ref.destination_id,
        "job_id": ref.job_id,
        "reason": ref.reason,
        CORRELATION_ID: ref.correlation_id or current_correlation_id(),
    }


def log_job_run(logger: logging.Logger, run: JobRunSummary, level: int = logging.INFO) -> None:
    counts = {f"{COUNT_PREFIX}{k.replace(' ', '_')}": int(v) for k, v in run.counts.items()}
    what = " ".join(p for p in (run.mapping, run.direction, run.job) if p)
    counted = ", ".join(f"{k} {v}" for k, v in run.counts.items()) or "nothing counted"
    took = f" in {run.duration_s:.2f} s" if run.duration_s is not None else ""
    extra = _extra(
        {
            EVENT: JOB_RUN,
            "job": run.job,
            "job_id": run.job_id,
            "mapping": run.mapping,
            "direction": run.direction,
            "trigger": run.trigger,
            CORRELATION_ID: current_correlation_id(),
            "duration_ms": _ms(run.duration_s),
            **counts,
        }
    )
    detail = f"; {run.detail}" if run.detail else ""
    trigger = f" ({run.trigger})" if run.trigger else ""
    logger.log(level, "%s %s%s: %s%s%s", what, run.job_id, trigger, counted, took, detail, extra=extra)


def log_record_synchronized(
    logger: logging.Logger,
    ref: RecordRef,
    outcome: str,
    *,
    duration_s: float | None = None,
    received_at: str = "",
    now: datetime | None = None,
) -> None:
    """A record's processing that ended without failure; a write also measures the change latency."""
    latency = None
    arrived = parse_time(received_at) if outcome in WRITES else None
    if arrived is not None:
        latency = ((now or datetime.now(UTC)) - arrived).total_seconds()
        record_latency(ref.mapping, ref.direction, ref.reason, latency)
    count_synchronized(ref.mapping, ref.direction, outcome)
    fields = _ref_fields(ref)
    extra = _extra(
        {EVENT: RECORD_SYNCHRONIZED, **fields, "outcome": outcome, "duration_ms": _ms(duration_s)}
        | {"latency_ms": _ms(latency)}
    )
    logger.info(
        "%s %s %s -> %s: %s (job %s, correlation %s)",
        ref.mapping,
        ref.direction,
        ref.source_id,
        ref.destination_id or "-",
        outcome,
        ref.job_id or "-",
        fields[CORRELATION_ID] or "-",
        extra=extra,
    )


def error_code(error: BaseException) -> str:
    """The remote error code when there is one, else the kind of error (``MappingError``)."""
    return str(getattr(error, "code", None) or type(error).__name__)


def log_record_failed(
    logger: logging.Logger,
    ref: RecordRef,
    error: BaseException,
    *,
    skipped: bool = False,
    duration_s: float | None = None,
) -> None:
    """The one line of a record whose failure went to the sync errors (the message is there)."""
    code, field_name = error_code(error), str(getattr(error, "field", "") or "")
    count_failed(ref.mapping, ref.direction, code)
    fields = _ref_fields(ref)
    extra = _extra(
        {EVENT: RECORD_FAILED, **fields, "error_code": code, "field": field_name}
        | {"http_status": getattr(error, "status", None), "skipped": skipped, "duration_ms": _ms(duration_s)}
    )
    logger.warning(
        "%s %s %s failed: %s%s%s; see `errors` for the message and remedy (job %s, correlation %s)",
        ref.mapping,
        ref.direction,
        ref.source_id,
        code,
        f" on field {field_name}" if field_name else "",
        " -> Skipped" if skipped else "",
        ref.job_id or "-",
        fields[CORRELATION_ID] or "-",
        extra=extra,
    )
