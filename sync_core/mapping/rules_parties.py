"""BC's hard-coded rules for salespeople, customers, contacts and opportunities (§3.1-§3.12).

Each hook is a pure function ``(HookContext, values) -> values`` over the values the field
mappings produced (before lookups are resolved: a lookup field still holds a BC code).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sync_core.errors import MappingError
from sync_core.mapping.rules_common import HookContext, IgnoredRecord, code, eq, text

SALESPERSON_CODE_PATTERN = "SP NO. {}"
SALESPERSON_CODE_FIRST = "SP NO. 00001"
ACCOUNT_INACTIVE_STATE, ACCOUNT_INACTIVE_STATUS = 1, 2
RELATIONSHIP_TYPES_WITH_COMPANY = (3, 11)  # account customertypecode Customer, Vendor (§4.8)
PARENT_ACCOUNT = "_parentaccountid_value"
_LAST_NUMBER = re.compile(r"(\d+)(\D*)$")


def incstr(value: str) -> str:
    """AL's IncStr: the last number in ``value`` plus one, keeping its width (``A009`` -> ``A010``)."""
    found = _LAST_NUMBER.search(value)
    if found is None:
        return ""
    digits = found.group(1)
    number = str(int(digits) + 1).zfill(len(digits))
    return value[: found.start(1)] + number + found.group(2)


def salesperson_code(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §3.7: a salesperson created from a Dataverse user gets the next ``SP NO. 00001`` code.

    BC takes the last code matching ``SP NO. 0*`` and increments it, or starts at 00001.
    """
    if ctx.direction != "to-bc" or not ctx.inserting or code(values.get("code")):
        return values
    rows = ctx.reference.rows("salespeoplePurchasers", "startswith(code,'SP NO. 0')", fresh=True)
    last = max((code(r.get("code")) for r in rows), default="")
    return {**values, "code": incstr(last) if last else SALESPERSON_CODE_FIRST}


def customer_inactive_blocked(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §3.1: an inactive account blocks its customer (Blocked = All) unless it is blocked already.

    Needs the customer's current Blocked (``ctx.destination``) on an update; without it the rule
    cannot tell "not blocked" from "blocked for Ship/Invoice" and leaves Blocked alone.
    """
    if ctx.direction != "to-bc":
        return values
    fields = ctx.source.fields
    inactive = (
        fields.get("statecode") == ACCOUNT_INACTIVE_STATE
        or fields.get("statuscode") == ACCOUNT_INACTIVE_STATUS
    )
    if not inactive:
        return values
    if ctx.inserting:
        current = ""
    elif ctx.destination is not None:
        current = text(ctx.destination.fields.get("blocked"))
    else:
        return values
    return values if current.strip() else {**values, "blocked": "All"}


def contact_type_person(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §3.2: BC's constant field mapping Type = Person (FromIntegrationTable)."""
    return {**values, "type": "Person"} if ctx.direction == "to-bc" else values


def contact_customer_company(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §3.2 post-filter: a contact whose company has no customer relation is ignored, not synced.

    The table filter keeps such contacts out of scheduled runs; this also keeps them out of
    "Synchronize now" / "Create in Dataverse", which BC's post-filter covers as well.
    """
    if ctx.direction != "to-dataverse" or code(ctx.source.fields.get("relatedCustomerNo")):
        return values
    number = code(ctx.source.fields.get("number"))
    raise IgnoredRecord(
        f"Contact {number} is not synchronized: its company has no customer business relation.",
        field="parentcustomerid",
        remedy="Nothing to fix. To synchronize it, relate the contact's company to a customer in "
        "Business Central.",
    )


def contact_company_from_account(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §3.2: a contact created from Dataverse belongs to the company contact of the customer
    coupled to its parent account. A parent that is neither a Customer- nor a Vendor-type account
    gives a person without a company (no customer is created: BC's test
    TestSynchCRMContactWithNonCustomerCRMAccountParent); a Customer- or Vendor-type parent that is
    not coupled is an error ("The contact cannot be synchronized because the company does not
    exist."). Set when the BC contact is created; later changes of the parent are not followed."""
    account = ctx.source.fields.get("_parentcustomerid_value")
    if ctx.direction != "to-bc" or not ctx.inserting or not account or ctx.coupled_bc is None:
        return values
    customer = ctx.coupled_bc("CUSTOMER", str(account))
    company = text(customer.get("companyContactNo")) if customer else ""
    if company:
        return {**values, "companyNo": company}
    if customer is None and _neither_customer_nor_vendor(ctx, str(account)):
        return {**values, "companyNo": ""}
    raise MappingError(
        "The contact cannot be synchronized because the company does not exist.",
        field="companyNo",
        remedy="Couple the contact's parent account to a customer that has a company contact "
        '(python -m sync_core run "CUSTOMER", or create-in-bc for the account), then retry.',
    )


def _neither_customer_nor_vendor(ctx: HookContext, account_id: str) -> bool:
    """Whether the parent is an account whose relationship type is neither Customer nor Vendor."""
    account = ctx.crm_row("accounts", account_id) if ctx.crm_row is not None else None
    return account is not None and account.get("customertypecode") not in RELATIONSHIP_TYPES_WITH_COMPANY


def opportunity_parent_account(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §3.12: parentaccountid is the account of the customer related to the contact company.

    The field mapping carries Contact Company No. (a company contact); this hook replaces it by
    the No. of the customer related to that contact (blank when none), which the field's
    CUSTOMER lookup then turns into the coupled account.
    """
    if ctx.direction != "to-dataverse" or PARENT_ACCOUNT not in values:
        return values
    company = code(values[PARENT_ACCOUNT])
    if not company:
        return values
    rows = ctx.reference.rows("integrationContacts", eq("number", company))
    customer = code(rows[0].get("relatedCustomerNo")) if rows else ""
    return {**values, PARENT_ACCOUNT: customer}


HOOKS: dict[str, Callable[[HookContext, dict[str, Any]], dict[str, Any]]] = {
    "salesperson-code": salesperson_code,
    "customer-inactive-blocked": customer_inactive_blocked,
    "contact-company-from-account": contact_company_from_account,
    "contact-type-person": contact_type_person,
    "contact-customer-company": contact_customer_company,
    "opportunity-parent-account": opportunity_parent_account,
}
