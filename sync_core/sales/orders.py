"""BC's "Create in Business Central" for a submitted Dataverse order (bc-integration §5.1).

One sequence, each step safe to repeat (queue redelivery, duplicate webhooks, two workers, a crash
between any two steps):
1. read the CRM order fresh; a coupled order only gets its missing steps finished;
2. state check (Submitted), then every reference resolved before anything is written (customer,
   currency, option codes, products, write-in and freight setup, the BC quote of ``quoteid``);
3. claim the coupling, one deep insert of header and lines, the claim moves to the BC id
   (``writer.py``);
4. notes from annotations, archive of the BC quote, the write-back of ``lastbackofficesubmit``
   (Active -> write -> Submitted), each recorded in the document step store once done.
"""

from __future__ import annotations

import logging
from typing import Any

from sync_core.errors import DataError
from sync_core.sales.crm_document import ORDER_SUBMITTED, CrmDocument
from sync_core.sales.writer import DocumentOutcome, DocumentWriter
from sync_core.state.document_steps import DONE
from sync_core.state.ports import Coupling

log = logging.getLogger(__name__)

ORDER_MAPPING = "SALESORDER-ORDER"  # the couplings of BC sales orders and Dataverse orders
NO_SUBMIT_DATES = ("", "1900-01-01")
ACTIVE_NEW, SUBMITTED_IN_PROGRESS = (0, 1), (ORDER_SUBMITTED, 3)


class OrderCreator(DocumentWriter):
    kind = "salesorder"
    mapping = ORDER_MAPPING

    def process(self, doc: CrmDocument, *, quote_no: str = "") -> DocumentOutcome:
        """Create the BC order (or finish a coupled one); ``quote_no`` = the BC quote it comes from."""
        coupling = self.coupling(doc)
        if coupling is not None:
            return self._already_coupled(doc, coupling)
        if doc.state != ORDER_SUBMITTED:
            raise DataError(
                f"Status must be equal to 'Submitted' in Dataverse order {doc.number}. "
                f"Current value is '{doc.state}'.",
                remedy="Submit the order in Dynamics 365 Sales, then process it again.",
            )
        quote = None if quote_no else self.bc.quote_of_order(doc)
        body = self.document_body(doc, quote_no or str((quote or {}).get("number") or ""))
        created = self.create(doc, body)
        self.finish(doc, created, quote)
        number = str(created.get("number") or "")
        return DocumentOutcome("inserted", f"Sales order {number} was created.", str(created["id"]), number)

    def _already_coupled(self, doc: CrmDocument, coupling: Coupling) -> DocumentOutcome:
        row = self.bc.get(coupling.bc_id)
        if row is not None:
            self.finish(doc, row, None)
            number = str(row.get("number") or "")
            message = f"This Dataverse order is already coupled to sales order {number}."
            return DocumentOutcome("unchanged", message, str(row["id"]), number)
        posted = self.bc.posted_invoice_of(doc.number)
        if posted is not None:
            return DocumentOutcome(
                "unchanged",
                "This Dataverse order is already coupled, posted and turned into posted sales invoice "
                f"{posted.get('number')}.",
            )
        raise DataError(
            f"The Dataverse order {doc.number} is coupled to a sales order that no longer exists.",
            remedy=f'Uncouple it (python -m sync_core uncouple "{ORDER_MAPPING}" --crm-id {doc.id}), '
            "then process it again.",
        )

    def finish(self, doc: CrmDocument, row: dict[str, Any], quote: dict | None) -> None:
        """The steps after the insert that are not done yet: notes, the quote's archive, write-back."""
        done = self.steps.steps(doc.key)
        if "notes" not in done:
            self.bc.copy_notes(str(row["id"]), doc.notes)
            self.steps.mark(doc.key, "notes")
        if quote is not None and done.get("quote-archived") != DONE:
            self.bc.archive_once(doc.key, quote, self.steps)
        if "write-back" not in done:
            self.write_back(doc)
            self.steps.mark(doc.key, "write-back")

    def write_back(self, doc: CrmDocument) -> None:
        """``lastbackofficesubmit`` = today and the company: BC sets the order Active, writes, and
        submits it again."""
        dv = self.ctx.dataverse
        current = dv.get("salesorders", doc.id, ("statecode", "lastbackofficesubmit"))
        if current is None:
            return
        written = str(current.fields.get("lastbackofficesubmit") or "")[:10] not in NO_SUBMIT_DATES
        state = current.fields.get("statecode")
        if written and state == ORDER_SUBMITTED:
            return
        if state == ORDER_SUBMITTED:
            dv.update("salesorders", doc.id, _state(*ACTIVE_NEW), "*")
        if not written:
            values: dict[str, Any] = {"lastbackofficesubmit": self.ctx.clock().date().isoformat()}
            if self.refs.company_id():  # BC stamps its company on what it writes (bcbi_companyid)
                values["bcbi_companyid@odata.bind"] = f"/cdm_companies({self.refs.company_id()})"
            dv.update("salesorders", doc.id, values, "*")
        dv.update("salesorders", doc.id, _state(*SUBMITTED_IN_PROGRESS), "*")


def _state(state: int, status: int) -> dict[str, int]:
    return {"statecode": state, "statuscode": status}
