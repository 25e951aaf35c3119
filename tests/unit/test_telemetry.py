"""Telemetry: the structured lines, the correlation scope and filter, the messages' new fields, the
counters, and how Application Insights (azure-monitor-opentelemetry 1.8) exports a line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from azure.monitor.opentelemetry.exporter.export.logs._exporter import _convert_log_to_envelope
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from sync_core.errors import DataError, MappingError
from sync_core.sales.messages import DocumentMessage
from sync_core.sync.full_sync.lines import LINE_MESSAGE, ControlMessage
from sync_core.sync.messages import RecordMessage
from sync_core.telemetry import (
    CorrelationFilter,
    JobRunSummary,
    RecordRef,
    correlated,
    current_correlation_id,
    log_job_run,
    log_record_failed,
    log_record_synchronized,
)
from sync_core.telemetry.export import install_correlation_filter
from sync_core.telemetry.metrics import FAILED, LATENCY, SYNCHRONIZED
from tests.telemetry_support import app_logs, meters

log = logging.getLogger("sync_core.test_telemetry")
ACCOUNT = "5f0e4a52-1111-4a52-8000-000000000001"
CUSTOMER = "c7d1a9e0-2222-4a52-8000-000000000002"


def test_a_job_run_is_one_readable_line_with_flat_dimensions() -> None:
    with app_logs() as logs, correlated("job-1"):
        run = JobRunSummary(
            "mapping job", "job-1", "CUSTOMER", "to-bc", "timer", {"read": 3, "passed over": 1}, 0.25
        )
        log_job_run(log, run)
    [record] = logs.records
    assert record.getMessage() == "CUSTOMER to-bc mapping job job-1 (timer): read 3, passed over 1 in 0.25 s"
    assert logs.events("job_run") == [
        {
            "event": "job_run",
            "job": "mapping job",
            "job_id": "job-1",
            "mapping": "CUSTOMER",
            "direction": "to-bc",
            "trigger": "timer",
            "correlation_id": "job-1",
            "duration_ms": 250.0,
            "count_read": 3,
            "count_passed_over": 1,
        }
    ]


def test_a_write_counts_and_measures_the_latency_from_the_change_s_arrival() -> None:
    arrived = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    ref = RecordRef("CUSTOMER", "to-bc", ACCOUNT, "job-2", "webhook", CUSTOMER, correlation_id="corr-2")
    with app_logs() as logs, meters() as m:
        log_record_synchronized(
            log,
            ref,
            "modified",
            duration_s=0.1,
            received_at=arrived.isoformat(),
            now=arrived + timedelta(seconds=3),
        )
        log_record_synchronized(
            log, ref, "unchanged", received_at=arrived.isoformat()
        )  # no write: no latency
        assert m.total(SYNCHRONIZED, mapping="CUSTOMER", direction="to-bc", outcome="modified") == 1
        assert m.total(SYNCHRONIZED, mapping="CUSTOMER", outcome="unchanged") == 1
        [(attrs, point)] = m.points(LATENCY)
        assert attrs == {"mapping": "CUSTOMER", "direction": "to-bc", "reason": "webhook"}
        assert (point.count, point.sum) == (1, 3.0)
    written = logs.events("record_synchronized")[0]
    assert written == {
        "event": "record_synchronized",
        "mapping": "CUSTOMER",
        "direction": "to-bc",
        "source_id": ACCOUNT,
        "destination_id": CUSTOMER,
        "job_id": "job-2",
        "reason": "webhook",
        "correlation_id": "corr-2",
        "outcome": "modified",
        "duration_ms": 100.0,
        "latency_ms": 3000.0,
    }
    assert (
        logs.records[0].getMessage()
        == f"CUSTOMER to-bc {ACCOUNT} -> {CUSTOMER}: modified (job job-2, correlation corr-2)"
    )


def test_a_failure_line_names_the_code_and_field_never_the_message() -> None:
    secret_value = "+44 20 7946 0000 extension 1234567890"
    bc_error = DataError(
        f"The length of the string is 37 ... Value: {secret_value}",
        code="Application_StringExceededLength",
        status=400,
    )
    mapping_error = MappingError(
        f"Currency Code {secret_value} must be coupled", field="_transactioncurrencyid_value"
    )
    ref = RecordRef("CUSTOMER", "to-bc", ACCOUNT, "job-3", "webhook")
    with app_logs() as logs, meters() as m, correlated("corr-3"):
        log_record_failed(log, ref, bc_error)
        log_record_failed(log, ref, mapping_error, skipped=True)
        assert m.total(FAILED, mapping="CUSTOMER", error_code="Application_StringExceededLength") == 1
        assert m.total(FAILED, mapping="CUSTOMER", error_code="MappingError") == 1
    first, second = logs.events("record_failed")
    assert first == {
        "event": "record_failed",
        "mapping": "CUSTOMER",
        "direction": "to-bc",
        "source_id": ACCOUNT,
        "job_id": "job-3",
        "reason": "webhook",
        "correlation_id": "corr-3",
        "error_code": "Application_StringExceededLength",
        "http_status": 400,
        "skipped": False,
    }
    assert (second["error_code"], second["field"], second["skipped"]) == (
        "MappingError",
        "_transactioncurrencyid_value",
        True,
    )
    assert logs.records[1].levelno == logging.WARNING
    assert "on field _transactioncurrencyid_value -> Skipped" in logs.records[1].getMessage()
    assert all(secret_value not in r.getMessage() and secret_value not in repr(vars(r)) for r in logs.records)


def test_the_filter_stamps_records_of_child_loggers_inside_a_scope_only() -> None:
    child = logging.getLogger("sync_core.systems.somewhere")
    with app_logs() as logs:
        child.info("outside")
        with correlated("corr-4", received_at=datetime(2026, 1, 1, tzinfo=UTC)) as scope:
            child.info("inside")
            child.info("own id", extra={"correlation_id": "given"})
            with correlated("job-9", keep_current=True):  # a job run for a change keeps its id
                child.info("job inside the change")
            with correlated("job-10"):
                child.info("a scope of its own")
            assert scope.received_at == "2026-01-01T00:00:00+00:00"
        child.info("after")
    stamped = [getattr(r, "correlation_id", None) for r in logs.records]
    assert stamped == [None, "corr-4", "given", "corr-4", "job-10", None]
    assert current_correlation_id() == ""
    with correlated() as fresh:
        assert len(fresh.correlation_id) == 36  # a new id when the change brings none


def test_install_correlation_filter_once_per_handler() -> None:
    logger, handler = logging.getLogger("sync_core.test_install"), logging.NullHandler()
    logger.addHandler(handler)
    try:
        install_correlation_filter(logger)
        install_correlation_filter(logger)
        assert len(handler.filters) == 1
    finally:
        logger.removeHandler(handler)


def test_record_messages_carry_the_scope_s_correlation_and_read_old_messages() -> None:
    plain = RecordMessage("CUSTOMER", "to-bc", ACCOUNT, "job-5", "webhook")
    assert (plain.correlation_id, plain.enqueued_at) == ("", "")
    with correlated("corr-5", received_at="2026-01-05T12:00:00+00:00"):
        message = RecordMessage("CUSTOMER", "to-bc", ACCOUNT, "job-5", "webhook")
    assert (message.correlation_id, message.enqueued_at) == ("corr-5", "2026-01-05T12:00:00+00:00")
    assert RecordMessage.from_json(message.to_json()) == message
    assert json.loads(message.to_json())["correlation_id"] == "corr-5"
    old = '{"direction":"to-bc","job_id":"job-5","mapping":"CUSTOMER","reason":"webhook","source_id":"%s"}'
    with correlated("not-this-one"):
        read = RecordMessage.from_json(old % ACCOUNT)
    assert read == RecordMessage("CUSTOMER", "to-bc", ACCOUNT, "job-5", "webhook", "", "")


def test_document_and_control_messages_carry_it_too() -> None:
    with correlated("corr-6", received_at="2026-01-05T12:00:00+00:00"):
        document = DocumentMessage("order", ACCOUNT, "job-6", "webhook")
        control = ControlMessage(LINE_MESSAGE, "run-6", "CUSTOMER")
    assert DocumentMessage.from_json(document.to_json()) == document
    assert (document.correlation_id, document.enqueued_at) == ("corr-6", "2026-01-05T12:00:00+00:00")
    assert ControlMessage.from_json(control.to_json()) == control and control.correlation_id == "corr-6"
    old_document = DocumentMessage.from_json(f'{{"document":"quote","crm_id":"{ACCOUNT}","job_id":"j"}}')
    assert (old_document.correlation_id, old_document.enqueued_at, old_document.reason) == ("", "", "webhook")
    old_control = ControlMessage.from_json('{"kind":"full-sync-line","run_id":"r","mapping":"CUSTOMER"}')
    assert old_control.correlation_id == ""


def test_application_insights_gets_each_dimension_as_its_own_custom_dimension() -> None:
    """azure-monitor-opentelemetry 1.8: every log record attribute is one customDimensions key
    (``str(value)``); a nested ``custom_dimensions`` dict would arrive as one string."""
    exporter, provider = InMemoryLogRecordExporter(), LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    handler.addFilter(CorrelationFilter())
    logger = logging.getLogger("sync_core.test_export")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with correlated("corr-7"):
            log_record_failed(
                logger, RecordRef("CUSTOMER", "to-bc", ACCOUNT, "job-7"), DataError("x", code="E1")
            )
            logger.info("a plain line")
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    failed, plain = (_convert_log_to_envelope(d).data.base_data for d in exporter.get_finished_logs())
    assert {
        k: failed.properties[k] for k in ("event", "mapping", "source_id", "error_code", "correlation_id")
    } == {
        "event": "record_failed",
        "mapping": "CUSTOMER",
        "source_id": ACCOUNT,
        "error_code": "E1",
        "correlation_id": "corr-7",
    }
    assert failed.message.startswith(f"CUSTOMER to-bc {ACCOUNT} failed: E1")
    assert plain.properties["correlation_id"] == "corr-7"
