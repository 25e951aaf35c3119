"""What creating a BC document from a CRM order or quote shares: outcome, the body, the claim.

The coupling is claimed insert-if-absent before the BC document is made (the lock across workers
and redeliveries); the document is one deep insert (all or nothing in BC); the claim then moves to
the new BC id. A claim left by a dead worker is taken over after ``CLAIM_STALE_AFTER``, and the
document it may have made is found by Your Reference (the CRM number), never made twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sync_core.errors import AlreadyExistsError, NotFoundError, PermanentError, TransientError
from sync_core.sales.crm_document import CrmDocument, DocumentKind, read_document
from sync_core.sales.documents import BcDocuments
from sync_core.sales.header import HeaderReferences, header_values
from sync_core.sales.lines import LineNumbers, document_lines, freight_line
from sync_core.sales.references import SalesReferences, document_word
from sync_core.state.ports import Coupling, RecordOutcome
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.insert import CLAIM_STALE_AFTER, PENDING
from sync_core.systems.bc import to_record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentOutcome:
    outcome: RecordOutcome  # inserted | modified | unchanged | skipped | failed
    message: str
    bc_id: str = ""
    bc_number: str = ""


class DocumentFailure(Exception):
    """A document that cannot be made: BC's error, with the CRM number it is about."""

    def __init__(self, number: str, error: PermanentError) -> None:
        super().__init__(error.message)
        self.number = number
        self.error = error


@contextmanager
def failing_as(number: str) -> Iterator[None]:
    """Permanent errors inside are failures of the CRM document ``number``."""
    try:
        yield
    except PermanentError as exc:
        raise DocumentFailure(number, exc) from exc


class DocumentWriter:
    """Creates the BC document of one kind of CRM document under its coupling mapping."""

    kind: DocumentKind = "salesorder"
    mapping: str = ""

    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self.refs = SalesReferences(ctx)
        self.bc = BcDocuments(ctx)
        self.steps = ctx.stores.document_steps

    @property
    def bc_type(self) -> str:
        return "Order" if self.kind == "salesorder" else "Quote"

    def read(self, crm_id: str) -> CrmDocument:
        doc = read_document(self.ctx.dataverse, self.kind, crm_id)
        if doc is None:
            raise NotFoundError(f"The Dataverse {self.kind} {crm_id} does not exist.")
        return doc

    def coupling(self, doc: CrmDocument) -> Coupling | None:
        found = self.ctx.stores.couplings.get_by_crm(self.mapping, doc.id)
        return found if found is not None and found.state == "coupled" else None

    # -- building (reads only) ----------------------------------------------------------------------

    def document_body(self, doc: CrmDocument, quote_no: str = "") -> dict[str, Any]:
        """Header and lines of the deep insert, every reference resolved; nothing written yet."""
        customer = self.refs.customer(doc)
        refs = HeaderReferences(
            customer_no=str(customer.get("number") or ""),
            currency_code=self.refs.currency_code(doc),
            option_codes=self.refs.option_codes(doc),
            quote_no=quote_no,
        )
        return header_values(doc, refs) | {
            "lines": self.lines(doc, str(customer.get("vatBusPostingGroup") or ""))
        }

    def lines(self, doc: CrmDocument, vat_group: str) -> list[dict[str, Any]]:
        numbers, out = LineNumbers(), []
        for line in doc.lines:
            product = self.refs.product(doc, line, vat_group)
            out += document_lines(line, product, numbers, vat_group, quote=doc.kind == "quote")
        freight = float(doc.get("freightamount", 0) or 0)
        if freight > 0:
            out.append(freight_line(numbers, self.refs.freight_account(doc), freight))
        return out

    # -- creating under a claim ---------------------------------------------------------------------

    def create(self, doc: CrmDocument, body: dict[str, Any]) -> dict[str, Any]:
        claim, resumed = self.claim(doc)
        if not resumed:  # a fresh claim: steps recorded for an earlier, uncoupled BC document are stale
            self.steps.forget(doc.key)
        # a claim taken over from a dead worker: the document it may have made is found, not made again
        found = self.bc.find_by_reference(self.bc_type, doc.number) if resumed else None
        if found is None:
            try:
                found = self.bc.insert(body)
            except PermanentError:
                self.ctx.stores.couplings.delete(claim)  # nothing was made: a corrected document may retry
                raise
        self.couple(claim, doc, found)
        return found

    def claim(self, doc: CrmDocument) -> tuple[Coupling, bool]:
        """The claim of the document's coupling, and whether it was taken over from another worker."""
        store = self.ctx.stores.couplings
        pending = f"{PENDING}{doc.id}"
        try:
            return store.claim(
                Coupling(self.mapping, pending, doc.id, "claimed", claimed_at=self.ctx.clock())
            ), False
        except AlreadyExistsError:
            existing = store.get_by_crm(self.mapping, doc.id)
        word = f"{document_word(doc).lower()} {doc.number}"
        if existing is None or existing.state == "coupled":
            raise TransientError(f"the coupling of {word} changed meanwhile; process it again")
        if self.ctx.clock() - (existing.claimed_at or self.ctx.clock()) < CLAIM_STALE_AFTER:
            raise TransientError(f"{word} is being processed by another worker")
        log.warning("%s: taking over a stale claim", doc.key)
        return existing, True

    def couple(self, claim: Coupling, doc: CrmDocument, bc_row: dict[str, Any]) -> Coupling:
        """The claim becomes the coupling of ``bc_row`` (moved to its id when it differs)."""
        bc_modified = to_record(bc_row).modified_on if bc_row.get("lastModifiedDateTime") else None
        coupled = replace(claim, state="coupled", crm_modified_on=doc.modified_on, bc_modified_on=bc_modified)
        if claim.bc_id == str(bc_row["id"]):
            return self.ctx.stores.couplings.save(coupled)
        return self.ctx.stores.couplings.rekey_bc(coupled, str(bc_row["id"]))
