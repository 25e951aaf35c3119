"""OpenTelemetry export to Application Insights, only when ``APPLICATIONINSIGHTS_CONNECTION_STRING``
is set, configured once per worker on first use (``wiring.services()``), never at import.

``configure_azure_monitor`` (``azure-monitor-opentelemetry``) gets:

- ``logger_name="sync_core"``: only the app's own loggers are exported, at INFO and above (the
  Functions host sends its own logs itself; library loggers such as ``urllib3`` or ``azure`` are
  not exported, whatever they log at DEBUG);
- every automatic instrumentation off (``requests``, ``urllib3``, ``azure_sdk``, ...): a dependency
  span would carry the OData URL, whose ``$filter`` can hold a value;
- live metrics and performance counters off (the Functions host reports the process).

Entra sign-in for ingestion (local authentication off in ``infra/``) comes from
``APPLICATIONINSIGHTS_AUTHENTICATION_STRING``, which the exporter reads itself. The resource
detectors default to App Service's (environment only): the Azure VM detector would call the
instance metadata endpoint at start-up for nothing on Functions.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping

from sync_core.telemetry.correlation import CorrelationFilter

CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
APP_LOGGER = "sync_core"
RESOURCE_DETECTORS = "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS"
INSTRUMENTATIONS = (
    "azure_sdk", "django", "fastapi", "flask", "httpx", "httpx2", "psycopg2", "requests", "urllib",
    "urllib3",
)  # fmt: skip

_lock = threading.Lock()
_configured: list[bool] = []  # one entry once configured (per worker process)


def connection_string(environ: Mapping[str, str] | None = None) -> str:
    return (os.environ if environ is None else environ).get(CONNECTION_STRING, "").strip()


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Export logs and metrics to Application Insights if the setting is there; True if exporting.

    Without the setting nothing is imported, built or exported. Safe to call again: the first
    call that finds the setting configures, later ones return True.
    """
    conn = connection_string(environ)
    if not conn:
        return False
    with _lock:
        if not _configured:
            _configure_azure_monitor(conn)
            _configured.append(True)
    return True


def is_configured() -> bool:
    return bool(_configured)


def _configure_azure_monitor(conn: str) -> None:
    from azure.monitor.opentelemetry import configure_azure_monitor  # only when exporting

    os.environ.setdefault(RESOURCE_DETECTORS, "azure_app_service")
    configure_azure_monitor(
        connection_string=conn,
        logger_name=APP_LOGGER,
        instrumentation_options={name: {"enabled": False} for name in INSTRUMENTATIONS},
        enable_live_metrics=False,
        enable_performance_counters=False,
    )
    app_logger = logging.getLogger(APP_LOGGER)
    if app_logger.level == logging.NOTSET:
        app_logger.setLevel(logging.INFO)  # job and record lines are INFO; the root may be WARNING
    install_correlation_filter(app_logger)


def install_correlation_filter(logger: logging.Logger) -> None:
    """A ``CorrelationFilter`` on each of ``logger``'s handlers that has none (records of child
    loggers pass the handlers, not the parent logger's filters)."""
    for handler in logger.handlers:
        if not any(isinstance(f, CorrelationFilter) for f in handler.filters):
            handler.addFilter(CorrelationFilter())
