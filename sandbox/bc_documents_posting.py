"""BC's back office on sales documents: release, reopen, archive, shipments, invoices, payments.

What the sync only observes (BC users post documents), done the way BC does it, for the bound
actions of the APIs and the emulator's admin routes (``bc_documents_admin``):
- release: an Order or Quote with at least one line with a quantity becomes Released (an order
  leaves a ``Released`` event); reopen: back to Open; archive: a new Sales Header Archive version
  (versions count from 1 per document type, No. and Doc. No. Occurrence); the document stays;
- posting (orders only; an Open order is released first): a shipment ships the outstanding
  quantities (``ShipmentPosted`` with the shipment No.); an invoice invoices what is shipped and
  not invoiced (``InvoicePosted`` with the invoice No.) as a companion ``postedSalesInvoices`` row
  with lines; an order fully invoiced by it leaves ``OrderFullyInvoiced`` and is deleted with its
  lines and notes (no ``OrderDeleted``). An invoice built with Get Shipment Lines may invoice the
  shipments of several orders: one ``InvoicePosted`` and, when fully invoiced, one
  ``OrderFullyInvoiced`` per order; those orders stay (BC's Delete Invoiced Sales Orders removes
  them later);
- a payment lowers a posted invoice's Remaining Amount and adds a Detailed Cust. Ledg. Entry
  (``lastDetailedEntryNo`` grows); unapplying the payments of an invoice sets its Remaining
  Amount back to Amount Including VAT (all applications at once; a new detailed entry);
- cancelling a posted invoice (BC's Cancel: a corrective credit memo posted and applied to it)
  marks it Cancelled with Remaining Amount 0 and a new detailed entry; refused when a payment is
  applied or when it is already cancelled (the emulator keeps no credit memo rows and does not
  reopen the order lines; the corrective credit memo's application cannot be unapplied).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

from sandbox.bc_documents import add_event, error, header_key, now, remove_content
from sandbox.bc_documents_amounts import (
    TEXT_TYPES,
    fully_invoiced,
    line_values,
    lines_of,
    money,
    outstanding,
    shipped_not_invoiced,
)

if TYPE_CHECKING:
    from sandbox.bc_model import BcModel

POSTED_TYPE = {"Item": "Item", "Resource": "Resource", "Account": "G/L Account", "Comment": " ",
               "Fixed Asset": "Fixed Asset", "Charge": "Charge (Item)"}  # fmt: skip
ADDRESS_MAP = (("AddressLine1", "Address"), ("AddressLine2", "Address2"), ("City", "City"),
               ("Country", "CountryRegionCode"), ("PostCode", "PostCode"), ("State", "County"))  # fmt: skip
Portion = tuple[dict, dict, float]  # (header, line, quantity to invoice)


# -- status and archive -------------------------------------------------------------------------


def set_status(model: BcModel, header: dict, status: str) -> dict:
    row = {**header, "status": status}
    model.put("salesHeader", row)
    if status == "Released" and header.get("status") != "Released":
        add_event(model, row, "Released")
    return row


def release(model: BcModel, header: dict) -> dict:
    if header.get("status") == "Released":
        return header
    if not any(ln.get("quantity") for ln in lines_of(model, header) if ln.get("lineType") not in TEXT_TYPES):
        raise error(
            f"There is nothing to release for the document of type {header['documentType']} with the "
            f"number {header['number']}."
        )
    return set_status(model, header, "Released")


def reopen(model: BcModel, header: dict) -> dict:
    return header if header.get("status") == "Open" else set_status(model, header, "Open")


def archive(model: BcModel, header: dict) -> dict:
    key = (header["documentType"], header["number"], header.get("docNoOccurrence") or 1)
    versions = [
        r
        for r in model.rows("salesHeaderArchive", header["__company"])
        if (r.get("documentType"), r.get("number"), r.get("docNoOccurrence")) == key
    ]
    row = {
        "id": str(uuid.uuid4()),
        "__company": header["__company"],
        "documentType": key[0],
        "number": key[1],
        "docNoOccurrence": key[2],
        "versionNo": len(versions) + 1,
        "archivedAt": now(model),
        "yourReference": header.get("yourReference") or "",
        "externalDocumentNo": header.get("externalDocumentNumber") or "",
    }
    model.put("salesHeaderArchive", row)
    return row


# -- shipments and invoices ---------------------------------------------------------------------


def postable_order(model: BcModel, header: dict) -> dict:
    if header.get("documentType") != "Order":
        raise error(
            f"Document Type must be equal to 'Order' in Sales Header: {header_key(header)}. "
            f"Current value is '{header.get('documentType')}'."
        )
    return release(model, header) if header.get("status") == "Open" else header


def post_shipment(model: BcModel, header: dict, quantities: dict[int, float] | None = None) -> str:
    """Ship the outstanding quantities (or ``quantities`` by Line No.); the shipment No."""
    header = postable_order(model, header)
    to_ship: list[tuple[dict, float]] = []
    for line in lines_of(model, header):
        if line.get("lineType") in TEXT_TYPES:
            continue
        qty = outstanding(line) if quantities is None else float(quantities.get(line.get("sequence"), 0))
        if qty > outstanding(line):
            raise error(f"You cannot ship more than {outstanding(line):g} units.")
        if qty:
            to_ship.append((line, qty))
    if not to_ship:
        raise error("There is nothing to post.")
    number = model.next_number("salesShipment", header["__company"])
    shipment = {"id": str(uuid.uuid4()), "__company": header["__company"], "number": number,
                "orderNo": header["number"], "documentId": header["id"], "postingDate": _today()}  # fmt: skip
    model.put("salesShipmentHeader", shipment)
    for line, qty in to_ship:
        model.put(
            "salesLine", {**line, "shippedQuantity": round((line.get("shippedQuantity") or 0) + qty, 5)}
        )
    add_event(model, header, "ShipmentPosted", number)
    return number


def post_invoice(model: BcModel, header: dict, *, ship: bool = False) -> dict:
    """Invoice what is shipped and not invoiced (``ship``: ship the outstanding quantities first)."""
    header = postable_order(model, header)
    if ship and any(
        outstanding(ln) for ln in lines_of(model, header) if ln.get("lineType") not in TEXT_TYPES
    ):
        post_shipment(model, header)
        header = model.store.table("salesHeader")[header["id"]]
    return invoice_orders(model, [header], delete_invoiced=True)


def invoice_orders(model: BcModel, headers: list[dict], *, delete_invoiced: bool) -> dict:
    portions = [
        (h, ln, shipped_not_invoiced(ln))
        for h in headers
        for ln in lines_of(model, h)
        if shipped_not_invoiced(ln)
    ]
    if not portions:
        raise error("There is nothing to post.")
    invoice = posted_invoice(model, headers[0], portions, renumber=len(headers) > 1)
    for _, line, qty in portions:
        model.put(
            "salesLine", {**line, "invoicedQuantity": round((line.get("invoicedQuantity") or 0) + qty, 5)}
        )
    for header in headers:
        add_event(model, header, "InvoicePosted", invoice["number"])
        if fully_invoiced(model, header):
            add_event(model, header, "OrderFullyInvoiced", invoice["number"])
            if delete_invoiced:
                remove_content(model, header)
                model.remove("salesHeader", header)
    return invoice


def post_invoice_document(model: BcModel, header: dict) -> dict:
    """Post a v2.0 draft invoice (``salesInvoices``): all its lines, then the draft is deleted."""
    portions = [(header, ln, float(ln.get("quantity") or 0)) for ln in lines_of(model, header)]
    if not any(qty for _, _, qty in portions):
        raise error("There is nothing to post.")
    invoice = posted_invoice(model, header, portions, renumber=False)
    remove_content(model, header)
    model.remove("salesHeader", header)
    return invoice


def posted_invoice(model: BcModel, header: dict, portions: list[Portion], *, renumber: bool) -> dict:
    """A companion postedSalesInvoices row with its lines (text lines of invoiced documents too)."""
    invoiced_docs = {h["id"] for h, _, _ in portions}
    texts = [
        (h, ln, 0.0)
        for h in {h["id"]: h for h, _, _ in portions}.values()
        for ln in lines_of(model, h)
        if ln.get("lineType") in TEXT_TYPES and h["id"] in invoiced_docs
    ]
    ordered = sorted(portions + texts, key=lambda p: (p[0]["number"], p[1].get("sequence") or 0))
    row = _posted_header(model, header)
    lines = [
        _posted_line(model, row["id"], p, (i + 1) * 10000 if renumber else None)
        for i, p in enumerate(ordered)
    ]
    for name, key in (("amount", "amount"), ("amountIncludingVat", "amountIncludingVat"),
                      ("invoiceDiscountAmount", "invDiscountAmount")):  # fmt: skip
        row[name] = money(sum(ln[key] for ln in lines))
    row["remainingAmount"] = row["amountIncludingVat"]
    model.put("postedSalesInvoice", row)
    for line in lines:
        model.put("postedSalesInvoiceLine", line)
    return row


def _posted_line(model: BcModel, invoice_id: str, portion: Portion, line_no: int | None) -> dict[str, Any]:
    header, line, qty = portion
    share = qty / line["quantity"] if line.get("quantity") else 0.0
    values = line_values(model, line, header)
    return {
        "id": str(uuid.uuid4()), "__company": line["__company"], "documentId": invoice_id,
        "lineNo": line_no or line.get("sequence"), "type": POSTED_TYPE.get(line.get("lineType", ""), " "),
        "number": line.get("lineObjectNumber", ""), "description": line.get("description", ""),
        "quantity": qty, "unitOfMeasureCode": line.get("unitOfMeasureCode", ""),
        "unitPrice": line.get("unitPrice") or 0,
        "lineDiscountAmount": round((line.get("discountAmount") or 0) * share, 2),
        "amount": money(values["amount"] * share), "amountIncludingVat": money(values["incl"] * share),
        "invDiscountAmount": money(values["discount"] * share),
    }  # fmt: skip


def _posted_header(model: BcModel, doc: dict) -> dict[str, Any]:
    company, today = doc["__company"], _today()
    header: dict[str, Any] = {
        "id": str(uuid.uuid4()), "__company": company,
        "number": model.next_number("postedSalesInvoice", company),
        "externalDocumentNo": doc.get("externalDocumentNumber", ""),
        "yourReference": doc.get("yourReference", ""), "sellToCustomerNo": doc.get("customerNumber", ""),
        "currencyCode": doc.get("currencyCode", ""),
        "currencyFactor": exchange_factor(model, company, doc.get("currencyCode", "")),
        "dueDate": doc.get("dueDate") or today, "shipmentDate": today,
        "salespersonCode": doc.get("salespersonCode", ""), "workDescription": doc.get("workDescription", ""),
        "paymentTermsCode": doc.get("paymentTermsCode", ""), "cancelled": False,
        "shipmentMethodCode": doc.get("shipmentMethodCode", ""),
        "shippingAgentCode": doc.get("shippingAgentCode", ""),
        "pricesIncludingVat": bool(doc.get("pricesIncludeTax")),
        "billToName": doc.get("billToName", ""), "shipToName": doc.get("shipToName", ""),
        "lastDetailedEntryNo": next_detailed_entry(model, company), "postingDate": today,
    }  # fmt: skip
    for side in ("billTo", "shipTo"):
        for api, posted in ADDRESS_MAP:
            header[f"{side}{posted}"] = doc.get(f"{side}{api}") or doc.get(f"sellTo{api}", "")
    return header


def exchange_factor(model: BcModel, company: str, currency: str) -> float:
    if not currency:
        return 0.0
    rates = [
        r
        for r in model.rows("currencyExchangeRate", company)
        if r.get("currencyCode") == currency and (r.get("startingDate") or "") <= _today()
    ]
    if not rates:
        raise error(f"The Currency Exchange Rate does not exist for currency {currency}.")
    rate = max(rates, key=lambda r: r.get("startingDate") or "")
    return round((rate.get("exchangeRateAmount") or 1) / (rate.get("relationalExchangeRateAmount") or 1), 6)


# -- payments -----------------------------------------------------------------------------------


def next_detailed_entry(model: BcModel, company: str) -> int:
    used = (r.get("lastDetailedEntryNo") or 0 for r in model.rows("postedSalesInvoice", company))
    return max(used, default=0) + 1


def apply_payment(model: BcModel, invoice: dict, amount: float | None = None) -> dict:
    """A customer payment applied to a posted invoice (all that remains when ``amount`` is None)."""
    remaining = float(invoice.get("remainingAmount") or 0)
    paid = remaining if amount is None else float(amount)
    if paid <= 0 or paid > remaining:
        raise error(f"The payment must be more than 0 and at most the remaining amount {remaining:.2f}.")
    return _ledger_change(model, invoice, remainingAmount=money(remaining - paid))


def unapply_payments(model: BcModel, invoice: dict) -> dict:
    """Unapply all payments applied to a posted invoice (BC's Unapply Entries)."""
    total = float(invoice.get("amountIncludingVat") or 0)
    if invoice.get("cancelled") or money(float(invoice.get("remainingAmount") or 0)) == money(total):
        raise error(
            f"Cust. Ledger Entry No. {ledger_entry_no(model, invoice)} does not have an application entry."
        )
    return _ledger_change(model, invoice, remainingAmount=money(total))


def cancel_invoice(model: BcModel, invoice: dict) -> dict:
    """BC's Cancel of a posted invoice: a corrective credit memo applied to all it leaves open."""
    if invoice.get("cancelled"):
        raise error("You cannot cancel this posted sales invoice because it has already been canceled.")
    if money(float(invoice.get("remainingAmount") or 0)) != money(
        float(invoice.get("amountIncludingVat") or 0)
    ):
        raise error(
            "You cannot cancel this posted sales invoice because it is fully or partially paid. "
            "To reverse a paid sales invoice, you must manually create a sales credit memo."
        )
    return _ledger_change(model, invoice, remainingAmount=0.0, cancelled=True)


def _ledger_change(model: BcModel, invoice: dict, **changes: Any) -> dict:
    row = {**invoice, **changes, "lastDetailedEntryNo": next_detailed_entry(model, invoice["__company"])}
    model.put("postedSalesInvoice", row)
    return row


def ledger_entry_no(model: BcModel, invoice: dict) -> int:
    """The Entry No. of the invoice's Cust. Ledger Entry: invoices post one entry each, in No. order."""
    numbers = sorted(r.get("number") or "" for r in model.rows("postedSalesInvoice", invoice["__company"]))
    return numbers.index(invoice.get("number") or "") + 1


def _today() -> str:
    return date.today().isoformat()
