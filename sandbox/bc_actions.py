"""Bound actions on BC sales documents (api-facts §E.3, bc-companion-api.md), state-faithful.

v2.0: ``salesQuotes(id)/Microsoft.NAV.makeOrder`` turns the quote into an order (the quote is
deleted; the order's Quote No. is the quote's), ``makeInvoice`` into a draft invoice; ``send``
marks it Sent. ``salesOrders(id)/Microsoft.NAV.shipAndInvoice`` ships and invoices the order and
``salesInvoices(id)/Microsoft.NAV.post`` posts a draft invoice: a companion posted sales invoice
with ``lines`` is created (:mod:`sandbox.bc_documents_posting`).
Companion: ``salesDocuments(id)/Microsoft.NAV.release``, ``reopen`` and ``archive``.
Each action is all or nothing.
"""

from __future__ import annotations

import uuid
from datetime import date

from sandbox import bc_documents_posting as posting
from sandbox.bc_documents import SERIES, next_occurrence
from sandbox.bc_documents_amounts import lines_of
from sandbox.bc_model import BcModel, bc_error
from sandbox.bc_schema import BcView

# stored fields a copied document does not take over (BC's TransferFields, then these are reset)
NOT_COPIED = ("id", "number", "status", "quoteStatus", "invoiceStatus", "documentType", "sentDate",
              "acceptedDate", "docNoOccurrence", "lastModifiedDateTime", "quoteNumber")  # fmt: skip
LINE_NOT_COPIED = ("id", "documentId", "documentType", "shippedQuantity", "invoicedQuantity",
                   "lastModifiedDateTime")  # fmt: skip
ACTIONS = {
    ("salesQuotes", "makeOrder"),
    ("salesQuotes", "makeInvoice"),
    ("salesQuotes", "send"),
    ("salesOrders", "shipAndInvoice"),
    ("salesInvoices", "post"),
    ("salesDocuments", "release"),
    ("salesDocuments", "reopen"),
    ("salesDocuments", "archive"),
}


def run_action(model: BcModel, view: BcView, key: str, company: str, action: str) -> None:
    if (view.name, action) not in ACTIONS:
        raise bc_error(
            400,
            "BadRequest_MethodNotImplemented",
            f"The action 'Microsoft.NAV.{action}' is not supported on '{view.name}'.",
        )
    with model.store.lock:
        doc = model.find(view, company, key)
        if doc is None:
            raise model.not_found(view, key)
        snapshot = model.store.snapshot()
        try:
            _run(model, view, doc, action)
        except Exception:
            model.store.restore(snapshot)
            raise


def _run(model: BcModel, view: BcView, doc: dict, action: str) -> None:
    if action == "send":
        model.put("salesHeader", {**doc, "quoteStatus": "Sent", "sentDate": date.today().isoformat()})
    elif action in ("makeOrder", "makeInvoice"):
        copy_document(model, doc, "Order" if action == "makeOrder" else "Invoice")
        model.delete(view, doc["id"], doc["__company"], admin=True)
    elif action == "shipAndInvoice":
        posting.post_invoice(model, doc, ship=True)
    elif action == "post":
        posting.post_invoice_document(model, doc)
    elif action == "release":
        posting.release(model, doc)
    elif action == "reopen":
        posting.reopen(model, doc)
    else:
        posting.archive(model, doc)


def copy_document(model: BcModel, doc: dict, kind: str) -> dict:
    """A new document of type ``kind`` with the header and lines of ``doc`` (Open, new No.)."""
    company = doc["__company"]
    header = {k: v for k, v in doc.items() if not k.startswith("__") and k not in NOT_COPIED}
    number = model.next_number(SERIES[kind], company)
    occurrence = next_occurrence(model, company, kind, number)
    header.update({"id": str(uuid.uuid4()), "__company": company, "documentType": kind, "status": "Open",
                   "number": number, "docNoOccurrence": occurrence})  # fmt: skip
    if kind == "Order":
        header["quoteNumber"] = doc.get("number")
    else:
        header["invoiceStatus"] = "Draft"
    model.put("salesHeader", header)
    for line in lines_of(model, doc):
        copy = {k: v for k, v in line.items() if not k.startswith("__") and k not in LINE_NOT_COPIED}
        model.put("salesLine", {**copy, "id": str(uuid.uuid4()), "__company": company,
                                "documentId": header["id"], "documentType": kind})  # fmt: skip
    return header
