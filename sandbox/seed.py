"""Demo seed data for both emulators (company "CRONUS Sandbox"); BC's part is in ``seed_bc``.

Ids are deterministic: ``seed_id(system, entity, key)`` = uuid5 of a fixed namespace and
``"<system>/<entity>/<key>"`` (e.g. ``seed_id("bc", "customer", "10000")``,
``seed_id("dv", "systemuser", "integration_user")``), so demos and tests are reproducible.
Timestamps are the seeding time.
"""

from __future__ import annotations

import uuid
from typing import Any

SEED_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://bcsync.sandbox/seed")
SANDBOX_CLIENT_ID = "00000000-0000-0000-0000-0000000000c1"


def seed_id(system: str, entity: str, key: str) -> str:
    return str(uuid.uuid5(SEED_NAMESPACE, f"{system}/{entity}/{key}"))


BC_COMPANY_ID = seed_id("bc", "company", "CRONUS Sandbox")

# fmt: off
DV_USERS = [  # ids key, first, last, extra attributes
    ("integration_user", "#", "bcsync", {"applicationid": SANDBOX_CLIENT_ID, "accessmode": 4,
                                         "islicensed": False}),
    ("human_user", "Alex", "Admin", {"jobtitle": "CRM Admin"}),
    ("sales_user_1", "Sara", "Sales", {"jobtitle": "Sales Manager", "mobilephone": "+1 425 555 0140"}),
    ("sales_user_2", "Sam", "Seller", {"jobtitle": "Account Executive", "mobilephone": "+1 425 555 0141"}),
    ("sales_user_3", "Dana", "Disabled", {"isdisabled": True}),
    # the users behind BC's salespeople (same e-mail: SALESPEOPLE couples them rather than duplicating)
    ("salesperson_jo", "Jim", "Olive", {"jobtitle": "Sales Representative",
                                        "internalemailaddress": "jim@cronus-sandbox.example"}),
    ("salesperson_ps", "Peter", "Saddow", {"jobtitle": "Sales Representative",
                                           "internalemailaddress": "peter@cronus-sandbox.example"}),
    ("salesperson_of", "Otis", "Falls", {"jobtitle": "Sales Representative",
                                         "internalemailaddress": "otis@cronus-sandbox.example"}),
]
DV_ACCOUNTS = [  # name, city, country, customertypecode (3 customer, 11 vendor)
    ("The Cannon Group PLC", "Birmingham", "GB", 3), ("Fabrikam, Inc.", "Redmond", "US", 3),
    ("Contoso Pharmaceuticals", "Seattle", "US", 3), ("Adventure Works Cycles", "Bothell", "US", 11),
]
DV_CONTACTS = [  # first, last, parent account
    ("Mark", "McArthur", "The Cannon Group PLC"), ("Nancy", "Davolio", "Fabrikam, Inc."),
    ("Rene", "Valdes", "Contoso Pharmaceuticals"), ("Yvonne", "McKay", None),
]
# fmt: on


def _user(ids: dict[str, str], key: str, first: str, last: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "systemuserid": seed_id("dv", "systemuser", key),
        "firstname": first,
        "lastname": last,
        "fullname": f"{first} {last}",
        "internalemailaddress": f"{first.strip('#').lower() or 'app'}.{last.lower()}@cronus-sandbox.example",
        "isdisabled": False,
        "islicensed": True,
        "isintegrationuser": False,
        "accessmode": 0,
        "_businessunitid_value": ids["business_unit"],
        "azureactivedirectoryobjectid": seed_id("aad", "object", key),
        **extra,
    }


def _dv_setup_rows(ids: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """Users, team, company, base currency (USD), default unit group and price list."""
    rows = [("systemusers", _user(ids, key, first, last, extra)) for key, first, last, extra in DV_USERS]
    ids.update({key: seed_id("dv", "systemuser", key) for key, *_ in DV_USERS})
    ids.update(
        {
            "team": seed_id("dv", "team", "CRONUS Sales"),
            "company": seed_id("dv", "cdm_company", "CRONUS"),
            "base_currency": seed_id("dv", "transactioncurrency", "USD"),
            "unit_group": seed_id("dv", "uomschedule", "Default Unit"),
            "price_list": seed_id("dv", "pricelevel", "Default Price List"),
        }
    )
    return [
        *rows,
        ("teams", {"teamid": ids["team"], "name": "CRONUS Sales", "teamtype": 0,
                   "_businessunitid_value": ids["business_unit"]}),
        ("cdm_companies", {"cdm_companyid": ids["company"], "cdm_name": "CRONUS Sandbox",
                           "cdm_companycode": "CRONUS"}),
        ("transactioncurrencies", {"transactioncurrencyid": ids["base_currency"], "currencyname": "US Dollar",
                                   "isocurrencycode": "USD", "currencysymbol": "$", "exchangerate": 1.0,
                                   "currencyprecision": 2}),
        ("uomschedules", {"uomscheduleid": ids["unit_group"], "name": "Default Unit",
                          "baseuomname": "Primary Unit"}),
        ("pricelevels", {"pricelevelid": ids["price_list"], "name": "Default Price List"}),
    ]  # fmt: skip


def _dv_party_rows(ids: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = []
    for name, city, country, kind in DV_ACCOUNTS:
        rows.append(("accounts", {
            "accountid": seed_id("dv", "account", name), "name": name, "address1_city": city,
            "address1_country": country, "customertypecode": kind, "telephone1": "+1 425 555 0100",
            "ownerid@odata.bind": f"/systemusers({ids['sales_user_1']})"}))  # fmt: skip
    for first, last, account in DV_CONTACTS:
        row = {"contactid": seed_id("dv", "contact", f"{first} {last}"), "firstname": first, "lastname": last,
               "emailaddress1": f"{first.lower()}.{last.lower()}@example.com"}  # fmt: skip
        if account:
            row["parentcustomerid_account@odata.bind"] = f"/accounts({seed_id('dv', 'account', account)})"
        rows.append(("contacts", row))
    return rows


def seed_dataverse(dv: Any) -> dict[str, str]:
    """Load the Dataverse demo rows; returns the well-known ids (users, currency, ...)."""
    ids = {
        "organization": seed_id("dv", "organization", "cronus-sandbox"),
        "business_unit": seed_id("dv", "businessunit", "cronus-sandbox"),
    }
    admin = seed_id("dv", "systemuser", "human_user")
    for entity_set, row in _dv_setup_rows(ids):
        dv.insert(entity_set, row, by_user=admin)
        if entity_set == "transactioncurrencies":
            dv.base_currency["id"] = ids["base_currency"]
    for entity_set, row in _dv_party_rows(ids):
        dv.insert(entity_set, row, by_user=admin)
    cannon = seed_id("dv", "account", "The Cannon Group PLC")
    mark = seed_id("dv", "contact", "Mark McArthur")
    dv.update("accounts", cannon, {"primarycontactid@odata.bind": f"/contacts({mark})"}, by_user=admin)
    return ids


def seed_bc(bc: Any) -> None:
    """Load the BC demo company (see :mod:`sandbox.seed_bc`)."""
    from sandbox.seed_bc import load

    load(bc)
