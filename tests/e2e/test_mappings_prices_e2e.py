"""CURRENCY, CUSTPRCGRP-PRICE and SALESPRC-PRODPRICE end to end (BC §3.6, §3.8, §3.9).

Real timer and queue functions (Azurite) against the BC and Dataverse emulators. CURRENCY's basics
(first run, exchange rates of new currencies, JPY failing, one-change runs) are in
test_currency_e2e.py; this file adds what is missing there, then the price lists and their prices:
filters, field mappings, directions and BC's hard-coded hooks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from azure.storage.queue import QueueClient

from sandbox.seed_bc import START
from sandbox.stack import SandboxStack
from sync_core.app import wiring
from sync_core.settings import RECORD_QUEUE
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.outcome import Outcome
from sync_core.sync.engine.record import RecordSynchronizer
from sync_core.sync.engine.write_rules import DEFAULT_PRICE_LIST
from sync_core.sync.jobs.mapping_job import run_mapping_job
from sync_core.sync.messages import RecordMessage
from tests.e2e.host import deliver_all, fire_timer, queued

GROUPS = "CUSTPRCGRP-PRICE"
PRICES = "SALESPRC-PRODPRICE"
CPG = "Customer Price Group"


@pytest.fixture
def ctx(stack: SandboxStack) -> SyncContext:
    svc = wiring.services()
    svc.reference.ttl_seconds = 0  # the tests change prices and rates and expect the next sync to see them
    return svc.sync_context()


# -- helpers --------------------------------------------------------------------------------------


def _sync(ctx: SyncContext, mapping: str, source_id: str, reason: str = "command") -> Outcome:
    return RecordSynchronizer(ctx).process(RecordMessage(mapping, "to-dataverse", source_id, "job-p", reason))


def _run(stack: SandboxStack, function: str) -> list[str]:
    stack.dataverse.reset_counters()
    fire_timer(function)
    return deliver_all(stack.azurite.connection_string)


def _summary(mapping: str) -> dict[str, int]:
    log = wiring.services().stores.job_log
    run = log.list_runs(mapping, limit=1)[0]
    summary = log.summary(run.job_id)
    assert summary is not None and summary.finished
    return {k: v for k, v in summary.counts.items() if v}


def _bc(stack: SandboxStack, entity: str, **match: str) -> dict:
    return next(r for r in stack.bc.rows(entity) if all(r[k] == v for k, v in match.items()))


def _dv(stack: SandboxStack, entity: str, **match: object) -> list[dict]:
    return [r for r in stack.dataverse.rows(entity) if all(r[k] == v for k, v in match.items())]


def _group_prices(stack: SandboxStack, **match: object) -> list[dict]:
    """Product prices in the price groups' lists (not the products' default price list, whose rows
    ITEM-PRODUCT writes and which carry the product's number too)."""
    [default] = _dv(stack, "pricelevels", name=DEFAULT_PRICE_LIST)
    rows = _dv(stack, "productpricelevels", **match)
    return [r for r in rows if r["_pricelevelid_value"] != default["pricelevelid"]]


def _crm_id(ctx: SyncContext, mapping: str, bc_id: str) -> str:
    coupling = ctx.stores.couplings.get_by_bc(mapping, bc_id)
    assert coupling is not None and coupling.state == "coupled", f"{mapping} {bc_id} is not coupled"
    return coupling.crm_id


def _sync_dependencies(stack: SandboxStack, ctx: SyncContext, *, skip_items: tuple[str, ...] = ()) -> None:
    """CURRENCY by its timer (it creates uncoupled currencies), units and items by 'create in Dataverse'."""
    _run(stack, "sync_currency")
    for unit in stack.bc.rows("unitsOfMeasure"):
        assert _sync(ctx, "UNIT OF MEASURE", unit["id"]).outcome == "inserted"
    for item in stack.bc.rows("integrationItems"):
        if item["number"] not in (*skip_items, "WRITEIN"):
            assert _sync(ctx, "ITEM-PRODUCT", item["id"]).outcome == "inserted"


def _sync_groups(stack: SandboxStack, ctx: SyncContext, *, skip: tuple[str, ...] = ()) -> None:
    synced = set()
    for group in stack.bc.rows("customerPriceGroups"):
        if group["code"] not in skip:
            assert _sync(ctx, GROUPS, group["id"]).outcome == "inserted", group["code"]
            synced.add(group["code"])
    # BC §3.8: each group's prices were enqueued again; these tests drive the prices themselves
    conn = stack.azurite.connection_string
    prices = [p for p in stack.bc.rows("salesPrices") if p["salesType"] == CPG and p["salesCode"] in synced]
    assert queued(conn) == len(prices)
    QueueClient.from_connection_string(conn, RECORD_QUEUE).clear_messages()


def _add_price(
    stack: SandboxStack,
    item: str,
    code: str,
    price: float,
    *,
    sales_type: str = CPG,
    currency: str = "",
    unit: str = "PCS",
) -> dict:
    return stack.bc.insert(
        "salesPrices",
        {
            "itemNo": item,
            "salesType": sales_type,
            "salesCode": code,
            "currencyCode": currency,
            "startingDate": START,
            "unitOfMeasureCode": unit,
            "minimumQuantity": 0,
            "unitPrice": price,
        },
    )


def _currency_id(stack: SandboxStack, iso: str) -> str:
    [row] = _dv(stack, "transactioncurrencies", isocurrencycode=iso)
    return row["transactioncurrencyid"]


def _base_unit(stack: SandboxStack, schedule_id: str) -> dict:
    [unit] = [
        u
        for u in stack.dataverse.rows("uoms")
        if u["_uomscheduleid_value"] == schedule_id and u["isschedulebaseuom"]
    ]
    return unit


# -- CURRENCY -------------------------------------------------------------------------------------


def test_currency_couples_to_an_existing_iso_code_keeps_its_precision_and_reports_a_missing_rate(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    eur = stack.dataverse.insert(
        "transactioncurrencies",
        {
            "currencyname": "Euro (Dataverse)",
            "isocurrencycode": "EUR",
            "currencysymbol": "E",
            "exchangerate": 0.5,
            "currencyprecision": 3,
        },
    )
    usd_dv = _currency_id(stack, "USD")  # the organization's base currency
    stack.bc.insert("currencies", {"code": "USD", "displayName": "US Dollar (LCY)", "symbol": "$"})
    _run(stack, "sync_currency")

    # an uncoupled currency is coupled to the row with its ISO code: updated, not duplicated
    assert [
        r["transactioncurrencyid"] for r in _dv(stack, "transactioncurrencies", isocurrencycode="EUR")
    ] == [eur["transactioncurrencyid"]]
    assert (
        _crm_id(ctx, "CURRENCY", _bc(stack, "currencies", code="EUR")["id"]) == eur["transactioncurrencyid"]
    )
    eur_now = stack.dataverse.get("transactioncurrencies", eur["transactioncurrencyid"])
    assert (eur_now["currencyname"], eur_now["currencysymbol"]) == ("Euro", "€")
    assert eur_now["exchangerate"] == pytest.approx(1 / 1.08)  # exchange rate on every transfer
    assert eur_now["currencyprecision"] == 3  # precision is set on insert only
    assert _dv(stack, "transactioncurrencies", isocurrencycode="GBP")[0]["currencyprecision"] == 2
    # the local currency needs no exchange rate: its rate is 1
    assert _crm_id(ctx, "CURRENCY", _bc(stack, "currencies", code="USD")["id"]) == usd_dv
    usd_now = stack.dataverse.get("transactioncurrencies", usd_dv)
    assert (usd_now["currencyname"], usd_now["exchangerate"]) == ("US Dollar (LCY)", 1.0)
    # a currency without an exchange rate fails with BC's text
    [error] = ctx.stores.sync_errors.list("CURRENCY")
    assert error.message == (
        "Cannot create or update the currency JPY in Dataverse, because there is no exchange rate "
        "defined for it."
    )
    assert error.field == "exchangerate" and not _dv(stack, "transactioncurrencies", isocurrencycode="JPY")
    assert _summary("CURRENCY") == {"inserted": 3, "modified": 2, "failed": 1}
    # to Dataverse only: a change made in Dataverse never reaches BC
    stack.dataverse.update("transactioncurrencies", eur["transactioncurrencyid"], {"currencyname": "Changed"})
    stack.bc.reset_counters()
    assert [r.direction for r in run_mapping_job(ctx, "CURRENCY")] == ["to-dataverse"]
    deliver_all(stack.azurite.connection_string)
    assert stack.bc.counters()["writes"] == 0
    assert _bc(stack, "currencies", code="EUR")["displayName"] == "Euro"


def test_currency_rate_is_the_latest_started_one_and_a_new_rate_heals_the_failed_currency(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    _run(stack, "sync_currency")
    today = datetime.now(UTC).date()
    rates = [("GBP", f"{today.year - 1}-06-01", 1.30), ("GBP", "2999-01-01", 2.0), ("JPY", START, 0.0067)]
    for code, starting, relational in rates:
        stack.bc.insert(
            "currencyExchangeRates",
            {
                "currencyCode": code,
                "startingDate": starting,
                "exchangeRateAmount": 1,
                "relationalExchangeRateAmount": relational,
            },
        )
    gbp = _bc(stack, "currencies", code="GBP")
    stack.bc.update("currencies", gbp["id"], {"symbol": "GBP"})
    jpy = _bc(stack, "currencies", code="JPY")
    stack.bc.update("currencies", jpy["id"], {"displayName": "Yen"})
    delivered = _run(stack, "sync_currency")
    assert len(delivered) == 2
    [gbp_dv] = _dv(stack, "transactioncurrencies", isocurrencycode="GBP")
    assert gbp_dv["currencysymbol"] == "GBP"
    assert gbp_dv["exchangerate"] == pytest.approx(1 / 1.30)  # the newest started rate, not the future one
    [jpy_dv] = _dv(stack, "transactioncurrencies", isocurrencycode="JPY")
    assert jpy_dv["exchangerate"] == pytest.approx(1 / 0.0067) and jpy_dv["currencyprecision"] == 2
    assert jpy_dv["currencyname"] == "Yen"
    assert _summary("CURRENCY") == {"inserted": 1, "modified": 1}


# -- CUSTPRCGRP-PRICE -----------------------------------------------------------------------------


def test_price_list_name_description_currency_and_direction(stack: SandboxStack, ctx: SyncContext) -> None:
    _sync_dependencies(stack, ctx)
    stack.bc.insert("customerPriceGroups", {"code": "NOPRICES", "description": "No prices yet"})
    _sync_groups(stack, ctx)
    usd, eur = _currency_id(stack, "USD"), _currency_id(stack, "EUR")
    expected = {
        "RETAIL": ("Retail customers", usd),  # prices in the local currency (blank code)
        "WHOLESALE": ("Wholesale customers", usd),
        "EXPORT": ("Export customers (EUR)", eur),  # its prices are in EUR
        "NOPRICES": ("No prices yet", usd),  # no prices: the local currency
    }
    for code, (description, currency) in expected.items():
        group = _bc(stack, "customerPriceGroups", code=code)
        level = stack.dataverse.get("pricelevels", _crm_id(ctx, GROUPS, group["id"]))
        assert (level["name"], level["description"], level["_transactioncurrencyid_value"]) == (
            code,
            description,
            currency,
        )

    # scheduled runs: BC -> Dataverse only, coupled groups only; BC's values win over Dataverse edits
    retail = _bc(stack, "customerPriceGroups", code="RETAIL")
    level_id = _crm_id(ctx, GROUPS, retail["id"])
    stack.dataverse.update("pricelevels", level_id, {"name": "RETAIL (renamed in Dataverse)"})
    stack.bc.update("customerPriceGroups", retail["id"], {"description": "Retail and web shop"})
    later = stack.bc.insert("customerPriceGroups", {"code": "LATER", "description": "Not coupled"})
    stack.dataverse.reset_counters()
    assert [r.direction for r in run_mapping_job(ctx, GROUPS)] == ["to-dataverse"]
    delivered = [d for d in deliver_all(stack.azurite.connection_string) if f'"mapping":"{GROUPS}"' in d]
    # the first scheduled run reads every group (no watermark yet); LATER is not coupled: left out
    # (the groups' prices follow each group: BC §3.8)
    coupled = [g["id"] for g in stack.bc.rows("customerPriceGroups") if g["code"] != "LATER"]
    assert len(delivered) == 4 and all(any(g in d for d in delivered) for g in coupled)
    level = stack.dataverse.get("pricelevels", level_id)
    assert (level["name"], level["description"]) == ("RETAIL", "Retail and web shop")
    assert stack.dataverse.counters()["by_method"]["PATCH"] == 1
    assert not _dv(stack, "pricelevels", name="LATER")
    assert ctx.stores.couplings.get_by_bc(GROUPS, later["id"]) is None
    assert _bc(stack, "customerPriceGroups", code="RETAIL")["description"] == "Retail and web shop"
    assert _summary(GROUPS) == {"modified": 1, "unchanged": 3}


def test_prices_in_two_currencies_fail_the_price_list_with_bcs_testfield_message(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    _sync_dependencies(stack, ctx)
    wholesale = _bc(stack, "customerPriceGroups", code="WHOLESALE")
    _add_price(stack, "1900-S", "WHOLESALE", 180.0, currency="EUR")
    failed = _sync(ctx, GROUPS, wholesale["id"])
    assert (failed.outcome, failed.message) == (
        "failed",
        "Currency Code must be equal to '' in Sales Price: Item No.=1900-S, Sales Type=Customer Price "
        "Group, Sales Code=WHOLESALE. Current value is 'EUR'.",
    )
    [error] = ctx.stores.sync_errors.list(GROUPS)
    assert error.field == "transactioncurrencyid" and "same currency" in error.remedy
    assert not _dv(stack, "pricelevels", name="WHOLESALE")
    assert ctx.stores.couplings.get_by_bc(GROUPS, wholesale["id"]) is None

    # the currency to match is the one of the group's first price by BC's key (Item No. first)
    export = _bc(stack, "customerPriceGroups", code="EXPORT")
    lamp_first = _add_price(stack, "1900-S", "EXPORT", 58.0)
    assert _sync(ctx, GROUPS, export["id"]).message == (
        "Currency Code must be equal to '' in Sales Price: Item No.=1928-S, Sales Type=Customer Price "
        "Group, Sales Code=EXPORT. Current value is 'EUR'."
    )
    stack.bc.update("salesPrices", lamp_first["id"], {"currencyCode": "EUR"})
    assert _sync(ctx, GROUPS, export["id"]).outcome == "inserted"
    level = stack.dataverse.get("pricelevels", _crm_id(ctx, GROUPS, export["id"]))
    assert level["_transactioncurrencyid_value"] == _currency_id(stack, "EUR")

    # the rule holds on modify too: a coupled group whose prices now mix currencies fails, unchanged
    retail = _bc(stack, "customerPriceGroups", code="RETAIL")
    assert _sync(ctx, GROUPS, retail["id"]).outcome == "inserted"
    _add_price(stack, "1920-S", "RETAIL", 640.0, currency="GBP")
    stack.bc.update("customerPriceGroups", retail["id"], {"description": "Retail (mixed)"})
    outcome = _sync(ctx, GROUPS, retail["id"], "modified")
    assert outcome.outcome == "failed" and "Sales Code=RETAIL. Current value is 'GBP'." in outcome.message
    level = stack.dataverse.get("pricelevels", _crm_id(ctx, GROUPS, retail["id"]))
    assert level["description"] == "Retail customers"
    coupling = ctx.stores.couplings.get_by_bc(GROUPS, retail["id"])
    assert coupling.to_dataverse.result == "failure"


# -- SALESPRC-PRODPRICE ---------------------------------------------------------------------------


def test_sales_prices_of_price_groups_map_to_product_prices_with_units_and_currencies(
    stack: SandboxStack, ctx: SyncContext, dv_writes: list[tuple[str, str, Any]]
) -> None:
    _sync_dependencies(stack, ctx)
    _sync_groups(stack, ctx)
    # outside the table filter: other sales types, and a price group price without a sales code
    outside = [
        _add_price(stack, "1908-S", "10000", 150.0, sales_type="Customer"),
        _add_price(stack, "1908-S", "", 149.0, sales_type="All Customers"),
        _add_price(stack, "1908-S", "", 148.0),
    ]
    blank_unit = _add_price(stack, "1960-S", "RETAIL", 170.0, unit="")  # item 1960-S is sold in BOX
    boxed = _add_price(stack, "1908-S", "RETAIL", 900.0, unit="BOX")
    stack.dataverse.reset_counters()
    assert [r.direction for r in run_mapping_job(ctx, PRICES)] == ["to-dataverse"]
    delivered = deliver_all(stack.azurite.connection_string)
    in_filter = [p for p in stack.bc.rows("salesPrices") if p["salesType"] == CPG and p["salesCode"]]
    assert len(in_filter) == 7
    assert len(delivered) == 7 and all(any(p["id"] in d for d in delivered) for p in in_filter)
    assert not any(p["id"] in d for p in outside for d in delivered)
    assert _summary(PRICES) == {"inserted": 7}
    assert stack.dataverse.counters()["by_method"]["POST"] == 7

    usd = _currency_id(stack, "USD")
    for price in in_filter:
        row = stack.dataverse.get("productpricelevels", _crm_id(ctx, PRICES, price["id"]))
        group = _bc(stack, "customerPriceGroups", code=price["salesCode"])
        item = _bc(stack, "integrationItems", number=price["itemNo"])
        unit_code = price["unitOfMeasureCode"] or item["baseUnitOfMeasure"]
        schedule = _crm_id(ctx, "UNIT OF MEASURE", _bc(stack, "unitsOfMeasure", code=unit_code)["id"])
        currency = (
            _crm_id(ctx, "CURRENCY", _bc(stack, "currencies", code=price["currencyCode"])["id"])
            if price["currencyCode"]
            else usd
        )
        assert row["_pricelevelid_value"] == _crm_id(ctx, GROUPS, group["id"])
        assert row["_productid_value"] == _crm_id(ctx, "ITEM-PRODUCT", item["id"])
        # read-only in Dataverse: filled from the product, never sent
        assert row["productnumber"] == price["itemNo"]
        assert (
            row["productnumber"] == stack.dataverse.get("products", row["_productid_value"])["productnumber"]
        )
        assert row["amount"] == price["unitPrice"]
        assert row["pricingmethodcode"] == 1  # Currency Amount
        assert row["_transactioncurrencyid_value"] == currency
        assert row["_uomscheduleid_value"] == schedule
        assert row["_uomid_value"] == _base_unit(stack, schedule)["uomid"]

    # a blank unit is the item's base unit; an explicit unit is the base unit of its NAV schedule
    for price, unit in ((blank_unit, "BOX"), (boxed, "BOX")):
        row = stack.dataverse.get("productpricelevels", _crm_id(ctx, PRICES, price["id"]))
        schedule = stack.dataverse.get("uomschedules", row["_uomscheduleid_value"])
        assert schedule["name"] == f"NAV {unit}"
        assert stack.dataverse.get("uoms", row["_uomid_value"])["name"] == unit
    [export_price] = _group_prices(stack, productnumber="1928-S")
    assert export_price["_transactioncurrencyid_value"] == _currency_id(stack, "EUR")
    price_writes = [body for _, entity, body in dv_writes if entity == "productpricelevels"]
    assert len(price_writes) >= 7 and not [b for b in price_writes if "productnumber" in b]


def test_a_price_of_an_uncoupled_item_or_price_group_fails_with_bcs_message(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    _sync_dependencies(stack, ctx, skip_items=("1908-S",))
    stack.bc.insert("customerPriceGroups", {"code": "VIP", "description": "VIP customers"})
    _sync_groups(stack, ctx, skip=("VIP",))
    no_item = _add_price(stack, "1908-S", "RETAIL", 180.0)
    no_group = _add_price(stack, "1896-S", "VIP", 990.0)
    _run(stack, "sync_salesprc_prodprice")
    assert _summary(PRICES) == {"inserted": 5, "failed": 2}
    errors = {e.source_id: e for e in ctx.stores.sync_errors.list(PRICES)}
    assert errors[no_item["id"]].message == "Item No. 1908-S must be coupled to a record in Dataverse."
    assert (
        errors[no_item["id"]].field == "_productid_value" and "ITEM-PRODUCT" in errors[no_item["id"]].remedy
    )
    assert errors[no_group["id"]].message == "Sales Code VIP must be coupled to a record in Dataverse."
    assert errors[no_group["id"]].field == "_pricelevelid_value" and GROUPS in errors[no_group["id"]].remedy
    assert not _group_prices(stack, productnumber="1908-S")
    assert len(_group_prices(stack, productnumber="1896-S")) == 2  # RETAIL and WHOLESALE only
    assert all(ctx.stores.couplings.get_by_bc(PRICES, p["id"]) is None for p in (no_item, no_group))

    # once the group is coupled, its prices are synchronized again without a change of their own
    # (BC §3.8: after a price group is synchronized, so is every sales price of the group)
    assert _sync(ctx, GROUPS, _bc(stack, "customerPriceGroups", code="VIP")["id"]).outcome == "inserted"
    resent = deliver_all(stack.azurite.connection_string)
    assert [m for m in resent if no_group["id"] in m] == resent and len(resent) == 1
    [vip_price] = _dv(stack, "productpricelevels", amount=990.0)
    assert vip_price["_pricelevelid_value"] == _dv(stack, "pricelevels", name="VIP")[0]["pricelevelid"]
    # BC has no such rule for items: that price gets through with its next change
    assert (
        _sync(ctx, "ITEM-PRODUCT", _bc(stack, "integrationItems", number="1908-S")["id"]).outcome
        == "inserted"
    )
    stack.bc.update("salesPrices", no_item["id"], {"unitPrice": no_item["unitPrice"] + 1})
    _run(stack, "sync_salesprc_prodprice")
    assert _summary(PRICES) == {"inserted": 1}
    assert [p["amount"] for p in _group_prices(stack, productnumber="1908-S")] == [181.0]


def test_an_existing_product_price_is_coupled_and_later_runs_write_only_what_changed(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    _sync_dependencies(stack, ctx)
    _sync_groups(stack, ctx)
    retail = _bc(stack, "customerPriceGroups", code="RETAIL")
    desk = _bc(stack, "integrationItems", number="1896-S")
    schedule = _crm_id(ctx, "UNIT OF MEASURE", _bc(stack, "unitsOfMeasure", code="PCS")["id"])
    level_id = _crm_id(ctx, GROUPS, retail["id"])
    existing = stack.dataverse.insert(
        "productpricelevels",
        {
            "pricelevelid@odata.bind": f"/pricelevels({level_id})",
            "productid@odata.bind": f"/products({_crm_id(ctx, 'ITEM-PRODUCT', desk['id'])})",
            "uomid@odata.bind": f"/uoms({_base_unit(stack, schedule)['uomid']})",
            "uomscheduleid@odata.bind": f"/uomschedules({schedule})",
            "pricingmethodcode": 1,
            "amount": 999.0,
        },
    )
    _run(stack, "sync_salesprc_prodprice")
    # the same price list, product and unit: coupled and updated, not a second row
    assert _summary(PRICES) == {"inserted": 4, "modified": 1}
    desk_retail = _bc(stack, "salesPrices", itemNo="1896-S", salesCode="RETAIL")
    assert _crm_id(ctx, PRICES, desk_retail["id"]) == existing["productpricelevelid"]
    rows = _dv(stack, "productpricelevels", _pricelevelid_value=level_id, productnumber="1896-S")
    assert [r["productpricelevelid"] for r in rows] == [existing["productpricelevelid"]]
    assert rows[0]["amount"] == 1100.0
    assert rows[0]["_transactioncurrencyid_value"] == _currency_id(stack, "USD")

    # nothing changed: every price is compared field by field (lookups and units included), no write
    stack.dataverse.reset_counters()
    prices = [p for p in stack.bc.rows("salesPrices") if p["salesType"] == CPG]
    assert {_sync(ctx, PRICES, p["id"]).outcome for p in prices} == {"unchanged"}
    assert stack.dataverse.counters()["writes"] == 0

    # a new unit price: the next run writes the amount only
    before = stack.dataverse.get("productpricelevels", existing["productpricelevelid"])
    stack.bc.update("salesPrices", desk_retail["id"], {"unitPrice": 1050.0})
    delivered = _run(stack, "sync_salesprc_prodprice")
    assert len(delivered) == 1 and desk_retail["id"] in delivered[0]
    assert _summary(PRICES) == {"modified": 1}
    counters = stack.dataverse.counters()
    assert counters["writes"] == 1 and counters["by_method"]["PATCH"] == 1
    after = stack.dataverse.get("productpricelevels", existing["productpricelevelid"])
    volatile = {"amount", "modifiedon", "versionnumber", "@odata.etag", "_modifiedby_value"}
    assert after["amount"] == 1050.0
    assert {k: v for k, v in after.items() if k not in volatile} == {
        k: v for k, v in before.items() if k not in volatile
    }
    stack.bc.update("salesPrices", desk_retail["id"], {"unitPrice": 1040.0})
    outcome = _sync(ctx, PRICES, desk_retail["id"], "modified")
    assert (outcome.outcome, outcome.message) == ("modified", "changed amount")
