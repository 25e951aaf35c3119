"""The use-cases of sales documents for the function entry points and the operator commands.

Queue function ``process_document`` -> ``process_document_message``; timers
``auto_create_sales_orders`` / ``auto_process_sales_quotes`` -> ``run_document_timer``; commands
``process-order`` / ``process-quote`` (finish before they return) and ``auto-create-orders`` /
``auto-process-quotes`` (enqueue, as the timers do); timer ``customer_statistics`` and command
``statistics`` -> ``run_customer_statistics``.
"""

from __future__ import annotations

import logging
from typing import Any

from sync_core.app.http import HttpResult, answer
from sync_core.app.wiring import Services, services
from sync_core.errors import DataError, TransientError
from sync_core.sales.availability import item_availability
from sync_core.sales.intake import run_auto_job
from sync_core.sales.messages import DocumentMessage, DocumentType
from sync_core.sales.order_status import OrderStatusUpdates
from sync_core.sales.process import process_document
from sync_core.sales.statistics import AccountStatistics
from sync_core.sales.writer import DocumentOutcome
from sync_core.settings import MAX_DEQUEUE_COUNT
from sync_core.state.ports import SyncErrorEntry
from sync_core.sync.context import SyncContext
from sync_core.telemetry import RecordRef, correlated, log_record_failed

log = logging.getLogger(__name__)


def process_document_message(
    body: bytes | str, *, dequeue_count: int | None = None, svc: Services | None = None
) -> DocumentOutcome:
    """Queue trigger body. Transient errors re-raise (redelivery); the last attempt is logged."""
    message = DocumentMessage.from_json(body)
    ctx = (svc or services()).sync_context()
    with correlated(message.correlation_id or message.job_id, received_at=message.enqueued_at):
        try:
            return process_document(ctx, message)
        except TransientError as exc:
            if (dequeue_count or 0) >= MAX_DEQUEUE_COUNT:
                _give_up(ctx, message, exc)
            raise


def _give_up(ctx: SyncContext, message: DocumentMessage, exc: TransientError) -> None:
    mapping = f"{message.document} documents"
    log_record_failed(log, RecordRef(mapping, "to-bc", message.crm_id, message.job_id, message.reason), exc)
    ctx.stores.sync_errors.add(
        SyncErrorEntry(
            mapping=mapping,
            direction="to-bc",
            source_id=message.crm_id,
            message=f"gave up after {MAX_DEQUEUE_COUNT} attempts: {exc.message}",
            occurred_at=ctx.clock(),
            job_id=message.job_id,
            remedy=f"Once the cause is fixed: python -m sync_core process-{message.document} "
            f"--crm-id {message.crm_id}",
        )
    )


def run_document_timer(document: DocumentType, *, svc: Services | None = None) -> list[DocumentMessage]:
    """BC's auto job: one message per candidate, only when integrationSetup enables it."""
    s = svc or services()
    return run_auto_job(s.sync_context(), s.document_queue, document, "timer")


def run_order_status_updates(*, svc: Services | None = None) -> dict[str, int]:
    """BC's 7-minute "CRM Order Status Update Job": the sales document events since the last run."""
    return OrderStatusUpdates((svc or services()).sync_context()).run()


def run_customer_statistics(customer_no: str | None = None, *, svc: Services | None = None) -> dict[str, Any]:
    """BC's "CRM Statistics Job" (timer ``customer_statistics``) or, for one customer, its "Update
    Account Statistics" (command ``statistics --customer-no``): payment states and statistics."""
    return AccountStatistics((svc or services()).sync_context()).run(customer_no)


def availability(product_id: str, *, svc: Services | None = None) -> HttpResult:
    """``GET /api/availability/{productid}``: the coupled item's availability per location."""
    s = svc or services()
    return answer(lambda: HttpResult(200, item_availability(s.sync_context(), s.availability, product_id)))


def process_now(svc: Services, document: DocumentType, crm_id: str) -> dict[str, Any]:
    """``process-order`` / ``process-quote``: done before it returns; a failure is exit code 1."""
    outcome = process_document(svc.sync_context(), DocumentMessage(document, crm_id, reason="command"))
    if outcome.outcome == "failed":
        raise DataError(
            outcome.message, remedy="See python -m sync_core errors for the record and its remedy."
        )
    return {
        "outcome": outcome.outcome,
        "message": outcome.message,
        "bc_id": outcome.bc_id,
        "bc_number": outcome.bc_number,
    }


def auto_job_now(svc: Services, document: DocumentType) -> dict[str, Any]:
    """``auto-create-orders`` / ``auto-process-quotes``: BC's selection now, enqueued."""
    messages = run_auto_job(svc.sync_context(), svc.document_queue, document, "command")
    return {"enqueued": len(messages), "job_id": messages[0].job_id if messages else ""}
