"""The use-cases the function entry points call, with plain values in and out.

Each takes what the trigger gave (a mapping name, message bytes, headers and body) and returns
plain values; services come from ``wiring.services()`` unless a test passes its own.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sync_core.app.full_sync import full_sync_running
from sync_core.app.health import run_checks
from sync_core.app.http import HttpResult
from sync_core.app.wiring import services
from sync_core.errors import ConfigError, SyncError, TransientError
from sync_core.sales.intake import enqueue_document_event, is_document_event
from sync_core.settings import MAX_DEQUEUE_COUNT
from sync_core.state.full_sync_review import FullSyncReviewStore
from sync_core.state.ports import JobRun, MessageQueue, SyncErrorEntry
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.outcome import Outcome
from sync_core.sync.engine.record import RecordSynchronizer
from sync_core.sync.full_sync.chunks import process_chunk
from sync_core.sync.jobs.bc_notifications import CATCH_UP
from sync_core.sync.jobs.job_queue import run_scheduled
from sync_core.sync.jobs.mapping_job import run_mapping_job
from sync_core.sync.jobs.webhook_intake import enqueue_dataverse_event
from sync_core.sync.messages import ChunkMessage, RecordMessage, parse_record_queue_message
from sync_core.telemetry import RecordRef, correlated, log_record_failed
from sync_core.webhooks.dataverse import WebhookError, authenticate, parse

log = logging.getLogger(__name__)


def _context(ctx: SyncContext | None) -> SyncContext:
    return ctx or services().sync_context()


def run_mapping_timer(
    mapping: str, *, past_due: bool = False, ctx: SyncContext | None = None
) -> list[JobRun]:
    if past_due:
        log.info("%s: timer is past due; running now", mapping)
    if ctx is not None:
        return run_scheduled(ctx, mapping)
    return run_scheduled(_context(ctx), mapping, full_sync_running=full_sync_running)


def process_record_message(
    body: bytes | str,
    *,
    dequeue_count: int | None = None,
    ctx: SyncContext | None = None,
    reviews: FullSyncReviewStore | None = None,
) -> Outcome:
    """Queue trigger body. Transient errors re-raise (redelivery); the last attempt is logged.
    A full synchronization's chunk message is processed as its staged records."""
    message = parse_record_queue_message(body)
    context = _context(ctx)
    if isinstance(message, ChunkMessage):
        return _process_chunk(context, reviews or services().full_sync_review, message, dequeue_count)
    with correlated(message.correlation_id or message.job_id, received_at=message.enqueued_at):
        try:
            if message.reason == CATCH_UP:  # a BC `collection` notification: the mapping's job, now
                runs = run_mapping_job(context, message.mapping, trigger="webhook collection")
                return Outcome("unchanged", f"catch-up: {sum(r.enqueued for r in runs)} record(s) enqueued")
            return RecordSynchronizer(context).process(message)
        except TransientError as exc:
            if (dequeue_count or 0) >= MAX_DEQUEUE_COUNT:
                _record_poisoned(context, message, exc)
            raise


def _process_chunk(
    ctx: SyncContext, reviews: FullSyncReviewStore, message: ChunkMessage, dequeue_count: int | None
) -> Outcome:
    with correlated(message.correlation_id or message.job_id):
        try:
            counts = process_chunk(ctx, reviews, message)
        except TransientError as exc:
            if (dequeue_count or 0) >= MAX_DEQUEUE_COUNT:
                _record_poisoned(
                    ctx, RecordMessage(message.mapping, message.direction, f"chunk {message.chunk}",
                                       message.job_id, "full-sync"), exc,
                )  # fmt: skip
            raise
    done = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "nothing staged"
    return Outcome("unchanged", f"chunk {message.chunk} of job {message.job_id}: {done}")


def _record_poisoned(ctx: SyncContext, message: RecordMessage, exc: SyncError) -> None:
    ref = RecordRef(message.mapping, message.direction, message.source_id, message.job_id, message.reason)
    log_record_failed(log, ref, exc)
    ctx.stores.sync_errors.add(
        SyncErrorEntry(
            mapping=message.mapping,
            direction=message.direction,
            source_id=message.source_id,
            message=f"gave up after {MAX_DEQUEUE_COUNT} attempts: {exc.message}",
            occurred_at=ctx.clock(),
            job_id=message.job_id,
            error_code=exc.code or "",
            remedy="The message was moved to the poison queue; once the cause is fixed, retry the "
            "record (python -m sync_core retry).",
        )
    )


def receive_dataverse_webhook(
    headers: dict[str, str],
    body: bytes,
    *,
    ctx: SyncContext | None = None,
    secret: str | None = None,
    document_queue: MessageQueue | None = None,
) -> HttpResult:
    """The change is followed under Dataverse's own CorrelationId (a new id when it sent none)."""
    received = datetime.now(UTC)
    try:
        authenticate(headers, secret if secret is not None else services().settings.webhook_secret)
        event = parse(body, headers)
    except WebhookError as exc:
        log.warning("dataverse webhook refused (%d): %s", exc.status, exc.reason)
        return HttpResult(exc.status, {"error": exc.reason})
    with correlated(event.correlation_id, received_at=received):
        try:
            if is_document_event(event):  # a sales order or quote: the document queue
                queue = document_queue or services().document_queue
                return HttpResult(202, enqueue_document_event(_context(ctx), queue, event))
            result = enqueue_dataverse_event(_context(ctx), event)
        except TransientError as exc:  # Dataverse retries 502/503/504 once
            log.warning(
                "dataverse webhook for %s %s not enqueued: %s", event.entity, event.entity_id, _brief(exc)
            )
            return HttpResult(503, {"error": "temporarily unable to enqueue; try again"})
    return HttpResult(202, result.as_json())


def _brief(exc: SyncError) -> str:
    """What a log line may say of an error: its code and status, not the other side's text."""
    return f"{type(exc).__name__} (HTTP {exc.status or '-'}, code {exc.code or '-'})"


def health(*, check: Any = None) -> HttpResult:
    """Storage reachable, settings valid, both APIs' sign-in working. Never shows a secret."""
    try:
        report = (check or run_checks)()
    except ConfigError as exc:
        return HttpResult(503, {"status": "unhealthy", "settings": {"ok": False, "error": exc.message}})
    return HttpResult(200 if report["status"] == "healthy" else 503, report)
