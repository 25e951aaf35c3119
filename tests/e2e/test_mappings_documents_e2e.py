"""The document mappings end to end: POSTEDSALESINV-INV with its lines (POSTEDSALESLINE-INV) and
SALESORDER-ORDER (BC §3.10, §3.11, §3.13, §6.1) against the BC and Dataverse emulators and Azurite.

Both header mappings are "Synch. Only Coupled Records": scheduled runs update coupled documents
only; a document is created the way BC's "Create in Dataverse" does (reason ``command``). An
invoice's lines are never synchronized on their own: they become invoicedetail rows of their
invoice when it is synchronized, coupled line by line so a redelivery creates no second line.
The dependencies (currency, salespeople, options, units, customers, items) are synchronized first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from sandbox.stack import SandboxStack
from sync_core.errors import DataError
from sync_core.sync.commands.couplings import uncouple
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.write_rules import DEFAULT_PRICE_LIST
from sync_core.sync.jobs.mapping_job import run_mapping_job
from sync_core.vocabulary import Record
from tests.e2e.host import deliver_all, fire_timer
from tests.e2e.world import bc_row, context, crm_id, prepare, sync

INVOICE, LINE, ORDER = "POSTEDSALESINV-INV", "POSTEDSALESLINE-INV", "SALESORDER-ORDER"


TOTALS = ("totalamount", "totalamountlessfreight")  # valid for update only: PATCHed after the insert
# what the end of the creation writes after the lines: the rest of the totals, then the state
WATCHED = (*TOTALS, "totaltax", "statecode")
AFTER_LINES = [("PATCH", {"totaltax"}), ("PATCH", {"statecode"})]


def _invoice_writes(writes: list[tuple[str, str, Any]]) -> list[tuple[str, set[str]]]:
    """The invoice writes as (method, the watched attributes each one sent)."""
    return [
        (method, {t for t in WATCHED if t in body}) for method, entity, body in writes if entity == "invoices"
    ]


class _ResentPost:
    """The Dataverse adapter with a lost answer to an invoice POST: sent again, it gets 412."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, entity: str, values: Mapping[str, Any], record_id: str | None = None) -> Record:
        created = self._inner.create(entity, values, record_id)
        if entity != "invoices":
            return created
        return self._inner.create(entity, values, record_id)  # AlreadyExistsError


def _details(stack: SandboxStack, invoice_id: str) -> list[dict]:
    rows = [d for d in stack.dataverse.rows("invoicedetails") if d["_invoiceid_value"] == invoice_id]
    return sorted(rows, key=lambda d: d["lineitemnumber"])


def _errors(ctx: SyncContext, mapping: str) -> list:
    return [e for e in ctx.stores.sync_errors.list(mapping=mapping)]


def test_invoice_created_with_header_fields_and_product_lines(
    stack: SandboxStack, dv_writes: list[tuple[str, str, Any]]
) -> None:
    ctx = context()
    prepare(stack, ctx, ("10000",), ("1896-S", "1928-S"))
    bc_invoice = bc_row(stack, "postedSalesInvoices", "103001")
    outcome = sync(ctx, INVOICE, bc_invoice["id"])
    assert outcome.outcome == "inserted", outcome
    invoice = stack.dataverse.get("invoices", outcome.destination_id)
    customer = crm_id(ctx, "CUSTOMER", bc_row(stack, "integrationCustomers", "10000")["id"])
    usd = next(c for c in stack.dataverse.rows("transactioncurrencies") if c["isocurrencycode"] == "USD")
    assert invoice["invoicenumber"] == "103001" and invoice["_customerid_value"] == customer
    assert invoice["_transactioncurrencyid_value"] == usd["transactioncurrencyid"]  # blank = LCY
    assert invoice["duedate"] == "2025-06-30" and invoice["datedelivered"] == "2025-05-31"
    assert (
        invoice["billto_name"] == bc_invoice["billToName"]
        and invoice["shipto_name"] == bc_invoice["shipToName"]
    )
    assert invoice["totalamountlessfreight"] == bc_invoice["amount"]
    assert invoice["totalamount"] == bc_invoice["amountIncludingVat"]
    # not valid for create: left out of the POST, written by one PATCH right after it (BC §6.1);
    # after the lines the rest of the totals, then the state: 103001 is paid (Remaining Amount 0)
    assert _invoice_writes(dv_writes) == [("POST", set()), ("PATCH", set(TOTALS)), *AFTER_LINES]
    assert (invoice["statecode"], invoice["statuscode"]) == (2, 100001)
    assert invoice["name"] == "103001" and invoice["totaltax"] == round(
        bc_invoice["amountIncludingVat"] - 2221.2, 2
    )
    default_list = next(p for p in stack.dataverse.rows("pricelevels") if p["name"] == DEFAULT_PRICE_LIST)
    assert invoice["_pricelevelid_value"] == default_list["pricelevelid"]  # LCY: BC's default list
    assert invoice["_bcbi_companyid_value"] == stack.dataverse.ids["company"]  # BC stamps its company
    details = _details(stack, invoice["invoiceid"])
    assert [d["lineitemnumber"] for d in details] == [10000, 20000]
    for detail, item in zip(details, ("1896-S", "1928-S"), strict=True):
        product = stack.dataverse.get(
            "products", crm_id(ctx, "ITEM-PRODUCT", bc_row(stack, "integrationItems", item)["id"])
        )
        assert detail["_productid_value"] == product["productid"] and detail["isproductoverridden"] is False
        assert detail["_uomid_value"] == product["_defaultuomid_value"]
        assert detail["_transactioncurrencyid_value"] == usd["transactioncurrencyid"]
        assert detail["ispriceoverridden"] is True
    first = details[0]
    assert (first["quantity"], first["priceperunit"]) == (2, 1000.8)
    assert first["baseamount"] == 2001.6 and first["tax"] == 400.32 and first["extendedamount"] == 2401.92
    assert first["shipto_name"] == invoice["shipto_name"]
    assert ctx.stores.couplings.get_by_crm(LINE, first["invoicedetailid"]).state == "coupled"


def test_a_redelivered_invoice_create_still_writes_the_totals(
    stack: SandboxStack, dv_writes: list[tuple[str, str, Any]]
) -> None:
    ctx = context()
    prepare(stack, ctx, ("10000",), ("1896-S", "1928-S"))
    bc_invoice = bc_row(stack, "postedSalesInvoices", "103001")
    outcome = sync(replace(ctx, dataverse=_ResentPost(ctx.dataverse)), INVOICE, bc_invoice["id"])
    assert outcome.outcome == "inserted", outcome
    [invoice] = stack.dataverse.rows("invoices")
    assert invoice["invoiceid"] == outcome.destination_id == crm_id(ctx, INVOICE, bc_invoice["id"])
    assert (invoice["totalamountlessfreight"], invoice["totalamount"]) == (
        bc_invoice["amount"],
        bc_invoice["amountIncludingVat"],
    )
    assert _invoice_writes(dv_writes) == [
        ("POST", set()),
        ("POST", set()),
        ("PATCH", set(TOTALS)),
        *AFTER_LINES,
    ]
    assert len(_details(stack, invoice["invoiceid"])) == 2
    assert sync(ctx, INVOICE, bc_invoice["id"], "modified").outcome == "unchanged"


def test_freight_line_is_a_write_in_line_in_the_invoice_currency(stack: SandboxStack) -> None:
    ctx = context()
    prepare(stack, ctx, ("60000",), ("1920-S",))
    outcome = sync(ctx, INVOICE, bc_row(stack, "postedSalesInvoices", "103003")["id"])
    assert outcome.outcome == "inserted", outcome
    invoice = stack.dataverse.get("invoices", outcome.destination_id)
    eur = next(c for c in stack.dataverse.rows("transactioncurrencies") if c["isocurrencycode"] == "EUR")
    assert invoice["_transactioncurrencyid_value"] == eur["transactioncurrencyid"]
    item_line, freight = _details(stack, invoice["invoiceid"])
    assert item_line["_productid_value"] and item_line["isproductoverridden"] is False
    assert freight["isproductoverridden"] is True and freight["_productid_value"] is None
    assert freight["productdescription"] == "6810 Freight." and freight["_uomid_value"] is None
    assert (freight["lineitemnumber"], freight["quantity"], freight["priceperunit"]) == (20000, 1, 50.0)
    assert freight["tax"] == 10.0 and freight["extendedamount"] == 60.0
    assert {d["_transactioncurrencyid_value"] for d in (item_line, freight)} == {eur["transactioncurrencyid"]}


def test_a_redelivered_invoice_never_creates_a_second_line(stack: SandboxStack) -> None:
    ctx = context()
    prepare(stack, ctx, ("60000",), ("1920-S",))
    invoice_bc = bc_row(stack, "postedSalesInvoices", "103003")["id"]  # unpaid: Active, editable
    invoice_id = sync(ctx, INVOICE, invoice_bc).destination_id
    first, second = _details(stack, invoice_id)
    assert sync(ctx, INVOICE, invoice_bc, "modified").outcome == "unchanged"  # plain redelivery
    assert sync(ctx, INVOICE, invoice_bc, "command").outcome == "unchanged"  # forced, nothing differs
    assert [d["invoicedetailid"] for d in _details(stack, invoice_id)] == [
        first["invoicedetailid"],
        second["invoicedetailid"],
    ]
    store = ctx.stores.couplings
    # a worker died after creating line 1 but before coupling it, and after claiming line 2 only
    store.save(replace(store.get_by_crm(LINE, first["invoicedetailid"]), state="claimed"))
    store.save(replace(store.get_by_crm(LINE, second["invoicedetailid"]), state="claimed"))
    stack.dataverse.delete("invoicedetails", second["invoicedetailid"])
    assert sync(ctx, INVOICE, invoice_bc, "modified").outcome == "unchanged"
    details = _details(stack, invoice_id)
    assert [d["invoicedetailid"] for d in details] == [first["invoicedetailid"], second["invoicedetailid"]]
    assert {store.get_by_crm(LINE, d["invoicedetailid"]).state for d in details} == {"coupled"}
    assert len(stack.dataverse.rows("invoicedetails")) == 2


def test_uncoupled_customer_and_item_are_synchronized_with_the_invoice(stack: SandboxStack) -> None:
    """BC §6.1: the Sell-to customer and an item inside ITEM-PRODUCT's filter are synchronized on
    the fly (created in Dataverse and coupled), each in its own job as BC does."""
    ctx = context()
    prepare(stack, ctx, (), ())
    invoice_bc = bc_row(stack, "postedSalesInvoices", "103002")["id"]
    customer_bc, item_bc = (
        bc_row(stack, "integrationCustomers", "20000"),
        bc_row(stack, "integrationItems", "1900-S"),
    )
    store = ctx.stores.couplings
    assert store.get_by_bc("CUSTOMER", customer_bc["id"]) is None
    assert store.get_by_bc("ITEM-PRODUCT", item_bc["id"]) is None
    inserted = sync(ctx, INVOICE, invoice_bc)
    assert inserted.outcome == "inserted", inserted
    account = stack.dataverse.get("accounts", crm_id(ctx, "CUSTOMER", customer_bc["id"]))
    product = stack.dataverse.get("products", crm_id(ctx, "ITEM-PRODUCT", item_bc["id"]))
    assert account["name"] == customer_bc["name"] and product["productnumber"] == "1900-S"
    assert (
        stack.dataverse.get("invoices", inserted.destination_id)["_customerid_value"] == account["accountid"]
    )
    [detail] = _details(stack, inserted.destination_id)
    assert (detail["quantity"], detail["_productid_value"]) == (6, product["productid"])
    assert _errors(ctx, INVOICE) == [] and _errors(ctx, "ITEM-PRODUCT") == []
    # the lines are never synchronized on their own
    line_id = next(iter(ctx.bc.list_rows(f"postedSalesInvoices({invoice_bc})/lines")))["id"]
    refused = sync(ctx, LINE, line_id)
    assert refused.outcome == "failed" and refused.message == "Cannot synchronize invoice lines separately."
    with pytest.raises(DataError, match="Cannot synchronize invoice lines separately"):
        run_mapping_job(ctx, LINE)


def test_scheduled_invoice_runs_update_coupled_invoices_only(stack: SandboxStack) -> None:
    ctx = context()
    conn = stack.azurite.connection_string
    prepare(stack, ctx, ("10000", "60000"), ("1896-S", "1928-S", "1920-S"))
    fire_timer("sync_postedsalesinv_inv")
    assert deliver_all(conn) == []  # synch only coupled: uncoupled invoices are left out
    assert stack.dataverse.rows("invoices") == []
    # 103003 is unpaid (Active in Dataverse, editable); 103001 stays uncoupled
    coupled, uncoupled = (bc_row(stack, "postedSalesInvoices", n)["id"] for n in ("103003", "103001"))
    invoice_id = sync(ctx, INVOICE, coupled).destination_id
    for bc_id in (coupled, uncoupled):
        stack.bc.update("postedSalesInvoices", bc_id, {"dueDate": "2025-07-15", "shipToCity": "Atlanta"})
    fire_timer("sync_postedsalesinv_inv")
    assert [json.loads(body)["source_id"] for body in deliver_all(conn)] == [coupled]
    invoice = stack.dataverse.get("invoices", invoice_id)
    assert invoice["duedate"] == "2025-07-15" and invoice["shipto_city"] == "Atlanta"
    assert [i["invoiceid"] for i in stack.dataverse.rows("invoices")] == [invoice_id]
    details = _details(stack, invoice_id)
    assert len(details) == 2 and len(stack.dataverse.rows("invoicedetails")) == 2
    assert {d["shipto_city"] for d in details} == {"Atlanta"}  # the lines copy the invoice's ship-to


def test_sales_orders_released_and_coupled_only(stack: SandboxStack) -> None:
    ctx = context()
    conn = stack.azurite.connection_string
    prepare(stack, ctx, ("10000", "40000"), ())
    released, reopened = (bc_row(stack, "salesOrders", n) for n in ("S-ORD101001", "S-ORD101002"))
    for order in (released, reopened):
        stack.bc.update("salesOrders", order["id"], {"status": "Open"})  # BC's Released
    fire_timer("sync_salesorder_order")
    assert deliver_all(conn) == [] and stack.dataverse.rows("salesorders") == []  # coupled only
    order_ids = [sync(ctx, ORDER, order["id"]).destination_id for order in (released, reopened)]
    salesorder = stack.dataverse.get("salesorders", order_ids[0])
    released = stack.bc.get("salesOrders", released["id"])
    assert salesorder["ordernumber"] == "S-ORD101001"
    assert salesorder["totalamountlessfreight"] == released["totalAmountExcludingTax"] > 0
    assert salesorder["totalamount"] == released["totalAmountIncludingTax"]
    assert (
        salesorder["billto_name"] == released["billToName"]
        and salesorder["shipto_name"] == released["shipToName"]
    )
    assert released["salesperson"] == "PS"  # the customer's, owner through the SALESPEOPLE coupling
    assert salesorder["_ownerid_value"] == stack.dataverse.ids["salesperson_ps"].lower()
    stack.bc.update("salesOrders", reopened["id"], {"status": "Draft"})  # reopened: outside the filter
    for order in (released, reopened):
        stack.bc.update("salesOrders", order["id"], {"requestedDeliveryDate": "2025-08-01"})
    fire_timer("sync_salesorder_order")
    assert [json.loads(body)["source_id"] for body in deliver_all(conn)] == [released["id"]]
    assert stack.dataverse.get("salesorders", order_ids[0])["requestdeliveryby"] == "2025-08-01"
    assert stack.dataverse.get("salesorders", order_ids[1])["requestdeliveryby"] != "2025-08-01"


def test_sales_order_state_steps_around_each_write(stack: SandboxStack) -> None:
    """BC §5.2: a Dataverse order is edited only while Active: BC activates it, writes, then sets it
    Submitted, or Invoiced once the BC order is fully invoiced."""
    ctx = context()
    prepare(stack, ctx, ("10000",), ())
    order = bc_row(stack, "salesOrders", "S-ORD101001")
    stack.bc.update("salesOrders", order["id"], {"status": "Open"})
    crm_id = sync(ctx, ORDER, order["id"]).destination_id

    def crm_state() -> tuple[int, int]:
        row = stack.dataverse.get("salesorders", crm_id)
        return row["statecode"], row["statuscode"]

    assert crm_state() == (1, 3)  # Submitted / In Progress after the insert
    stack.bc.update("salesOrders", order["id"], {"requestedDeliveryDate": "2025-09-01"})
    assert sync(ctx, ORDER, order["id"], "modified").outcome == "modified"  # a Submitted row took it
    assert stack.dataverse.get("salesorders", crm_id)["requestdeliveryby"] == "2025-09-01"
    assert crm_state() == (1, 3)
    for line in stack.bc.rows("salesOrderLines"):
        if line["documentId"] == order["id"]:
            done = {"shippedQuantity": line["quantity"], "invoicedQuantity": line["quantity"]}
            stack.bc.update("salesOrderLines", line["id"], done)
    stack.bc.update("salesOrders", order["id"], {"requestedDeliveryDate": "2025-09-02"})
    assert sync(ctx, ORDER, order["id"], "modified").outcome == "modified"
    assert crm_state() == (4, 100003)  # Invoiced / Invoiced
    stack.bc.update("salesOrders", order["id"], {"requestedDeliveryDate": "2025-09-03"})
    assert sync(ctx, ORDER, order["id"], "modified").outcome == "modified"  # an Invoiced row too
    assert stack.dataverse.get("salesorders", crm_id)["requestdeliveryby"] == "2025-09-03"
    assert sync(ctx, ORDER, order["id"], "command").outcome == "unchanged"  # nothing written ...
    assert crm_state() == (4, 100003)  # ... and the state is left alone


def test_uncoupling_an_invoice_uncouples_its_lines(stack: SandboxStack) -> None:
    ctx = context()
    prepare(stack, ctx, ("10000",), ("1896-S", "1928-S"))
    bc_invoice = bc_row(stack, "postedSalesInvoices", "103001")
    invoice_id = sync(ctx, INVOICE, bc_invoice["id"]).destination_id
    assert len(list(ctx.stores.couplings.iter_mapping(LINE))) == 2
    result = uncouple(ctx, INVOICE, bc_id=bc_invoice["id"])
    assert (result.uncoupled, result.children) == (1, {LINE: 2})
    assert list(ctx.stores.couplings.iter_mapping(LINE)) == []
    assert len(_details(stack, invoice_id)) == 2  # no record changed
