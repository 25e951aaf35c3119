"""Test helpers for telemetry: capture log records (the app's, or every logger's at DEBUG) and read
the sync's counters from an OpenTelemetry in-memory metric reader."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from sync_core.telemetry.correlation import CorrelationFilter
from sync_core.telemetry.lines import dimensions
from sync_core.telemetry.metrics import use_meter_provider

# LogRecord's own attributes: everything else on a record is what an exporter sends as a dimension
RESERVED = frozenset(vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None))) | {"message"}


class RecordList(logging.Handler):
    """Keeps every record it sees, with the correlation filter the exported handler has."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.addFilter(CorrelationFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def events(self, event: str) -> list[dict[str, Any]]:
        """The dimensions of the records of one structured event (job_run, record_failed, ...)."""
        return [dimensions(r) for r in self.records if getattr(r, "event", None) == event]


@contextmanager
def app_logs(level: int = logging.INFO) -> Iterator[RecordList]:
    """The records of the app's loggers (``sync_core``), as the Application Insights handler gets them."""
    logger, handler = logging.getLogger("sync_core"), RecordList()
    previous = logger.level
    logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@contextmanager
def every_log_record() -> Iterator[list[logging.LogRecord]]:
    """Every record any logger makes at DEBUG and above (levels lowered, disabled loggers enabled).

    Records are taken where they are made (the record factory), so a logger that does not
    propagate, or has no handler, is captured as well.
    """
    captured: list[logging.LogRecord] = []
    factory = logging.getLogRecordFactory()
    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    saved = [(lg, lg.level, lg.disabled) for lg in [logging.root, *loggers]]

    def capture(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        captured.append(record)
        return record

    for lg, level, _ in saved:
        lg.disabled = False
        if level > logging.DEBUG or lg is logging.root:
            lg.setLevel(logging.DEBUG)
    logging.setLogRecordFactory(capture)
    logging.disable(logging.NOTSET)
    try:
        yield captured
    finally:
        logging.setLogRecordFactory(factory)
        for lg, level, disabled in saved:
            lg.setLevel(level)
            lg.disabled = disabled


def exported_text(record: logging.LogRecord) -> list[str]:
    """What an exporter could send of a record: the message, every extra attribute, the exception."""
    texts = [record.getMessage()]
    texts += [f"{k}={v!r}" for k, v in vars(record).items() if k not in RESERVED]
    if record.exc_info:
        texts.append(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        texts.append(record.stack_info)
    return texts


@dataclass
class Meters:
    reader: InMemoryMetricReader
    provider: MeterProvider

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, point) of every data point of the metric ``name`` collected so far."""
        data = self.reader.get_metrics_data()
        found: list[tuple[dict[str, Any], Any]] = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
        return found

    def total(self, name: str, **attributes: str) -> float:
        """The sum of a counter (or the count of a histogram) over the points with ``attributes``."""
        points = [p for attrs, p in self.points(name) if attributes.items() <= attrs.items()]
        return sum(p.value if hasattr(p, "value") else p.count for p in points)


@contextmanager
def meters() -> Iterator[Meters]:
    """The sync's instruments counting into an in-memory reader (the global provider is left alone)."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    use_meter_provider(provider)
    try:
        yield Meters(reader, provider)
    finally:
        use_meter_provider(None)
        provider.shutdown()
