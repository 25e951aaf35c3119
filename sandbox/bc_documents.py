"""BC's rules for writes to sales documents (Sales Header 36, Sales Line 37, their notes).

Header: numbered from the series of its document type, Status Open, Doc. No. Occurrence from the
archive, the customer's defaults (names, addresses, codes, VAT Bus. Posting Group); no rename.
Changes through the API (never the emulator's own admin writes) need Status Open, as do all line
changes: "Status must be equal to 'Open' in Sales Header: ...". Lines: Line No. in 10000 steps,
No. validated against the item, resource or G/L account (blocked ones refused) or, for text
lines, the (empty) Standard Text table; description, unit price, unit of measure and VAT Prod.
Posting Group from it. Deleting a header deletes its lines and notes, deleting a line the text
lines attached to it; an order deleted other than by posting leaves an ``OrderDeleted`` event.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING

from sandbox.bc_documents_amounts import TEXT_TYPES, line_gross, lines_of, shipped_not_invoiced, vat_percent
from sandbox.bc_schema import TABLES, V2, BcView
from sandbox.odata.protocol import ApiError

if TYPE_CHECKING:
    from sandbox.bc_model import BcModel

SERIES = {"Order": "salesOrder", "Quote": "salesQuote", "Invoice": "salesInvoice"}
SOURCES = {"Item": "item", "Resource": "resource", "Account": "glAccount"}
DIALOG = "Application_DialogException"
FROM_CUSTOMER = {
    "customerName": "name", "billToName": "name", "shipToName": "name", "billToCustomerNumber": "number",
    "currencyCode": "currencyCode", "paymentTermsCode": "paymentTermsCode",
    "salespersonCode": "salespersonCode", "shipmentMethodCode": "shipmentMethodCode",
    "shippingAgentCode": "shippingAgentCode", "vatBusPostingGroup": "vatBusPostingGroup",
    "phoneNumber": "phoneNo", "email": "email", "billToContact": "contact", "shipToContact": "contact",
    **{f"{side}{api}": stored for side in ("sellTo", "billTo", "shipTo") for api, stored in (
        ("AddressLine1", "address"), ("AddressLine2", "address2"), ("City", "city"),
        ("Country", "countryRegionCode"), ("PostCode", "postCode"), ("State", "county"))},
}  # fmt: skip


def error(message: str, code: str = DIALOG, status: int = 400) -> ApiError:
    return ApiError(status, code, message)


def header_key(header: dict) -> str:
    return f"Document Type={header.get('documentType')}, No.={header.get('number')}"


def line_key(header: dict, line: dict) -> str:
    return (
        f"Document Type={header.get('documentType')}, Document No.={header.get('number')}, "
        f"Line No.={line.get('sequence')}"
    )


def test_status_open(header: dict) -> None:
    status = header.get("status") or "Open"
    if status != "Open":
        raise error(
            f"Status must be equal to 'Open' in Sales Header: {header_key(header)}. "
            f"Current value is '{status}'."
        )


def now(model: BcModel) -> str:
    """Now, as the store stamps rows (UTC, milliseconds, later than any earlier stamp)."""
    return model.store.stamp()


# -- headers ------------------------------------------------------------------------------------


def header_defaults(model: BcModel, view: BcView, row: dict, company: str) -> None:
    kind = row["documentType"]
    today = date.today().isoformat()
    for name in ("orderDate", "documentDate", "invoiceDate", "postingDate"):
        row.setdefault(name, today)
    row["status"] = row.get("status") or "Open"
    v2_status = {"Quote": "quoteStatus", "Invoice": "invoiceStatus"}.get(kind)
    if v2_status:
        row.setdefault(v2_status, "Draft")
    if not row.get("number"):
        row["number"] = model.next_number(SERIES[kind], company)
    row["docNoOccurrence"] = row.get("docNoOccurrence") or next_occurrence(
        model, company, kind, row["number"]
    )
    customer_defaults(model, view, row, company)


def customer_defaults(model: BcModel, view: BcView, row: dict, company: str) -> None:
    """BC's Sell-to Customer No. OnValidate: the customer's names, addresses, codes, VAT group."""
    customer = model.by_code("customer", company, row.get("customerNumber"))
    if customer is None:
        raise error(
            "A customerNumber or a customerID must be provided."
            if view.api == V2
            else f"Sell-to Customer No. must have a value in Sales Header: {header_key(row)}. "
            "It cannot be zero or empty."
        )
    if customer.get("blocked") == "All":
        raise error(
            f"You cannot create this type of document when Customer {customer['number']} is blocked "
            "with type All"
        )
    for name, source in FROM_CUSTOMER.items():
        if not row.get(name) and customer.get(source):
            row[name] = customer[source]
    terms = model.by_code("paymentTerms", company, row.get("paymentTermsCode"))
    if terms and "paymentDiscountPercent" not in row:
        row["paymentDiscountPercent"] = terms.get("discountPercent") or 0


def next_occurrence(model: BcModel, company: str, kind: str, number: str) -> int:
    """BC's Doc. No. Occurrence: one more than the archive's highest for this type and No."""
    archived = [
        r.get("docNoOccurrence") or 0
        for r in model.rows("salesHeaderArchive", company)
        if r.get("documentType") == kind and r.get("number") == number
    ]
    return max(archived, default=0) + 1


def header_update(model: BcModel, old: dict, row: dict, changes: dict, company: str, admin: bool) -> None:
    if any(k in changes and changes[k] != old.get(k) for k in ("documentType", "number")):
        raise error("You cannot rename a Sales Header.")
    if not admin:
        test_status_open(old)
    if "discountAmount" in changes and not admin:
        check_invoice_discount(model, row)
    if row.get("documentType") == "Order" and old.get("status") != "Released" == row.get("status"):
        add_event(model, row, "Released")


def check_invoice_discount(model: BcModel, header: dict) -> None:
    total = round(sum(line_gross(ln) for ln in lines_of(model, header)), 2)
    if (header.get("discountAmount") or 0) > total:
        raise error(f"The maximum Invoice Discount Amount that you can apply is {total:.2f}.")


def header_delete(model: BcModel, header: dict) -> None:
    for line in lines_of(model, header):
        check_nothing_shipped_uninvoiced(header, line)
    remove_content(model, header)
    if header.get("documentType") == "Order":
        add_event(model, header, "OrderDeleted")


def check_nothing_shipped_uninvoiced(header: dict, line: dict) -> None:
    if shipped_not_invoiced(line):
        raise error(
            f"Qty. Shipped Not Invoiced must be equal to '0' in Sales Line: {line_key(header, line)}. "
            f"Current value is '{shipped_not_invoiced(line):g}'."
        )


def remove_content(model: BcModel, header: dict) -> None:
    """Delete the lines and notes of a document (the header stays)."""
    for line in lines_of(model, header):
        model.remove("salesLine", line)
    for note in [
        n for n in model.rows("salesDocumentNote", header["__company"]) if n.get("documentId") == header["id"]
    ]:
        model.remove("salesDocumentNote", note)


# -- lines --------------------------------------------------------------------------------------


def line_header(model: BcModel, view: BcView, row: dict, company: str) -> dict:
    header = model.by_id("salesHeader", company, row.get("documentId"))
    if header is None or not view.shows(header):
        raise error(
            f"The Sales Header does not exist. Identification fields and values: "
            f"SystemId='{{{str(row.get('documentId')).upper()}}}'",
            "Internal_RecordNotFound",
        )
    return header


def line_defaults(model: BcModel, view: BcView, row: dict, company: str, admin: bool) -> None:
    header = line_header(model, view, row, company)
    if not admin:
        test_status_open(header)
    row["documentType"] = header["documentType"]
    siblings = lines_of(model, header)
    row.setdefault("sequence", max([r.get("sequence") or 0 for r in siblings] + [0]) + 10000)
    check_line_no(header, row, siblings)
    row.setdefault("lineType", "Item" if row.get("lineObjectNumber") else "Comment")
    apply_source(model, header, row, set(row))


def check_line_no(header: dict, row: dict, siblings: list[dict]) -> None:
    if any(r.get("sequence") == row.get("sequence") and r["id"] != row["id"] for r in siblings):
        raise error(
            f"The Sales Line already exists. Identification fields and values: "
            f"Document Type='{header['documentType']}',Document No.='{header['number']}',"
            f"Line No.='{row.get('sequence')}'",
            "Internal_EntityWithSameKeyExists",
            409,
        )


def line_update(
    model: BcModel, view: BcView, old: dict, row: dict, changes: dict, company: str, admin: bool
) -> None:
    if any(k in changes and changes[k] != old.get(k) for k in ("documentId", "sequence")):
        raise error("You cannot rename a Sales Line.")
    header = line_header(model, view, row, company)
    if not admin:
        test_status_open(header)
    if {"lineType", "lineObjectNumber"} & set(changes):
        apply_source(model, header, row, set(changes))
    if "quantity" in changes and abs(row.get("quantity") or 0) < abs(row.get("shippedQuantity") or 0):
        raise error(
            f"Quantity must not be less than Quantity Shipped in Sales Line {line_key(header, row)}.",
            "Application_FieldValidationException",
        )


def line_delete(model: BcModel, line: dict, company: str, admin: bool) -> None:
    header = model.by_id("salesHeader", company, line.get("documentId"))
    if header is None:
        return
    if not admin:
        test_status_open(header)
    check_nothing_shipped_uninvoiced(header, line)
    for attached in lines_of(model, header):
        if line.get("sequence") and attached.get("attachedToLineNo") == line.get("sequence"):
            model.remove("salesLine", attached)


def apply_source(model: BcModel, header: dict, row: dict, given: set[str]) -> None:
    """Validate No. against the line type's table and take its defaults (BC's No. OnValidate)."""
    number, kind = row.get("lineObjectNumber") or "", row.get("lineType")
    if kind in TEXT_TYPES:
        if number:
            raise no_such(number, "Standard Text")
        row["vatProdPostingGroup"] = ""
        return
    table = SOURCES.get(str(kind))
    if table is None or not number:
        return
    source = model.by_code(table, header["__company"], number)
    if source is None:
        raise no_such(number, TABLES[table][1])
    if source.get("blocked") is True:
        raise error(
            f"Blocked must be equal to 'No' in {TABLES[table][1]}: No.={source['number']}. "
            "Current value is 'Yes'.",
            "Application_FieldValidationException",
        )
    row["vatProdPostingGroup"] = source.get("vatProdPostingGroup") or ""
    if "description" not in given or not row.get("description"):
        row["description"] = source.get("description") or source.get("name") or ""
    if table != "glAccount":
        if "unitPrice" not in given:
            row["unitPrice"] = unit_price(model, header, source, row["vatProdPostingGroup"])
        if "unitOfMeasureCode" not in given:
            row["unitOfMeasureCode"] = source.get("baseUnitOfMeasure") or ""


def no_such(number: str, table_caption: str) -> ApiError:
    return error(
        f"The field No. of table Sales Line contains a value ({number}) that cannot be found in the "
        f"related table ({table_caption}).",
        "Internal_InvalidTableRelation",
    )


def unit_price(model: BcModel, header: dict, source: dict, prod: str) -> float:
    """The item's or resource's Unit Price, with or without VAT as the header's prices are."""
    price = float(source.get("unitPrice") or 0)
    company = header["__company"]
    if source.get("priceIncludesTax"):
        price /= 1 + vat_percent(model, company, source.get("vatBusPostingGrPrice"), prod) / 100
    if header.get("pricesIncludeTax"):
        price *= 1 + vat_percent(model, company, header.get("vatBusPostingGroup"), prod) / 100
    return round(price, 5)


# -- events -------------------------------------------------------------------------------------


def add_event(model: BcModel, header: dict, event_type: str, posted_no: str = "") -> dict | None:
    """Append a salesDocumentEvents row (BC's CRM Sales Document Posting Buffer); orders only."""
    if header.get("documentType") != "Order":
        return None
    company = header["__company"]
    last = max((r.get("sequenceNo") or 0 for r in model.rows("salesDocumentEvent", company)), default=0)
    event = {
        "id": str(uuid.uuid4()),
        "__company": company,
        "sequenceNo": last + 1,
        "eventType": event_type,
        "salesDocumentId": header["id"],
        "orderNo": header.get("number") or "",
        "yourReference": header.get("yourReference") or "",
        "postedDocumentNo": posted_no,
        "sellToCustomerNo": header.get("customerNumber") or "",
        "createdAt": now(model),
    }
    model.put("salesDocumentEvent", event)
    return event
