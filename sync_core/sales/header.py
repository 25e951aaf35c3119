"""BC's header rules for a sales document built from a CRM order or quote (bc-integration §5.1 step 4, 9).

Pure: given the document and what its references are in BC, the body of the companion
``salesDocuments`` deep insert (header fields plus ``lines``).
- Your Reference = order / quote number (35); External Document No. = ``name``, upper-cased (Code 35);
- Requested Delivery Date = ``requestdeliveryby``; a quote's Quote Valid Until Date = ``effectiveto``;
- bill-to / ship-to fields only when at least one CRM field of that block is non-empty, each cut
  to BC's length; Payment Discount % = ``discountpercentage``; Work Description = ``description``;
- header discount: with a ``discountamount`` or ``discountpercentage``, an invoice discount amount
  = ``totallineitemamount - totalamountlessfreight``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync_core.sales.crm_document import CrmDocument, number

REFERENCE_LENGTH = 35
# CRM column suffix -> (BC field suffix, BC length)
ADDRESS = (
    ("name", "Name", 100),
    ("line1", "Address", 100),
    ("line2", "Address2", 50),
    ("city", "City", 30),
    ("postalcode", "PostCode", 20),
    ("stateorprovince", "County", 30),
    ("country", "CountryRegionCode", 10),
    ("contactname", "Contact", 100),
)


@dataclass(frozen=True)
class HeaderReferences:
    customer_no: str
    currency_code: str
    option_codes: Mapping[str, str] = field(default_factory=dict)
    quote_no: str = ""


def _date(value: Any) -> str:
    return str(value or "")[:10]


def _address(doc: CrmDocument, crm_prefix: str, bc_prefix: str) -> dict[str, Any]:
    values = {f"{crm_prefix}_{crm}": str(doc.get(f"{crm_prefix}_{crm}", "")) for crm, _, _ in ADDRESS}
    if not any(v.strip() for v in values.values()):
        return {}
    out: dict[str, Any] = {}
    for crm, bc, length in ADDRESS:
        text = values[f"{crm_prefix}_{crm}"][:length]
        out[f"{bc_prefix}{bc}"] = text.upper() if bc == "CountryRegionCode" else text
    return out


def invoice_discount(doc: CrmDocument) -> float | None:
    if not number(doc.get("discountamount")) and not number(doc.get("discountpercentage")):
        return None
    return round(number(doc.get("totallineitemamount")) - number(doc.get("totalamountlessfreight")), 2)


def header_values(doc: CrmDocument, refs: HeaderReferences) -> dict[str, Any]:
    values: dict[str, Any] = {
        "documentType": "Order" if doc.kind == "salesorder" else "Quote",
        "sellToCustomerNo": refs.customer_no,
        "yourReference": doc.number[:REFERENCE_LENGTH],
        "externalDocumentNo": str(doc.get("name", ""))[:REFERENCE_LENGTH].upper(),
        "currencyCode": refs.currency_code,
        **refs.option_codes,
    }
    if doc.get("requestdeliveryby"):
        values["requestedDeliveryDate"] = _date(doc.get("requestdeliveryby"))
    if doc.kind == "quote" and doc.get("effectiveto"):
        values["quoteValidUntilDate"] = _date(doc.get("effectiveto"))
    if number(doc.get("discountpercentage")):
        values["paymentDiscountPercent"] = number(doc.get("discountpercentage"))
    if doc.get("description"):
        values["workDescription"] = str(doc.get("description"))
    if refs.quote_no:
        values["quoteNo"] = refs.quote_no
    values |= _address(doc, "billto", "billTo") | _address(doc, "shipto", "shipTo")
    discount = invoice_discount(doc)
    if discount is not None:
        values["invoiceDiscountAmount"] = discount
    return values
