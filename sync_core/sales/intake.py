"""How CRM orders and quotes reach the document queue: webhooks, BC's auto jobs, commands.

A webhook's payload is never trusted: only the document's id is taken, and the queue function
re-reads the row and acts only if it is (still) a submitted order or an Active / Won quote, with
integrationSetup's ``autoCreateSalesOrders`` / ``autoProcessQuotes`` honoured on the automatic
paths. The auto jobs select as BC does (§5.1 "Auto Create job": Submitted orders not yet sent to
the back office; §5.4 "Auto Process job": Active or Won quotes), one message per document.
"""

from __future__ import annotations

import logging
from typing import Any

from sync_core.sales.crm_document import ORDER_SUBMITTED, QUOTE_ACTIVE, QUOTE_WON
from sync_core.sales.messages import DocumentMessage, DocumentType, Reason
from sync_core.sales.process import enqueue_documents
from sync_core.state.ports import MessageQueue
from sync_core.sync.context import SyncContext
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import eq
from sync_core.webhooks.dataverse import SYNC_MESSAGES, DataverseEvent

log = logging.getLogger(__name__)

DOCUMENT_ENTITIES: dict[str, DocumentType] = {"salesorder": "order", "quote": "quote"}
AUTO_SETTINGS = {"order": "autoCreateSalesOrders", "quote": "autoProcessQuotes"}
NOT_SENT = f"(lastbackofficesubmit eq null or lastbackofficesubmit eq {'1900-01-01'})"
SELECTIONS: dict[DocumentType, tuple[str, str]] = {
    "order": ("salesorders", f"{eq('statecode', ORDER_SUBMITTED)} and {NOT_SENT}"),
    "quote": ("quotes", f"({eq('statecode', QUOTE_ACTIVE)} or {eq('statecode', QUOTE_WON)})"),
}


def is_document_event(event: DataverseEvent) -> bool:
    return event.entity in DOCUMENT_ENTITIES


def enqueue_document_event(ctx: SyncContext, queue: MessageQueue, event: DataverseEvent) -> dict[str, Any]:
    """The webhook of an order or quote -> one document message (nothing read here: answer fast)."""
    if event.message_name not in SYNC_MESSAGES:
        return {"enqueued": [], "ignored": f"message {event.message_name} does not change the document"}
    if event.user_id and event.user_id == ctx.dataverse.whoami():
        return {"enqueued": [], "ignored": "change made by the integration user (echo)"}
    document = DOCUMENT_ENTITIES[event.entity]
    [message] = enqueue_documents(
        ctx, queue, document, [event.entity_id], "webhook", f"webhook {event.entity}"
    )
    return {"enqueued": [_brief(message)], "ignored": None}


def _brief(message: DocumentMessage) -> dict[str, str]:
    return {"document": message.document, "crm_id": message.crm_id, "job_id": message.job_id}


def select_candidates(ctx: SyncContext, document: DocumentType) -> list[str]:
    """BC's selection of the auto job: the ids of the documents to process."""
    entity, expr = SELECTIONS[document]
    return [
        r.id for r in ctx.dataverse.iter_modified(ModifiedQuery(entity, filter=expr, select=("statecode",)))
    ]


def run_auto_job(
    ctx: SyncContext, queue: MessageQueue, document: DocumentType, reason: Reason
) -> list[DocumentMessage]:
    """The auto job (timer) or its command: one message per candidate; the timer only when enabled."""
    if reason == "timer":
        rows = list(ctx.bc.list_rows("integrationSetup"))
        if not (rows and rows[0].get(AUTO_SETTINGS[document])):
            log.info("auto %s job: %s is off in BC; nothing to do", document, AUTO_SETTINGS[document])
            return []
    ids = select_candidates(ctx, document)
    return enqueue_documents(ctx, queue, document, ids, reason, f"auto {document} job ({reason})")
