"""BC's "CRM Order Status Update Job" (bc-integration §5.2): what BC did to a coupled order, in Sales.

Timer ``order_status_updates`` reads the companion ``salesDocumentEvents`` feed after the last
sequence number seen, in order:
- Released / ShipmentPosted / InvoicePosted -> a timeline post on the CRM order with BC's text,
  and for a posting one on the order's account ("Order '<Your Reference>' has been posted ...",
  "Invoice '<No.>' for order '<Your Reference>' has been posted ...");
- OrderFullyInvoiced -> the CRM order Invoiced / Invoiced;
- OrderDeleted -> the coupling removed and the CRM order reset (Active / Pending, ``lastbackofficesubmit``
  blank) so that it can be submitted again.
Events of orders that are not coupled are passed over (BC discards them). Each effect happens once:
a post is created with an id derived from the event, so a second run (or a run after a crash
halfway) gets "already exists" instead of a second post; state changes are only made when the
state differs. The watermark (the last sequence number) moves only after an event's effects are
written, and is kept in the document step store.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sync_core.errors import AlreadyExistsError
from sync_core.sales.orders import ORDER_MAPPING
from sync_core.sync.context import SyncContext
from sync_core.telemetry import JobRunSummary, correlated, log_job_run

log = logging.getLogger(__name__)

EVENTS = "salesDocumentEvents"
WATERMARK_KEY, WATERMARK_STEP = "bc:salesDocumentEvents", "last-sequence"
POST_IDS = uuid.UUID("6f1c1c9e-8d55-4c55-9a53-2f0f7f1d0b5a")  # namespace of the posts' ids
ORDER_POSTS = {
    "Released": "The order status has changed to Released.",
    "ShipmentPosted": "A shipment has been created for the order.",
    "InvoicePosted": "An invoice has been created for the order.",
}
INVOICED, INVOICED_STATUS = 4, 100003
ACTIVE, PENDING = 0, 2
AUTO_POST, STATUS_POST = 1, 7


def account_post(event: Mapping[str, Any]) -> str | None:
    reference = event.get("yourReference") or ""
    if event.get("eventType") == "ShipmentPosted":
        return f"Order '{reference}' has been posted in Business Central."
    if event.get("eventType") == "InvoicePosted":
        invoice = event.get("postedDocumentNo")
        return f"Invoice '{invoice}' for order '{reference}' has been posted in Business Central."
    return None


class OrderStatusUpdates:
    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self.steps = ctx.stores.document_steps

    def run(self) -> dict[str, int]:
        """The events since the last run; one log line for the run (it has no job-log row)."""
        started, clock = self.ctx.clock(), time.monotonic()
        job_id = f"{started:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:12]}"
        last = int(self.steps.steps(WATERMARK_KEY).get(WATERMARK_STEP) or 0)
        counts = {"events": 0, "posts": 0, "invoiced": 0, "reset": 0, "passed over": 0}
        with correlated(job_id, received_at=started, keep_current=True):
            rows = self.ctx.bc.list_rows(EVENTS, f"sequenceNo gt {last}", orderby="sequenceNo")
            for event in rows:
                counts["events"] += 1
                for effect in self._apply(event):
                    counts[effect] += 1
                last = int(event["sequenceNo"])
                self.steps.mark(WATERMARK_KEY, WATERMARK_STEP, str(last))
            took = time.monotonic() - clock
            run = JobRunSummary(
                "order status updates", job_id, ORDER_MAPPING, "to-dataverse", "timer", counts
            )
            log_job_run(log, replace(run, duration_s=took, detail=f"last sequence no {last}"))
        return counts

    def _apply(self, event: Mapping[str, Any]) -> list[str]:
        coupling = self.ctx.stores.couplings.get_by_bc(ORDER_MAPPING, str(event.get("salesDocumentId") or ""))
        if coupling is None or coupling.state != "coupled":
            return ["passed over"]
        kind, order_id = str(event.get("eventType") or ""), coupling.crm_id
        order = self.ctx.dataverse.get("salesorders", order_id)
        if order is None:
            return ["passed over"]
        if kind == "OrderFullyInvoiced":
            return self._state(order_id, order.fields, INVOICED, INVOICED_STATUS, "invoiced")
        if kind == "OrderDeleted":
            self.ctx.stores.couplings.delete(coupling)
            self.steps.forget(f"salesorder:{order_id}")  # a new BC order goes through every step again
            done = self._state(order_id, order.fields, ACTIVE, PENDING, "reset")
            self.ctx.dataverse.update("salesorders", order_id, {"lastbackofficesubmit": None}, "*")
            return done or ["reset"]
        effects = []
        if kind in ORDER_POSTS and self._post(event, "salesorder", order_id, ORDER_POSTS[kind]):
            effects.append("posts")
        account = str(order.fields.get("_customerid_value") or "")
        text = account_post(event)
        known = bool(text and account) and self.ctx.dataverse.get("accounts", account) is not None
        if known and self._post(event, "account", account, str(text)):
            effects.append("posts")
        return effects

    def _state(
        self, order_id: str, fields: Mapping[str, Any], state: int, status: int, effect: str
    ) -> list[str]:
        if (fields.get("statecode"), fields.get("statuscode")) == (state, status):
            return []
        self.ctx.dataverse.update("salesorders", order_id, {"statecode": state, "statuscode": status}, "*")
        return [effect]

    def _post(self, event: Mapping[str, Any], regarding: str, target: str, text: str) -> bool:
        """A timeline post with an id derived from the event: a second try cannot make a second post."""
        post_id = str(uuid.uuid5(POST_IDS, f"{event.get('sequenceNo')}:{regarding}:{target}"))
        entity_set = "salesorders" if regarding == "salesorder" else "accounts"
        body = {
            "text": text,
            "source": AUTO_POST,
            "type": STATUS_POST,
            f"regardingobjectid_{regarding}@odata.bind": f"/{entity_set}({target})",
        }
        try:
            self.ctx.dataverse.create("posts", body, record_id=post_id)
        except AlreadyExistsError:
            return False
        return True
