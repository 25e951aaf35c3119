"""BC's "Process in Business Central" for an Active or Won Dataverse quote (bc-integration §5.4).

Active: coupled -> nothing to do (missing notes are finished); revision 0, or no coupled revised
quote -> a new BC quote; revision n with a coupled Closed/Revised quote of the same number -> that
BC quote follows: archived (a new version), reopened, its lines and notes replaced, its header
updated, and its coupling moved to the new revision. Won: the BC quote first if needed; then the
CRM order with this ``quoteid`` (BC's error when none) becomes a BC order (§5.1) with Quote No. =
the BC quote, the BC quote is archived, and the won marker (a document step) makes another run a
no-op. Every step is safe to repeat; which BC quote a revision follows is recorded before its
old coupling is removed, so a crash in between never leads to a second BC quote.
"""

from __future__ import annotations

import logging
from typing import Any

from sync_core.errors import DataError
from sync_core.sales.crm_document import (
    ORDER_SUBMITTED,
    QUOTE_ACTIVE,
    QUOTE_CLOSED,
    QUOTE_REVISED,
    QUOTE_WON,
    CrmDocument,
    number,
)
from sync_core.sales.orders import ORDER_MAPPING, OrderCreator
from sync_core.sales.writer import DocumentFailure, DocumentOutcome, DocumentWriter, failing_as
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import and_filters, eq

log = logging.getLogger(__name__)

QUOTE_MAPPING = "SALESQUOTE-QUOTE"  # the couplings of BC sales quotes and Dataverse quotes
WON = "won"  # the won marker: the step holds the BC order's number
REVISE_FROM = "revise-bc"  # the BC quote a revision follows


class QuoteProcessor(DocumentWriter):
    kind = "quote"
    mapping = QUOTE_MAPPING

    def process(self, crm_id: str, *, automatic: bool) -> DocumentOutcome:
        doc = self.read(crm_id)
        if doc.state not in (QUOTE_ACTIVE, QUOTE_WON):
            if automatic:
                return DocumentOutcome("skipped", f"Dataverse quote {doc.number} is neither Active nor Won.")
            error = DataError(
                f"Dataverse quote {doc.number} must be Active or Won to be processed (state {doc.state}).",
                remedy="Activate the quote in Dynamics 365 Sales, then process it again.",
            )
            raise DocumentFailure(doc.number, error)
        if self.refs.other_company(doc):
            return DocumentOutcome("skipped", f"Dataverse quote {doc.number} belongs to another company.")
        if automatic and not self.refs.setup().get("autoProcessQuotes"):
            return DocumentOutcome("skipped", "Automatic processing of quotes is off in BC.")
        with failing_as(doc.number):
            return self.active(doc) if doc.state == QUOTE_ACTIVE else self.won(doc, automatic=automatic)

    # -- active ---------------------------------------------------------------------------------------

    def active(self, doc: CrmDocument) -> DocumentOutcome:
        coupling = self.coupling(doc)
        if coupling is not None:
            row = self.bc.get(coupling.bc_id)
            if row is None:
                raise DataError(
                    f"The Dataverse quote {doc.number} is coupled to a sales quote that no longer exists."
                )
            self._notes(doc, row)
            number_ = str(row.get("number") or "")
            return DocumentOutcome(
                "unchanged", f"This Dataverse quote is already coupled to sales quote {number_}."
            )
        follows = self._revised_from(doc)
        if follows:
            return self._revise(doc, follows)
        created = self.create(doc, self.document_body(doc))
        self._notes(doc, created)
        number_ = str(created.get("number") or "")
        return DocumentOutcome("inserted", f"Sales quote {number_} was created.", str(created["id"]), number_)

    def _notes(self, doc: CrmDocument, row: dict[str, Any]) -> None:
        if "notes" not in self.steps.steps(doc.key):
            self.bc.copy_notes(str(row["id"]), doc.notes)
            self.steps.mark(doc.key, "notes")

    def _revised_from(self, doc: CrmDocument) -> str:
        """The BC quote this revision follows: the coupled Closed/Revised quote of the same number."""
        recorded = self.steps.steps(doc.key).get(REVISE_FROM, "")
        if recorded or not number(doc.get("revisionnumber")):
            return recorded
        expr = and_filters(
            eq("quotenumber", doc.number), eq("statecode", QUOTE_CLOSED), eq("statuscode", QUOTE_REVISED)
        )
        revised = self.ctx.dataverse.iter_modified(ModifiedQuery("quotes", filter=expr))
        for old in sorted(revised, key=lambda r: -number(r.fields.get("revisionnumber"))):
            coupling = self.ctx.stores.couplings.get_by_crm(QUOTE_MAPPING, old.id)
            if coupling is not None and coupling.state == "coupled":
                return coupling.bc_id
        return ""

    def _revise(self, doc: CrmDocument, bc_id: str) -> DocumentOutcome:
        body = self.document_body(doc)  # every reference resolved before anything changes
        self.steps.mark(doc.key, REVISE_FROM, bc_id)
        claim, _ = self.claim(doc)
        row = self.bc.get(bc_id)
        if row is None:
            raise DataError(
                f"The sales quote that Dataverse quote {doc.number} revises no longer exists in BC."
            )
        self.bc.archive_once(doc.key, row, self.steps, step="revision")
        self.bc.replace_content(row, body, doc.notes)
        old = self.ctx.stores.couplings.get_by_bc(QUOTE_MAPPING, bc_id)
        if old is not None and old.crm_id != doc.id:
            self.ctx.stores.couplings.delete(old)
        updated = self.bc.get(bc_id) or row
        self.couple(claim, doc, updated)
        self.steps.mark(doc.key, "notes")
        number_ = str(updated.get("number") or "")
        revision = int(number(doc.get("revisionnumber")))
        return DocumentOutcome(
            "modified", f"Sales quote {number_} follows revision {revision}.", bc_id, number_
        )

    # -- won ------------------------------------------------------------------------------------------

    def won(self, doc: CrmDocument, *, automatic: bool = False) -> DocumentOutcome:
        if self.coupling(doc) is None:
            self.active(doc)  # BC: the quote is created first
        won = self.steps.steps(doc.key).get(WON)
        if won:
            return DocumentOutcome(
                "unchanged", f"Dataverse quote {doc.number} is won and already became sales order {won}."
            )
        if automatic and not self._order_ready(doc):  # won just now: its order is not submitted yet
            return DocumentOutcome("skipped", f"The order of won quote {doc.number} is not submitted yet.")
        coupling = self.coupling(doc)
        quote = self.bc.get(coupling.bc_id) if coupling else None
        if quote is None:
            raise DataError(f"The sales quote of Dataverse quote {doc.number} does not exist in BC.")
        creator = OrderCreator(self.ctx)
        order_doc = creator.read(self._crm_order_id(doc))
        inserted = False
        if creator.coupling(order_doc) is None and order_doc.state == ORDER_SUBMITTED:
            creator.process(order_doc, quote_no=str(quote.get("number") or ""))
            inserted = True
        bc_order = self._bc_order(creator, order_doc)
        if bc_order.get("posted"):  # BC has invoiced and deleted the order meanwhile: nothing to set on it
            self.bc.archive_once(order_doc.key, quote, self.steps)
            self.steps.mark(doc.key, WON, str(bc_order["number"]))
            return DocumentOutcome(
                "modified", f"The order of quote {doc.number} is posted as invoice {bc_order['number']}."
            )
        if str(bc_order.get("quoteNo") or "") != str(quote.get("number") or ""):
            self.bc.update(str(bc_order["id"]), {"quoteNo": quote.get("number")})
        self.bc.archive_once(order_doc.key, quote, self.steps)  # the order path's archive step: once
        self.steps.mark(doc.key, WON, str(bc_order.get("number") or ""))
        text = f"Sales order {bc_order.get('number')} was made from sales quote {quote.get('number')}."
        return DocumentOutcome(
            "inserted" if inserted else "modified",
            text,
            str(bc_order["id"]),
            str(bc_order.get("number") or ""),
        )

    def _order_ready(self, doc: CrmDocument) -> bool:
        """Whether the quote's CRM order exists and is submitted or already in BC."""
        query = ModifiedQuery("salesorders", filter=eq("_quoteid_value", doc.id_guid), page_size=1)
        order = next(iter(self.ctx.dataverse.iter_modified(query)), None)
        if order is None:
            return False
        coupled = self.ctx.stores.couplings.get_by_crm(ORDER_MAPPING, order.id)
        return order.fields.get("statecode") == ORDER_SUBMITTED or (
            coupled is not None and coupled.state == "coupled"
        )

    def _crm_order_id(self, doc: CrmDocument) -> str:
        query = ModifiedQuery("salesorders", filter=eq("_quoteid_value", doc.id_guid), page_size=1)
        found = next(iter(self.ctx.dataverse.iter_modified(query)), None)
        if found is None:
            raise DataError(
                "Unable to find Dynamics 365 Sales order that corresponds to this quote.",
                remedy=f"Create the order of quote {doc.number} in Dynamics 365 Sales, then process again.",
            )
        return found.id

    def _bc_order(self, creator: OrderCreator, order_doc: CrmDocument) -> dict[str, Any]:
        coupling = creator.coupling(order_doc)
        row = self.bc.get(coupling.bc_id) if coupling else None
        row = row or self.bc.find_by_reference("Order", order_doc.number)
        if row is None and coupling is not None:
            posted = self.bc.posted_invoice_of(order_doc.number)
            row = {**posted, "posted": True} if posted else None
        if row is None:
            raise DataError("Converting the sales quote to a sales order failed.")
        return row
