"""The sync's OpenTelemetry metrics: records synchronized and failed, and the change latency.

The instruments come from the global meter provider, which ``telemetry.configure`` sets to Azure
Monitor's when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set; otherwise it is OpenTelemetry's
no-op provider and a count costs a method call. They are made on first use, never at import.
Tests pass their own provider (with an in-memory reader) to ``use_meter_provider``.

| instrument | kind | unit | attributes |
|---|---|---|---|
| ``bcsync.records.synchronized`` | counter | record | mapping, direction, outcome |
| ``bcsync.records.failed`` | counter | record | mapping, direction, error_code |
| ``bcsync.change.latency`` | histogram | s | mapping, direction, reason |

``outcome`` is BC's (inserted, modified, unchanged, skipped, uncoupled); ``bcsync.change.latency``
is the time from the change's arrival (the webhook, or the start of the job that found it) to the
write on the other side: with ``reason = webhook`` it is the webhook-to-write latency.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the API itself is imported on the first count, not with the core
    from opentelemetry import metrics

METER_NAME = "sync_core"
SYNCHRONIZED = "bcsync.records.synchronized"
FAILED = "bcsync.records.failed"
LATENCY = "bcsync.change.latency"


@dataclass(frozen=True)
class _Instruments:
    synchronized: metrics.Counter
    failed: metrics.Counter
    latency: metrics.Histogram


class _Meters:
    def __init__(self) -> None:
        self.provider: metrics.MeterProvider | None = None  # None: the global provider
        self.instruments: _Instruments | None = None
        self.lock = threading.Lock()

    def get(self) -> _Instruments:
        with self.lock:
            if self.instruments is None:
                from opentelemetry import metrics

                provider = self.provider or metrics.get_meter_provider()
                meter = provider.get_meter(METER_NAME)
                self.instruments = _Instruments(
                    meter.create_counter(SYNCHRONIZED, unit="{record}", description="records synchronized"),
                    meter.create_counter(FAILED, unit="{record}", description="records failed"),
                    meter.create_histogram(
                        LATENCY, unit="s", description="from the change's arrival to the write"
                    ),
                )
            return self.instruments


_meters = _Meters()


def use_meter_provider(provider: metrics.MeterProvider | None) -> None:
    """Count into ``provider`` from now on (None: the global provider again)."""
    with _meters.lock:
        _meters.provider = provider
        _meters.instruments = None


def count_synchronized(mapping: str, direction: str, outcome: str, amount: int = 1) -> None:
    attributes = {"mapping": mapping, "direction": direction, "outcome": outcome}
    _meters.get().synchronized.add(amount, attributes)


def count_failed(mapping: str, direction: str, error_code: str) -> None:
    attributes = {"mapping": mapping, "direction": direction, "error_code": error_code}
    _meters.get().failed.add(1, attributes)


def record_latency(mapping: str, direction: str, reason: str, seconds: float) -> None:
    attributes = {"mapping": mapping, "direction": direction, "reason": reason}
    _meters.get().latency.record(max(seconds, 0.0), attributes)
