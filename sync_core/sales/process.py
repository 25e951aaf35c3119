"""Processing one CRM order or quote message, with its job log and sync errors; enqueueing them.

The job log keeps one run per intake (a webhook, a timer's selection, a command), under the
coupling mapping of the document (SALESORDER-ORDER for orders, SALESQUOTE-QUOTE for quotes) in the
direction to-bc; each document counts once with its strongest outcome. A document that cannot be
made is Failed with BC's message, the CRM number and a remedy in the sync errors, and the message
is consumed (a retry is a new message: ``process-order`` or the next auto-create run).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace

from sync_core.errors import PermanentError
from sync_core.sales.crm_document import ORDER_SUBMITTED
from sync_core.sales.messages import DocumentMessage, DocumentType, Reason
from sync_core.sales.orders import ORDER_MAPPING, OrderCreator
from sync_core.sales.quotes import QUOTE_MAPPING, QuoteProcessor
from sync_core.sales.writer import DocumentFailure, DocumentOutcome, failing_as
from sync_core.state.ports import JobRun, MessageQueue, SyncErrorEntry
from sync_core.sync.context import SyncContext
from sync_core.sync.jobs.run_lines import log_run
from sync_core.telemetry import RecordRef, correlated, log_record_failed, log_record_synchronized

log = logging.getLogger(__name__)

JOB_MAPPINGS: dict[str, str] = {"order": ORDER_MAPPING, "quote": QUOTE_MAPPING}
AUTOMATIC_SETTING = {"order": "autoCreateSalesOrders", "quote": "autoProcessQuotes"}


def start_run(ctx: SyncContext, document: DocumentType, reason: Reason, count: int, text: str) -> JobRun:
    started = ctx.clock()
    run = JobRun(
        f"{started:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:12]}",
        JOB_MAPPINGS[document],
        "to-bc",
        started,
        finished_enqueue_at=started,
        read=count,
        enqueued=count,
        message=text,
        kind=reason,
    )
    ctx.stores.job_log.save_run(run)
    return run


def enqueue_documents(
    ctx: SyncContext,
    queue: MessageQueue,
    document: DocumentType,
    crm_ids: Iterable[str],
    reason: Reason,
    text: str,
) -> list[DocumentMessage]:
    """One job run and one message per document."""
    ids = list(dict.fromkeys(crm_ids))
    run = start_run(ctx, document, reason, len(ids), text)
    with correlated(run.job_id, received_at=run.started_at, keep_current=True):  # a timer: the job id
        messages = [DocumentMessage(document, crm_id, run.job_id, reason) for crm_id in ids]
    queue.send_many(m.to_json() for m in messages)
    log_run(log, run, job=f"{document} documents", trigger=reason, detail=text)
    return messages


def process_document(ctx: SyncContext, msg: DocumentMessage) -> DocumentOutcome:
    """Create (or finish) the BC document of one CRM order or quote; failures are logged, not raised.
    One log line: the document synchronized (with its outcome) or failed."""
    started = time.monotonic()
    if not msg.job_id:
        msg = replace(
            msg, job_id=start_run(ctx, msg.document, msg.reason, 1, f"{msg.reason} {msg.crm_id}").job_id
        )
    failure: DocumentFailure | None = None
    try:
        outcome = _process(ctx, msg)
    except DocumentFailure as exc:
        failure = exc
    except PermanentError as exc:  # the document could not even be read
        failure = DocumentFailure(msg.crm_id, exc)
    if failure is not None:
        outcome = DocumentOutcome("failed", failure.error.message)
        _record_failure(ctx, msg, failure)
    ctx.stores.job_log.record_outcome(msg.job_id, msg.crm_id, outcome.outcome, outcome.message)
    ref = RecordRef(JOB_MAPPINGS[msg.document], "to-bc", msg.crm_id, msg.job_id, msg.reason, outcome.bc_id)
    took = time.monotonic() - started
    if failure is not None:
        log_record_failed(log, ref, failure.error, duration_s=took)
    else:
        log_record_synchronized(
            log, ref, outcome.outcome, duration_s=took, received_at=msg.enqueued_at, now=ctx.clock()
        )
    return outcome


def _process(ctx: SyncContext, msg: DocumentMessage) -> DocumentOutcome:
    if msg.document == "quote":
        return QuoteProcessor(ctx).process(msg.crm_id, automatic=msg.automatic)
    creator = OrderCreator(ctx)
    doc = creator.read(msg.crm_id)
    if msg.automatic:
        if not creator.refs.setup().get(AUTOMATIC_SETTING["order"]):
            return DocumentOutcome("skipped", "Automatic creation of sales orders is off in BC.")
        coupled = ctx.stores.couplings.get_by_crm(ORDER_MAPPING, doc.id)
        if doc.state != ORDER_SUBMITTED and (coupled is None or coupled.state != "coupled"):
            return DocumentOutcome("skipped", f"Dataverse order {doc.number} is not submitted.")
    with failing_as(doc.number):
        return creator.process(doc)


def _record_failure(ctx: SyncContext, msg: DocumentMessage, failure: DocumentFailure) -> None:
    word, exc = ("order" if msg.document == "order" else "quote"), failure.error
    ctx.stores.sync_errors.add(
        SyncErrorEntry(
            mapping=JOB_MAPPINGS[msg.document],
            direction="to-bc",
            source_id=msg.crm_id,
            message=f"Dataverse {word} {failure.number}: {exc.message}",
            occurred_at=ctx.clock(),
            job_id=msg.job_id,
            field=getattr(exc, "field", "") or "",
            remedy=exc.remedy
            or f"Correct the Dataverse {word} or BC's setup, then process it again "
            f"(python -m sync_core process-{word} --crm-id {msg.crm_id}).",
            error_code=exc.code or "",
        )
    )
