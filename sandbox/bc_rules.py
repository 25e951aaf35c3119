"""BC's own rules applied on writes, and computed (FlowField-like) fields of the BC emulator.

Customers get a company contact with business relation "Customer" (as BC's marketing setup does)
and keep it in step; person contacts derive Name from First/Middle/Surname (or the reverse);
sales documents and their lines follow :mod:`sandbox.bc_documents` (computed amounts:
:mod:`sandbox.bc_documents_amounts`; customer statistics: :mod:`sandbox.bc_statistics`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox import bc_documents as documents
from sandbox.bc_documents_amounts import DOCUMENT_GETTERS
from sandbox.bc_schema import NUMBER_SERIES, TABLES, BcView
from sandbox.bc_statistics import STATISTICS_GETTERS
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


def bc_error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message)


def caption(table: str) -> str:
    return TABLES[table][1]


def before_create(model: BcModel, view: BcView, row: dict, company: str, admin: bool) -> None:
    table = view.table
    if table in NUMBER_SERIES and not row.get("number"):
        row["number"] = model.next_number(table, company)
    if table == "contact":
        contact_names(row, row)
    elif table == "customer":
        row.setdefault("type", "Company")
    elif table == "salesHeader":
        documents.header_defaults(model, view, row, company)
    elif table == "salesLine":
        documents.line_defaults(model, view, row, company, admin)
    elif table == "salesDocumentNote":
        row["createdAt"] = row.get("createdAt") or documents.now(model)


def before_update(
    model: BcModel, view: BcView, old: dict, row: dict, changes: dict, company: str, admin: bool
) -> None:
    if view.table == "contact":
        contact_names(row, changes)
    elif view.table == "salesHeader":
        documents.header_update(model, old, row, changes, company, admin)
    elif view.table == "salesLine":
        documents.line_update(model, view, old, row, changes, company, admin)


def before_delete(model: BcModel, view: BcView, row: dict, company: str, admin: bool) -> None:
    if view.table == "salesHeader":
        documents.header_delete(model, row)
    elif view.table == "salesLine":
        documents.line_delete(model, row, company, admin)


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
    **DOCUMENT_GETTERS,
    **STATISTICS_GETTERS,
    "zero": lambda model, view, row: 0,
    "company_name": _company_name,
    "business_relation": _business_relation,
    "related_customer": _related_customer,
    "search_name": lambda model, view, row: str(row.get("name") or "").upper(),
}
