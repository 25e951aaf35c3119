"""Telemetry for operators: structured log lines, the correlation id of a change, metrics, and the
export to Application Insights when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set.

``lines``: one line per job run, per synchronized record and per failed record (ids only).
``correlation``: the ``correlated`` scope and the ``CorrelationFilter``.
``metrics``: records synchronized / failed per mapping, the change latency.
``export``: ``configure()``, once per worker, never at import.

Below every other part of ``sync_core`` (it imports none of them): any layer may use it.
"""

from sync_core.telemetry.correlation import (
    CorrelationFilter,
    correlated,
    current_correlation_id,
    current_received_at,
)
from sync_core.telemetry.export import configure
from sync_core.telemetry.lines import (
    JobRunSummary,
    RecordRef,
    error_code,
    log_job_run,
    log_record_failed,
    log_record_synchronized,
)
from sync_core.telemetry.metrics import count_synchronized

__all__ = [
    "CorrelationFilter",
    "JobRunSummary",
    "RecordRef",
    "configure",
    "correlated",
    "count_synchronized",
    "current_correlation_id",
    "current_received_at",
    "error_code",
    "log_job_run",
    "log_record_failed",
    "log_record_synchronized",
]
