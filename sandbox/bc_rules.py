"""BC's own rules applied on writes, and computed (FlowField-like) fields of the BC emulator.

Customers get a company contact with business relation "Customer" (as BC's marketing setup does)
and keep it in step; person contacts derive Name from First/Middle/Surname (or the reverse);
sales documents take their defaults from the customer; lines from the item or resource.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from sandbox.bc_schema import NUMBER_SERIES, TABLES, BcView
from sandbox.odata.protocol import ApiError

if TYPE_CHECKING:
    from sandbox.bc_model import BcModel

CUSTOMER_TO_CONTACT = (
    "name",
    "address",
    "address2",
    "postCode",
    "city",
    "countryRegionCode",
    "county",
    "phoneNo",
    "email",
    "faxNo",
    "homePage",
    "mobilePhoneNo",
    "currencyCode",
    "salespersonCode",
)
DOC_TABLES = ("salesOrder", "salesQuote", "salesInvoice")


def bc_error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message)


def caption(table: str) -> str:
    return TABLES[table][1]


def before_create(model: BcModel, view: BcView, row: dict, company: str) -> None:
    table = view.table
    if table in NUMBER_SERIES and not row.get("number"):
        row["number"] = model.next_number(table, company)
    if table == "contact":
        contact_names(row, row)
    elif table == "customer":
        row.setdefault("type", "Company")
    elif table in DOC_TABLES:
        document_defaults(model, table, row, company)
    elif table.endswith("Line") and table != "postedSalesInvoiceLine":
        line_defaults(model, table, row, company)


def before_update(model: BcModel, view: BcView, row: dict, changes: dict, company: str) -> None:
    if view.table == "contact":
        contact_names(row, changes)


def create_company_contact(model: BcModel, customer: dict, company: str) -> None:
    number = model.next_number("contact", company)
    contact = {k: customer[k] for k in CUSTOMER_TO_CONTACT if k in customer}
    contact.update(
        {
            "id": str(uuid.uuid5(uuid.UUID(customer["id"]), "company-contact")),
            "__company": company,
            "number": number,
            "type": "Company",
            "companyNo": number,
            "__relation": "Customer",
            "__customerNo": customer["number"],
        }
    )
    model.put("contact", contact)
    customer["companyContactNo"] = number


def sync_company_contact(model: BcModel, customer: dict, changes: dict, company: str) -> None:
    contact = model.by_code("contact", company, customer.get("companyContactNo"))
    copied = {k: customer.get(k) for k in CUSTOMER_TO_CONTACT if k in changes}
    if contact is None or not (copied or "number" in changes):
        return
    model.put("contact", {**contact, **copied, "__customerNo": customer["number"]})


def document_defaults(model: BcModel, table: str, row: dict, company: str) -> None:
    today = date.today().isoformat()
    for name in ("orderDate", "documentDate", "invoiceDate", "postingDate"):
        row.setdefault(name, today)
    row.setdefault("status", "Draft")
    customer = model.by_code("customer", company, row.get("customerNumber"))
    if customer is None:
        raise bc_error(
            400, "Application_DialogException", "A customerNumber or a customerID must be provided."
        )
    if customer.get("blocked") == "All":
        raise bc_error(
            400,
            "Application_DialogException",
            f"You cannot create this type of document when Customer "
            f"{customer['number']} is blocked with type All",
        )
    defaults = {
        "customerName": "name",
        "billToName": "name",
        "shipToName": "name",
        "billToCustomerNumber": "number",
        "currencyCode": "currencyCode",
        "paymentTermsCode": "paymentTermsCode",
        "salespersonCode": "salespersonCode",
        "shipmentMethodCode": "shipmentMethodCode",
        "sellToAddressLine1": "address",
        "sellToAddressLine2": "address2",
        "sellToCity": "city",
        "sellToCountry": "countryRegionCode",
        "sellToPostCode": "postCode",
        "sellToState": "county",
        "phoneNumber": "phoneNo",
        "email": "email",
    }
    for name, source in defaults.items():
        if not row.get(name) and customer.get(source):
            row[name] = customer[source]


def line_defaults(model: BcModel, table: str, row: dict, company: str) -> None:
    header = model.by_id(table[: -len("Line")], company, row.get("documentId"))
    if header is None:
        raise bc_error(
            400,
            "Internal_RecordNotFound",
            f"The Sales Header does not exist. Identification fields and values: "
            f"SystemId='{{{str(row.get('documentId')).upper()}}}'",
        )
    siblings = model.lines_of(table).get(header["id"], [])
    row.setdefault("sequence", max([r.get("sequence") or 0 for r in siblings] + [0]) + 10000)
    row.setdefault("lineType", "Item" if row.get("lineObjectNumber") else "Comment")
    kind = {"Item": "item", "Resource": "resource"}.get(row["lineType"])
    if kind and row.get("lineObjectNumber"):
        source = model.by_code(kind, company, row["lineObjectNumber"])
        if source is None:
            raise bc_error(
                400,
                "Internal_InvalidTableRelation",
                f"The field No. of table Sales Line contains a value "
                f"({row['lineObjectNumber']}) that cannot be found in the related "
                f"table ({caption(kind)}).",
            )
        if source.get("blocked") is True:
            raise bc_error(
                400,
                "Application_FieldValidationException",
                f"Blocked must be equal to 'No' in {caption(kind)}: "
                f"No.={source['number']}. Current value is 'Yes'.",
            )
        row.setdefault("description", source.get("description") or source.get("name") or "")
        row.setdefault("unitPrice", source.get("unitPrice") or 0)
        row.setdefault("unitOfMeasureCode", source.get("baseUnitOfMeasure") or "")


def contact_names(row: dict, changes: dict) -> None:
    if row.get("type", "Company") == "Company":
        row["companyNo"] = row.get("companyNo") or row.get("number", "")
        return
    parts = ("firstName", "middleName", "surname")
    if any(p in changes for p in parts):
        row["name"] = " ".join(str(row[p]) for p in parts if row.get(p))
    elif "name" in changes:
        words = str(row.get("name") or "").split()
        row["firstName"] = words[0] if words else ""
        row["surname"] = words[-1] if len(words) > 1 else ""
        row["middleName"] = " ".join(words[1:-1])


# -- computed fields ---------------------------------------------------------------------------


def _line_amount(model: BcModel, view: BcView, row: dict) -> float:
    gross = (row.get("quantity") or 0) * (row.get("unitPrice") or 0)
    discount = row.get("discountAmount") or gross * (row.get("discountPercent") or 0) / 100
    return round(gross - discount, 2)


def _doc_total(model: BcModel, view: BcView, row: dict) -> float:
    lines = model.lines_of(f"{view.table}Line").get(row["id"], [])
    total = sum(_line_amount(model, view, line) for line in lines)
    return round(total - (row.get("discountAmount") or 0), 2)


def _company_contact(model: BcModel, row: dict) -> dict | None:
    if row.get("type", "Company") == "Company":
        return row
    return model.by_code("contact", row["__company"], row.get("companyNo"))


def _company_name(model: BcModel, view: BcView, row: dict) -> str:
    company = _company_contact(model, row)
    return str(company.get("name") or "") if company else ""


def _business_relation(model: BcModel, view: BcView, row: dict) -> str:
    company = _company_contact(model, row)
    return str(company.get("__relation") or "None") if company else "None"


def _related_customer(model: BcModel, view: BcView, row: dict) -> str:
    company = _company_contact(model, row)
    return str(company.get("__customerNo") or "") if company else ""


GETTERS: dict[str, Callable[[BcModel, BcView, dict], Any]] = {
    "line_amount": _line_amount,
    "doc_total": _doc_total,
    "zero": lambda model, view, row: 0,
    "company_name": _company_name,
    "business_relation": _business_relation,
    "related_customer": _related_customer,
    "search_name": lambda model, view, row: str(row.get("name") or "").upper(),
}
