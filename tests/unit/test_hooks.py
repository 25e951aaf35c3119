"""BC's hard-coded rules (bc-integration-behaviour §3) as named hooks.

The reference data is an in-memory twin of ``ReferenceData`` that evaluates the hooks' OData
filters with the emulators' filter engine (BC compares strings case-sensitively).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest

from sandbox.odata.filter import evaluate, parse_filter
from sync_core.errors import MappingError
from sync_core.mapping.catalog import default_catalog
from sync_core.mapping.hooks import HOOKS
from sync_core.mapping.rules_common import HookContext, IgnoredRecord
from sync_core.mapping.rules_parties import incstr
from sync_core.mapping.transfer import map_values
from sync_core.vocabulary import Direction, Record

SETUP = {"lcyCode": "USD", "writeInProductType": "Item", "writeInProductNo": "WRITEIN"}


class Reference:
    def __init__(self, **rows: list[dict[str, Any]]) -> None:
        self.tables = {"integrationSetup": [SETUP], **rows}
        self.reads: list[tuple[str, str | None]] = []
        self.fresh_reads = 0

    def rows(self, entity: str, filter: str | None = None, *, fresh: bool = False) -> list[Mapping[str, Any]]:
        self.reads.append((entity, filter))
        self.fresh_reads += fresh
        rows = self.tables.get(entity, [])
        return [r for r in rows if filter is None or evaluate(parse_filter(filter), r)]

    def lcy_code(self) -> str:
        return "USD"


def ctx(
    direction: Direction,
    fields: dict[str, Any],
    *,
    inserting: bool = False,
    reference: Reference | None = None,
    destination: dict[str, Any] | None = None,
) -> HookContext:
    moment = datetime(2026, 6, 1, tzinfo=UTC)
    source = Record("src-id", moment, None, fields)
    dest = None if destination is None else Record("dest-id", moment, None, destination)
    return HookContext(direction, inserting, source, reference or Reference(), date(2026, 6, 1), dest)


def run(name: str, context: HookContext, values: dict[str, Any] | None = None) -> dict[str, Any]:
    return HOOKS[name](context, dict(values or {}))


def test_every_hook_the_catalog_names_is_registered_and_every_hook_is_used() -> None:
    used = {h for m in default_catalog() for h in m.hooks}
    assert used == set(HOOKS)


# -- items and resources (§3.3, §3.4) -------------------------------------------------------------


@pytest.mark.parametrize(("blocked", "inserting", "state"), [
    (False, True, (0, 1)),
    (True, True, (0, 1)),  # BC makes a new product Active after inserting it
    (False, False, (0, 1)),
    (True, False, (1, 2)),  # later, Blocked retires it
])  # fmt: skip
def test_product_state_follows_blocked_to_dataverse(blocked: bool, inserting: bool, state: tuple) -> None:
    out = run(
        "product-blocked-state", ctx("to-dataverse", {"blocked": blocked}, inserting=inserting), {"a": 1}
    )
    assert (out["statecode"], out["statuscode"]) == state and out["a"] == 1


@pytest.mark.parametrize(("statecode", "blocked"), [(0, False), (1, True), (2, True), (3, True)])
def test_item_blocked_is_product_not_active_to_bc(statecode: int, blocked: bool) -> None:
    out = run("product-blocked-state", ctx("to-bc", {"statecode": statecode}), {"description": "x"})
    assert out == {"description": "x", "blocked": blocked}


def test_product_state_unknown_leaves_blocked_alone() -> None:
    assert run("product-blocked-state", ctx("to-bc", {}), {"description": "x"}) == {"description": "x"}


def test_negative_price_and_quantity_become_zero() -> None:
    values = {"price": -5.5, "quantityonhand": -3, "standardcost": -1, "name": "Desk"}
    out = run("product-negative-to-zero", ctx("to-dataverse", {}), values)
    assert out == {"price": 0, "quantityonhand": 0, "standardcost": -1, "name": "Desk"}
    assert run("product-negative-to-zero", ctx("to-dataverse", {}), {"price": 7}) == {"price": 7}
    assert run("product-negative-to-zero", ctx("to-dataverse", {}), {}) == {}  # adds nothing
    assert run("product-negative-to-zero", ctx("to-bc", {}), {"price": -1}) == {"price": -1}


def test_write_in_item_is_ignored_not_failed() -> None:
    with pytest.raises(IgnoredRecord) as caught:
        run("item-write-in-excluded", ctx("to-dataverse", {"number": "WRITEIN"}))
    assert isinstance(caught.value, MappingError)  # an engine that doesn't know it still won't write
    assert "WRITEIN" in caught.value.message and caught.value.field == "productnumber"
    assert run("item-write-in-excluded", ctx("to-dataverse", {"number": "1896-S"}), {"x": 1}) == {"x": 1}
    assert run("item-write-in-excluded", ctx("to-bc", {"productnumber": "WRITEIN"}), {}) == {}


def test_write_in_product_type_decides_item_or_resource() -> None:
    resource_setup = Reference(integrationSetup=[{**SETUP, "writeInProductType": "Resource"}])
    assert run("resource-write-in-excluded", ctx("to-dataverse", {"number": "WRITEIN"})) == {}
    with pytest.raises(IgnoredRecord):
        run(
            "resource-write-in-excluded", ctx("to-dataverse", {"number": "WRITEIN"}, reference=resource_setup)
        )
    assert (
        run("item-write-in-excluded", ctx("to-dataverse", {"number": "WRITEIN"}, reference=resource_setup))
        == {}
    )
    no_setup = Reference(integrationSetup=[])
    assert run("item-write-in-excluded", ctx("to-dataverse", {"number": "WRITEIN"}, reference=no_setup)) == {}


def test_item_desired_values_through_the_catalog_mapping() -> None:
    """Field mappings, constants and hooks of ITEM-PRODUCT together, for a blocked item's update."""
    mapping = default_catalog().get("ITEM-PRODUCT")
    item = {"number": "1900-S", "description": "PARIS Chair", "unitPrice": -2.0, "unitCost": 50.0,
            "unitVolume": 0.2, "grossWeight": 5.0, "vendorNo": "V1", "vendorItemNo": "P-1",
            "inventory": -4, "baseUnitOfMeasure": "PCS", "blocked": True}  # fmt: skip
    values = map_values(mapping, "to-dataverse", item, inserting=False)
    context = ctx("to-dataverse", item)
    for name in mapping.hooks:
        values = HOOKS[name](context, values)
    assert values == {
        "productnumber": "1900-S", "name": "PARIS Chair", "price": 0, "standardcost": 50.0,
        "currentcost": 50.0, "stockvolume": 0.2, "stockweight": 5.0, "vendorid": "V1",
        "vendorpartnumber": "P-1", "quantityonhand": 0, "_defaultuomscheduleid_value": "PCS",
        "_defaultuomid_value": "PCS", "vendorname": "", "producttypecode": 1, "statecode": 1,
        "statuscode": 2,
    }  # fmt: skip
    inserted = map_values(mapping, "to-dataverse", item, inserting=True)
    assert inserted["quantitydecimal"] == 2 and inserted["_transactioncurrencyid_value"] == ""


# -- unit of measure, prices (§3.5, §3.8) ---------------------------------------------------------


def test_unit_schedule_is_named_nav_code() -> None:
    out = run("unit-of-measure-schedule-name", ctx("to-dataverse", {"code": "PCS"}), {"name": "PCS"})
    assert out == {"name": "NAV PCS"}
    assert run("unit-of-measure-schedule-name", ctx("to-dataverse", {}), {"baseuomname": "PCS"}) == {
        "baseuomname": "PCS"
    }
    mapping = default_catalog().get("UNIT OF MEASURE")
    values = map_values(mapping, "to-dataverse", {"code": " box "}, inserting=True)
    out = run("unit-of-measure-schedule-name", ctx("to-dataverse", {"code": " box "}), values)
    assert out == {"baseuomname": "BOX", "name": "NAV BOX"}  # and name is the match field


def _price(item: str, group: str, currency: str, sales_type: str = "Customer Price Group") -> dict:
    return {"itemNo": item, "salesType": sales_type, "salesCode": group, "currencyCode": currency,
            "startingDate": "2024-01-01", "unitOfMeasureCode": "PCS", "minimumQuantity": 0}  # fmt: skip


CURRENCY_FIELD = "_transactioncurrencyid_value"


def test_price_list_currency_is_its_prices_currency_or_lcy() -> None:
    prices = Reference(salesPrices=[_price("1896-S", "RETAIL", "EUR"), _price("1900-S", "RETAIL", "EUR"),
                                    _price("1896-S", "RETAIL", "GBP", "Customer")])  # fmt: skip
    out = run(
        "price-group-currency",
        ctx("to-dataverse", {"code": "RETAIL"}, reference=prices),
        {CURRENCY_FIELD: "RETAIL"},
    )
    assert out == {CURRENCY_FIELD: "EUR"}  # the customer-type price is not the group's
    no_prices = ctx("to-dataverse", {"code": "EMPTY"}, reference=prices)
    assert run("price-group-currency", no_prices, {CURRENCY_FIELD: "EMPTY"}) == {CURRENCY_FIELD: ""}  # = LCY
    update = run(
        "price-group-currency", ctx("to-dataverse", {"code": "RETAIL"}, reference=prices), {"name": "RETAIL"}
    )
    assert update == {"name": "RETAIL"}  # on insert only: nothing added on update


def test_prices_in_two_currencies_fail_the_group_like_bcs_testfield() -> None:
    prices = Reference(salesPrices=[_price("1900-S", "RETAIL", "GBP"), _price("1896-S", "RETAIL", "EUR")])
    for values in ({CURRENCY_FIELD: "RETAIL"}, {"name": "RETAIL"}):  # checked on insert and update
        with pytest.raises(MappingError) as caught:
            run("price-group-currency", ctx("to-dataverse", {"code": "RETAIL"}, reference=prices), values)
        # the first price by BC's key (item 1896-S) sets the currency; 1900-S differs
        assert caught.value.message.startswith(
            "Currency Code must be equal to 'EUR' in Sales Price: Item No.=1900-S"
        )
        assert "Current value is 'GBP'" in caught.value.message and caught.value.remedy


def test_product_vendor_name_is_the_bc_vendors_name() -> None:
    vendors = Reference(vendors=[{"number": "10000", "displayName": "Fabrikam, Inc."}])
    run_hook = HOOKS["product-vendor-name"]
    assert run_hook(ctx("to-dataverse", {}, reference=vendors), {"vendorid": "10000"}) == {
        "vendorid": "10000",
        "vendorname": "Fabrikam, Inc.",
    }
    unknown = run_hook(ctx("to-dataverse", {}, reference=vendors), {"vendorid": "99999"})
    assert unknown["vendorname"] == "" and vendors.reads[-1] == ("vendors", "number eq '99999'")
    assert run_hook(ctx("to-dataverse", {}, reference=vendors), {"vendorid": ""})["vendorname"] == ""
    assert run_hook(ctx("to-bc", {}, reference=vendors), {"name": "x"}) == {"name": "x"}


UNIT_FIELDS = ("_uomid_value", "_uomscheduleid_value")


def test_blank_price_unit_is_the_items_base_unit() -> None:
    items = Reference(integrationItems=[{"number": "1900-S", "baseUnitOfMeasure": "box"}])
    blank = dict.fromkeys(UNIT_FIELDS, "")
    out = run(
        "sales-price-unit-of-measure", ctx("to-dataverse", {"itemNo": "1900-S"}, reference=items), blank
    )
    assert out == dict.fromkeys(UNIT_FIELDS, "BOX")
    given = dict.fromkeys(UNIT_FIELDS, "PCS")
    assert (
        run("sales-price-unit-of-measure", ctx("to-dataverse", {"itemNo": "1900-S"}, reference=items), given)
        == given
    )
    assert items.reads == [("integrationItems", "number eq '1900-S'")]  # read only when blank
    with pytest.raises(MappingError) as caught:  # no item (or no base unit): BC's TestField message
        run("sales-price-unit-of-measure", ctx("to-dataverse", {"itemNo": "GONE"}, reference=items), blank)
    assert caught.value.field == "uomid" and "Item: No.=GONE" in caught.value.message


def test_price_list_currency_is_tested_on_modify() -> None:
    import dataclasses

    def price_list(prices_in: str, list_in: str | None, inserting: bool = False) -> dict[str, Any]:
        reference = Reference(salesPrices=[_price("1896-S", "RETAIL", prices_in)])
        currencies = {"eur-id": {"code": "EUR"}, "gbp-id": {"code": "GBP"}}  # the LCY row is uncoupled
        base = ctx(
            "to-dataverse",
            {"code": "RETAIL"},
            inserting=inserting,
            reference=reference,
            destination={CURRENCY_FIELD: list_in},
        )
        context = dataclasses.replace(base, coupled_bc=lambda mapping, crm_id: currencies.get(crm_id))
        return run("price-group-currency", context, {"name": "RETAIL"})

    assert price_list("EUR", "eur-id") == {"name": "RETAIL"}
    assert price_list("", "usd-id") == {"name": "RETAIL"}  # blank = LCY = the uncoupled USD row
    assert price_list("USD", None) == {"name": "RETAIL"}
    assert price_list("GBP", "eur-id", inserting=True) == {"name": "RETAIL"}  # tested on modify only
    for prices_in, list_in in (("GBP", "eur-id"), ("EUR", "usd-id"), ("", "gbp-id")):
        with pytest.raises(MappingError, match="A price list's currency cannot change") as caught:
            price_list(prices_in, list_in)
        assert caught.value.field == "transactioncurrencyid" and caught.value.remedy


# -- salespeople, customers, contacts, opportunities (§3.1, §3.2, §3.7, §3.12) -------------------


def test_incstr_is_als() -> None:
    assert incstr("SP NO. 00001") == "SP NO. 00002"
    assert incstr("SP NO. 00009") == "SP NO. 00010"
    assert incstr("SP NO. 99999") == "SP NO. 100000"
    assert incstr("A9B") == "A10B" and incstr("ABC") == ""


def test_new_salesperson_gets_the_next_sp_no_code() -> None:
    people = [{"code": "SP NO. 00002"}, {"code": "SP NO. 00009"}, {"code": "PS"}, {"code": "SP NO. X"}]
    reference = Reference(salespeoplePurchasers=people)
    out = run(
        "salesperson-code", ctx("to-bc", {}, inserting=True, reference=reference), {"displayName": "Ann"}
    )
    assert out == {"displayName": "Ann", "code": "SP NO. 00010"}
    assert reference.fresh_reads == 1  # numbering reads the current codes, never a cached list
    first = run("salesperson-code", ctx("to-bc", {}, inserting=True), {})
    assert first == {"code": "SP NO. 00001"}
    assert run("salesperson-code", ctx("to-bc", {}, inserting=False), {"displayName": "Ann"}) == {
        "displayName": "Ann"
    }
    assert run("salesperson-code", ctx("to-bc", {}, inserting=True), {"code": "JO"}) == {"code": "JO"}


INACTIVE = {"statecode": 1, "statuscode": 2}


@pytest.mark.parametrize(("account", "inserting", "destination", "blocked"), [
    (INACTIVE, False, {"blocked": " "}, "All"),
    (INACTIVE, True, None, "All"),
    ({"statuscode": 2}, False, {"blocked": " "}, "All"),
    (INACTIVE, False, {"blocked": "Ship"}, None),  # already blocked: kept
    (INACTIVE, False, {"blocked": "Invoice"}, None),
    (INACTIVE, False, None, None),  # current Blocked unknown: not guessed
    ({"statecode": 0, "statuscode": 1}, False, {"blocked": " "}, None),  # no reverse rule
])  # fmt: skip
def test_inactive_account_blocks_the_customer(
    account: dict, inserting: bool, destination: dict | None, blocked: str | None
) -> None:
    context = ctx("to-bc", account, inserting=inserting, destination=destination)
    out = run("customer-inactive-blocked", context, {"name": "Cannon"})
    assert out.get("blocked") == blocked and out["name"] == "Cannon"


def test_customer_inactive_rule_is_dataverse_to_bc_only() -> None:
    assert run("customer-inactive-blocked", ctx("to-dataverse", INACTIVE, inserting=True), {}) == {}


def test_a_new_contact_from_dataverse_belongs_to_its_accounts_customer_company() -> None:
    import dataclasses

    customers = {"acc-1": {"number": "10000", "companyContactNo": "CT000001"}, "acc-2": {"number": "20000"}}
    seen: list[tuple[str, str]] = []

    def coupled(mapping: str, crm_id: str) -> dict[str, Any] | None:
        seen.append((mapping, crm_id))
        return customers.get(crm_id)

    def context(account: str | None, inserting: bool = True) -> HookContext:
        base = ctx("to-bc", {"_parentcustomerid_value": account}, inserting=inserting)
        return dataclasses.replace(base, coupled_bc=coupled)

    hook = HOOKS["contact-company-from-account"]
    assert hook(context("acc-1"), {"surname": "Doe"}) == {"surname": "Doe", "companyNo": "CT000001"}
    assert seen == [("CUSTOMER", "acc-1")]
    for account in ("acc-2", "acc-9"):  # a customer without a company contact, or no customer
        with pytest.raises(MappingError, match="the company does not exist") as caught:
            hook(context(account), {})
        assert caught.value.field == "companyNo" and caught.value.remedy
    assert hook(context("acc-9", inserting=False), {"surname": "Doe"}) == {"surname": "Doe"}  # insert only


def test_a_contact_under_an_account_that_is_neither_customer_nor_vendor_has_no_company() -> None:
    """BC's TestSynchCRMContactWithNonCustomerCRMAccountParent: a person, no company, no customer."""
    import dataclasses

    accounts = {"prospect": {"customertypecode": None}, "partner": {"customertypecode": 5}}
    accounts |= {"customer": {"customertypecode": 3}, "vendor": {"customertypecode": 11}}

    def context(account: str) -> HookContext:
        base = ctx("to-bc", {"_parentcustomerid_value": account}, inserting=True)
        return dataclasses.replace(
            base, coupled_bc=lambda mapping, crm_id: None, crm_row=lambda entity, i: accounts.get(i)
        )

    hook = HOOKS["contact-company-from-account"]
    for account in ("prospect", "partner"):
        assert hook(context(account), {"surname": "Doe"}) == {"surname": "Doe", "companyNo": ""}
    for account in ("customer", "vendor", "missing"):  # not coupled: BC has no company for it
        with pytest.raises(MappingError, match="the company does not exist"):
            hook(context(account), {})


def test_contacts_from_dataverse_are_persons() -> None:
    assert run("contact-type-person", ctx("to-bc", {}), {"surname": "Hill"}) == {
        "surname": "Hill",
        "type": "Person",
    }
    assert run("contact-type-person", ctx("to-dataverse", {}), {"lastname": "Hill"}) == {"lastname": "Hill"}


def test_contacts_of_a_company_without_customer_are_ignored_toward_dataverse() -> None:
    related = {"number": "CT000011", "relatedCustomerNo": "10000"}
    assert run("contact-customer-company", ctx("to-dataverse", related), {"lastname": "Hill"}) == {
        "lastname": "Hill"
    }
    prospect = {"number": "CT000019", "relatedCustomerNo": ""}
    with pytest.raises(IgnoredRecord, match="CT000019 is not synchronized"):
        run("contact-customer-company", ctx("to-dataverse", prospect), {})
    assert run("contact-customer-company", ctx("to-bc", {}), {"surname": "Hill"}) == {"surname": "Hill"}


PARENT = "_parentaccountid_value"


def test_opportunity_parent_account_is_the_contact_companys_customer() -> None:
    contacts = [
        {"number": "CT000001", "relatedCustomerNo": "10000"},
        {"number": "CT000005", "relatedCustomerNo": ""},
    ]
    reference = Reference(integrationContacts=contacts)
    context = ctx("to-dataverse", {"contactCompanyNo": "CT000001"}, reference=reference)
    assert run("opportunity-parent-account", context, {PARENT: "CT000001", "name": "x"}) == {
        PARENT: "10000",
        "name": "x",
    }
    assert run("opportunity-parent-account", context, {PARENT: "CT000005"}) == {PARENT: ""}  # no customer
    assert run("opportunity-parent-account", context, {PARENT: "CT999999"}) == {PARENT: ""}
    assert run("opportunity-parent-account", context, {PARENT: ""}) == {PARENT: ""}
    assert run("opportunity-parent-account", context, {"name": "x"}) == {"name": "x"}  # field disabled
    assert reference.reads == [("integrationContacts", "number eq 'CT000001'"),
                               ("integrationContacts", "number eq 'CT000005'"),
                               ("integrationContacts", "number eq 'CT999999'")]  # fmt: skip


def test_hook_filters_quote_codes() -> None:
    reference = Reference(integrationContacts=[{"number": "O'BRIEN", "relatedCustomerNo": "20000"}])
    context = ctx("to-dataverse", {}, reference=reference)
    assert run("opportunity-parent-account", context, {PARENT: "o'brien"}) == {PARENT: "20000"}
    assert reference.reads == [("integrationContacts", "number eq 'O''BRIEN'")]
