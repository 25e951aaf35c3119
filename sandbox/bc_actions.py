"""Bound actions on BC sales documents (api-facts §E.3), simplified but state-faithful.

``salesQuotes(id)/Microsoft.NAV.makeOrder`` turns the quote into an order (the quote is deleted),
``makeInvoice`` into a draft invoice; ``send`` marks it Sent. ``salesOrders(id)/Microsoft.NAV.
shipAndInvoice`` and ``salesInvoices(id)/Microsoft.NAV.post`` post the document: a posted sales
invoice (companion ``postedSalesInvoices`` with ``lines``) is created and the document removed.
No tax is computed (amount including VAT = amount).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sandbox.bc_model import GETTERS, BcModel, bc_error
from sandbox.bc_schema import BcView

HEADER_COPY = (
    "externalDocumentNumber",
    "customerNumber",
    "customerName",
    "billToName",
    "billToCustomerNumber",
    "shipToName",
    "shipToContact",
    "currencyCode",
    "paymentTermsCode",
    "shipmentMethodCode",
    "salespersonCode",
    "discountAmount",
    "phoneNumber",
    "email",
    *(
        f"{p}{f}"
        for p in ("sellTo", "billTo", "shipTo")
        for f in ("AddressLine1", "AddressLine2", "City", "Country", "State", "PostCode")
    ),
)
LINE_COPY = (
    "sequence",
    "lineType",
    "lineObjectNumber",
    "description",
    "description2",
    "unitOfMeasureCode",
    "quantity",
    "unitPrice",
    "discountAmount",
    "discountPercent",
)
POSTED_TYPE = {
    "Item": "Item",
    "Resource": "Resource",
    "Account": "G/L Account",
    "Comment": " ",
    "Fixed Asset": "Fixed Asset",
    "Charge": "Charge (Item)",
}
ADDRESS_MAP = (("AddressLine1", "Address"), ("AddressLine2", "Address2"), ("City", "City"),
               ("Country", "CountryRegionCode"), ("PostCode", "PostCode"), ("State", "County"))  # fmt: skip
ACTIONS = {
    ("salesQuote", "makeOrder"),
    ("salesQuote", "makeInvoice"),
    ("salesQuote", "send"),
    ("salesOrder", "shipAndInvoice"),
    ("salesInvoice", "post"),
}


def run_action(model: BcModel, view: BcView, key: str, company: str, action: str) -> None:
    if (view.table, action) not in ACTIONS:
        raise bc_error(
            400,
            "BadRequest_MethodNotImplemented",
            f"The action 'Microsoft.NAV.{action}' is not supported on '{view.name}'.",
        )
    with model.store.lock:
        doc = model.by_id(view.table, company, key)
        if doc is None:
            raise model.not_found(view, key)
        lines = sorted(
            model.lines_of(f"{view.table}Line").get(doc["id"], []), key=lambda r: r.get("sequence") or 0
        )
        if action == "send":
            model.put(view.table, {**doc, "status": "Sent", "sentDate": date.today().isoformat()})
            return
        snapshot = model.store.snapshot()
        try:
            if action in ("makeOrder", "makeInvoice"):
                target = "salesOrder" if action == "makeOrder" else "salesInvoice"
                _copy_document(model, doc, lines, target, company)
            else:
                _post(model, view, doc, lines, company)
            model.delete(view, doc["id"], company)
        except Exception:
            model.store.restore(snapshot)
            raise


def _copy_document(model: BcModel, doc: dict, lines: list[dict], table: str, company: str) -> None:
    header = {k: doc[k] for k in HEADER_COPY if doc.get(k) not in (None, "")}
    header.update(
        {
            "id": _new_id(),
            "__company": company,
            "status": "Draft",
            "number": model.next_number(table, company),
        }
    )
    if table == "salesOrder":
        header["quoteNumber"] = doc.get("number")
    header.setdefault("postingDate", date.today().isoformat())
    model.put(table, header)
    for line in lines:
        copy = {k: line[k] for k in LINE_COPY if k in line}
        model.put(f"{table}Line", {**copy, "id": _new_id(), "__company": company, "documentId": header["id"]})


def _exchange_factor(model: BcModel, company: str, currency: str) -> float:
    if not currency:
        return 0.0
    rates = [
        r
        for r in model.rows("currencyExchangeRate", company)
        if r.get("currencyCode") == currency and (r.get("startingDate") or "") <= date.today().isoformat()
    ]
    if not rates:
        raise bc_error(
            400,
            "Application_DialogException",
            f"The Currency Exchange Rate does not exist for currency {currency}.",
        )
    rate = max(rates, key=lambda r: r.get("startingDate") or "")
    return round((rate.get("exchangeRateAmount") or 1) / (rate.get("relationalExchangeRateAmount") or 1), 6)


def _post(model: BcModel, view: BcView, doc: dict, lines: list[dict], company: str) -> None:
    if not any((line.get("quantity") or 0) for line in lines):
        raise bc_error(400, "Application_DialogException", "There is nothing to post.")
    header = _posted_header(model, view, doc, company)
    model.put("postedSalesInvoice", header)
    for line in lines:
        amount = GETTERS["line_amount"](model, view, line)
        model.put("postedSalesInvoiceLine", {
            "id": _new_id(), "__company": company, "documentId": header["id"],
            "lineNo": line.get("sequence"), "type": POSTED_TYPE.get(line.get("lineType", ""), " "),
            "number": line.get("lineObjectNumber", ""), "description": line.get("description", ""),
            "quantity": line.get("quantity") or 0, "unitOfMeasureCode": line.get("unitOfMeasureCode", ""),
            "unitPrice": line.get("unitPrice") or 0, "lineDiscountAmount": line.get("discountAmount") or 0,
            "amount": amount, "amountIncludingVat": amount, "invDiscountAmount": 0})  # fmt: skip


def _posted_header(model: BcModel, view: BcView, doc: dict, company: str) -> dict[str, Any]:
    amount = GETTERS["doc_total"](model, view, doc)
    today = date.today().isoformat()
    header: dict[str, Any] = {
        "id": _new_id(), "__company": company, "number": model.next_number("postedSalesInvoice", company),
        "externalDocumentNo": doc.get("externalDocumentNumber", ""),
        "yourReference": doc.get("yourReference", ""), "sellToCustomerNo": doc.get("customerNumber", ""),
        "currencyCode": doc.get("currencyCode", ""),
        "currencyFactor": _exchange_factor(model, company, doc.get("currencyCode", "")),
        "dueDate": doc.get("dueDate") or today, "shipmentDate": today,
        "salespersonCode": doc.get("salespersonCode", ""), "amount": amount, "amountIncludingVat": amount,
        "invoiceDiscountAmount": doc.get("discountAmount") or 0, "remainingAmount": amount,
        "paymentTermsCode": doc.get("paymentTermsCode", ""), "cancelled": False,
        "shipmentMethodCode": doc.get("shipmentMethodCode", ""), "pricesIncludingVat": False,
        "billToName": doc.get("billToName", ""), "shipToName": doc.get("shipToName", ""),
    }  # fmt: skip
    for side in ("billTo", "shipTo"):
        for api, posted in ADDRESS_MAP:
            header[f"{side}{posted}"] = doc.get(f"{side}{api}") or doc.get(f"sellTo{api}", "")
    return header


def _new_id() -> str:
    return str(uuid.uuid4())
