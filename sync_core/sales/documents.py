"""BC sales documents through the companion API 1.1: find, insert, notes, archive (bc-companion-api).

Each write here is either one request that is all or nothing (the deep insert) or made safe to
repeat: notes already on the document are not added again; a quote is archived once per document
step, the number of its archive versions before the archive kept in the step store, so a retry
after a crash can tell whether the archive happened.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from sync_core.errors import NotFoundError
from sync_core.sales.crm_document import CrmDocument, CrmNote
from sync_core.state.document_steps import DONE, DocumentStepStore
from sync_core.sync.context import SyncContext
from sync_core.vocabulary import and_filters, eq

log = logging.getLogger(__name__)

DOCUMENTS = "salesDocuments"
ARCHIVES = "salesDocumentArchives"


class BcDocuments:
    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx

    def get(self, bc_id: str) -> dict[str, Any] | None:
        record = self.ctx.bc.get(DOCUMENTS, bc_id)
        return None if record is None else {"id": record.id, **record.fields}

    def insert(self, body: dict[str, Any]) -> dict[str, Any]:
        """Header and lines in one deep insert: BC stores all of it or nothing."""
        record = self.ctx.bc.create(DOCUMENTS, body)
        log.info(
            "bc %s %s created (%d line(s))", body.get("documentType"), record.id, len(body.get("lines", []))
        )
        return {"id": record.id, **record.fields}

    def update(self, bc_id: str, values: dict[str, Any]) -> dict[str, Any]:
        record = self.ctx.bc.update(DOCUMENTS, bc_id, values, "*")
        return {"id": record.id, **record.fields}

    def replace_content(
        self, document: dict[str, Any], body: dict[str, Any], notes: Iterable[CrmNote]
    ) -> None:
        """Reopen, then the header, lines and notes of ``body`` replace the document's (safe to repeat)."""
        bc_id = str(document["id"])
        if str(document.get("status") or "Open") != "Open":
            self.ctx.bc.action(DOCUMENTS, bc_id, "reopen")
        for sub in ("lines", "notes"):
            for row in list(self.ctx.bc.list_rows(f"{DOCUMENTS}({bc_id})/{sub}", select=("id",))):
                with suppress(NotFoundError):  # gone already: a text line goes with its product line
                    self.ctx.bc.delete(f"{DOCUMENTS}({bc_id})/{sub}", str(row["id"]))
        header = {k: v for k, v in body.items() if k not in ("lines", "documentType")}
        self.update(bc_id, header)
        for line in body.get("lines", []):
            self.ctx.bc.create(f"{DOCUMENTS}({bc_id})/lines", line)
        self.copy_notes(bc_id, notes)

    def find_by_reference(self, document_type: str, your_reference: str) -> dict[str, Any] | None:
        """The newest document of that type with that Your Reference (BC's key for the CRM number)."""
        expr = and_filters(eq("documentType", document_type), eq("yourReference", your_reference[:35]))
        rows = list(self.ctx.bc.list_rows(DOCUMENTS, expr))
        return max(rows, key=lambda r: str(r.get("number") or ""), default=None)

    def quote_of_order(self, doc: CrmDocument) -> dict[str, Any] | None:
        """The BC quote of the CRM order's ``quoteid``: the newest with Your Reference = quotenumber."""
        quote_id = str(doc.get("_quoteid_value", ""))
        quote = self.ctx.dataverse.get("quotes", quote_id) if quote_id else None
        if quote is None or not quote.fields.get("quotenumber"):
            return None
        return self.find_by_reference("Quote", str(quote.fields["quotenumber"]))

    def posted_invoice_of(self, your_reference: str) -> dict[str, Any] | None:
        rows = list(self.ctx.bc.list_rows("postedSalesInvoices", eq("yourReference", your_reference[:35])))
        return rows[0] if rows else None

    def copy_notes(self, bc_id: str, notes: Iterable[CrmNote]) -> int:
        """Each CRM note not yet on the BC document becomes a BC note; returns how many were added."""
        notes = list(notes)
        if not notes:
            return 0
        path = f"{DOCUMENTS}({bc_id})/notes"
        existing = {
            (str(n.get("description") or ""), str(n.get("noteText") or ""))
            for n in self.ctx.bc.list_rows(path)
        }
        added = 0
        for note in notes:
            if (note.subject, note.text) in existing:
                continue
            body = {"description": note.subject, "noteText": note.text}
            if note.created_on:
                body["createdAt"] = note.created_on
            self.ctx.bc.create(path, body)
            added += 1
        return added

    def archive_count(self, document_type: str, number: str) -> int:
        expr = and_filters(eq("documentType", document_type), eq("number", number))
        return len(list(self.ctx.bc.list_rows(ARCHIVES, expr, ("versionNo",))))

    def archive_once(
        self, key: str, document: dict[str, Any], steps: DocumentStepStore, step: str = "quote"
    ) -> None:
        """Archive ``document`` once for the step ``<step>-archived`` of ``key`` (safe to repeat)."""
        kind, number = str(document.get("documentType") or "Quote"), str(document.get("number") or "")
        recorded = steps.steps(key)
        count = self.archive_count(kind, number)
        before = recorded.get(f"{step}-archive-before")
        if before is None:
            steps.mark(key, f"{step}-archive-before", str(count))
            before = str(count)
        if count <= int(before):
            self.ctx.bc.action(DOCUMENTS, str(document["id"]), "archive")
        steps.mark(key, f"{step}-archived", DONE)
