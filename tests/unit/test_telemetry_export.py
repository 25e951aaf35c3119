"""``telemetry.configure``: nothing without APPLICATIONINSIGHTS_CONNECTION_STRING; with one, Azure
Monitor's providers, built without a network call at configure time.

Each case runs in a fresh interpreter: OpenTelemetry's global providers can be set once per
process, and "the exporter was never imported" needs a process that never imported it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
FAKE = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9"

NOT_SET = """
import json, sys
from sync_core import telemetry
from sync_core.app import wiring  # what the function app imports
exporting = telemetry.configure()
from sync_core.telemetry.lines import log_record_synchronized, RecordRef
import logging
log_record_synchronized(logging.getLogger("sync_core.x"), RecordRef("CUSTOMER", "to-bc", "id"), "modified")
print(json.dumps({
    "exporting": exporting,
    "azure_monitor": sorted(m for m in sys.modules if m.startswith("azure.monitor")),
    "sdk": sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk")),
    "handlers": [type(h).__name__ for h in logging.getLogger("sync_core").handlers],
}))
"""

SET = """
import json, logging, os, socket, threading
connects = []
real_connect = socket.socket.connect
def connect(self, address):
    connects.append(repr(address))
    return real_connect(self, address)
socket.socket.connect = connect
from opentelemetry import _logs, metrics
from sync_core import telemetry
from sync_core.telemetry.correlation import CorrelationFilter
first, again = telemetry.configure(), telemetry.configure()
handlers = logging.getLogger("sync_core").handlers
print(json.dumps({
    "exporting": [first, again],
    "connects": connects,
    "meter_provider": type(metrics.get_meter_provider()).__module__,
    "logger_provider": type(_logs.get_logger_provider()).__module__,
    "handlers": [type(h).__name__ for h in handlers],
    "filtered": [any(isinstance(f, CorrelationFilter) for f in h.filters) for h in handlers],
    "level": logging.getLogger("sync_core").level,
    "root_handlers": len(logging.getLogger().handlers),
}), flush=True)
os._exit(0)  # no flush of the batch exporters at exit (the endpoint is a closed port)
"""


def _run(script: str, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("APPLICATIONINSIGHTS_", "OTEL_"))}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_the_setting_nothing_is_imported_built_or_exported() -> None:
    result = _run(NOT_SET)
    assert result == {"exporting": False, "azure_monitor": [], "sdk": [], "handlers": []}


def test_with_a_connection_string_the_app_s_loggers_are_exported_and_nothing_is_called() -> None:
    result = _run(
        SET,
        APPLICATIONINSIGHTS_CONNECTION_STRING=FAKE,
        APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED="true",  # the SDK's own settings poll (after 5-15 s)
        APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true",  # and its usage statistics
    )
    assert result["exporting"] == [True, True]
    assert result["connects"] == []  # no call at configure time (no Azure VM metadata probe either)
    assert result["meter_provider"].startswith("opentelemetry.sdk.metrics")
    assert result["logger_provider"].startswith("opentelemetry.sdk._logs")
    assert (result["handlers"], result["filtered"]) == (["LoggingHandler"], [True])  # once, with the filter
    assert result["level"] == 20 and result["root_handlers"] == 0  # INFO; the host's logs are not taken
