"""BC's rules for a posted sales invoice becoming a Dataverse invoice (bc-integration §6.1, §6.3 at
creation), end to end against the BC and Dataverse emulators and Azurite: the link to the Dataverse
order, totals in both of BC's modes, the price list in the invoice currency, options, Blocked items,
records synchronized on the fly (items outside ITEM-PRODUCT's filter written in), the state at
creation, paid invoices left alone, and redelivery that makes nothing twice. One test goes through
the operator's door (``python -m sync_core create-in-dataverse`` in its own process), one through
the mapping's timer and the record queue.

The posted invoices are made the way BC's posting leaves them (companion ``postedSalesInvoices``
with their lines); the Dataverse orders the way a salesperson makes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from sandbox.stack import SandboxStack
from sync_core.sync.context import SyncContext
from sync_core.vocabulary import Record
from tests.e2e.host import deliver_all, fire_timer
from tests.e2e.operator_support import command_json, run_command
from tests.e2e.world import bc_row, context, crm_id, prepare, sync

INVOICE = "POSTEDSALESINV-INV"
ACTIVE_BILLED, PAID_COMPLETE, PAID_PARTIAL, ACTIVE_NEW = (0, 4), (2, 100001), (2, 100002), (0, 1)
# 2 x 1000 less a line discount of 20 and an invoice discount of 50; freight (G/L 6810) 30; VAT 25 %
DESK = ("Item", "1896-S", 2, 1000.0, {"lineDiscountAmount": 20.0, "invDiscountAmount": 50.0})
FREIGHT = ("G/L Account", "6810", 1, 30.0)


# -- the world ------------------------------------------------------------------------------------


def _posted(stack: SandboxStack, number: str, customer: str, lines: list[tuple], **header: Any) -> dict:
    """A posted sales invoice with its lines (type, No., quantity, unit price[, amounts])."""
    names = {r["number"]: r["description"] for r in stack.bc.rows("integrationItems")}
    names |= {r["number"]: r["name"] for r in stack.bc.rows("resources")}
    rows = []
    for i, (kind, no, quantity, price, *more) in enumerate(lines, start=1):
        extra: dict[str, float] = more[0] if more else {}
        line_discount, invoice_discount = (
            extra.get("lineDiscountAmount", 0.0),
            extra.get("invDiscountAmount", 0.0),
        )
        amount = extra.get("amount", round(quantity * price - line_discount - invoice_discount, 2))
        rows.append({
            "lineNo": 10000 * i, "type": kind, "number": no, "description": names.get(no, "Freight"),
            "quantity": quantity, "unitPrice": price, "lineDiscountAmount": line_discount,
            "invDiscountAmount": invoice_discount, "amount": amount,
            "amountIncludingVat": extra.get("amountIncludingVat", round(amount * 1.25, 2)),
        })  # fmt: skip
    total = round(sum(r["amountIncludingVat"] for r in rows), 2)
    name = bc_row(stack, "integrationCustomers", customer)["name"]
    row = {
        "number": number, "sellToCustomerNo": customer, "dueDate": "2025-09-30",
        "shipmentDate": "2025-09-01", "billToName": name, "shipToName": name,
        "amount": round(sum(r["amount"] for r in rows), 2), "amountIncludingVat": total,
        "invoiceDiscountAmount": round(sum(r["invDiscountAmount"] for r in rows), 2),
        "remainingAmount": total, "lines": rows, **header,
    }  # fmt: skip
    return stack.bc.insert("postedSalesInvoices", row)


def _account(stack: SandboxStack, ctx: SyncContext, customer: str) -> str:
    return crm_id(ctx, "CUSTOMER", bc_row(stack, "integrationCustomers", customer)["id"])


def _product(stack: SandboxStack, ctx: SyncContext, item: str) -> dict:
    product = stack.dataverse.get(
        "products", crm_id(ctx, "ITEM-PRODUCT", bc_row(stack, "integrationItems", item)["id"])
    )
    assert product is not None
    return product


def _crm_order(stack: SandboxStack, account: str, **header: Any) -> dict:
    """A Dataverse order of ``account`` with an opportunity, its own price list and an owner."""
    opportunity = stack.dataverse.insert(
        "opportunities", {"name": "Lobby refit", "customerid_account@odata.bind": f"/accounts({account})"}
    )
    prices = stack.dataverse.insert("pricelevels", {"name": "Spring prices"})
    values = {
        "name": "Lobby refit order",
        "customerid_account@odata.bind": f"/accounts({account})",
        "opportunityid@odata.bind": f"/opportunities({opportunity['opportunityid']})",
        "pricelevelid@odata.bind": f"/pricelevels({prices['pricelevelid']})",
        "ownerid@odata.bind": f"/systemusers({stack.dataverse.ids['sales_user_2']})",
        **header,
    }
    return stack.dataverse.insert("salesorders", values)


def _option(ctx: SyncContext, stack: SandboxStack, mapping: str, entity: str, code: str) -> int:
    """The Dataverse option value coupled to a BC code (payment terms, shipping agent)."""
    row = next(r for r in stack.bc.rows(entity) if r["code"] == code)
    coupling = ctx.stores.couplings.get_by_bc(mapping, row["id"])
    assert coupling is not None
    return int(coupling.crm_id)


def _details(stack: SandboxStack, invoice_id: str) -> list[dict]:
    rows = [d for d in stack.dataverse.rows("invoicedetails") if d["_invoiceid_value"] == invoice_id]
    return sorted(rows, key=lambda d: (d["lineitemnumber"] is None, d["lineitemnumber"] or 0))


def _state(row: Mapping[str, Any]) -> tuple[int, int]:
    return row["statecode"], row["statuscode"]


def _price_lists(stack: SandboxStack, name: str) -> list[dict]:
    return [p for p in stack.dataverse.rows("pricelevels") if p["name"] == name]


def _prices_in(stack: SandboxStack, price_list: str) -> list[tuple[str, str, float]]:
    rows = [r for r in stack.dataverse.rows("productpricelevels") if r["_pricelevelid_value"] == price_list]
    return [(r["_productid_value"], r["_uomid_value"], r["amount"]) for r in rows]


def _is_rounding(row: Mapping[str, Any]) -> bool:
    return row.get("productdescription") == "Rounding"


def _errors(ctx: SyncContext) -> list:
    return list(ctx.stores.sync_errors.list(mapping=INVOICE))


class _LostAnswers:
    """The Dataverse adapter losing the answer to every create of some entity sets: the create is
    sent again and meets its own row (412), as after a timeout."""

    def __init__(self, inner: Any, entities: set[str]) -> None:
        self._inner, self._entities = inner, entities

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, entity: str, values: Mapping[str, Any], record_id: str | None = None) -> Record:
        created = self._inner.create(entity, values, record_id)
        if entity in self._entities and record_id is not None:
            return self._inner.create(entity, values, record_id)  # AlreadyExistsError
        return created


class _ReadBefore:
    """The Dataverse adapter of a worker that queried before another worker's write: its queries of
    ``entity`` do not see the rows ``hidden`` picks (reads by id do)."""

    def __init__(self, inner: Any, entity: str, hidden: Any) -> None:
        self._inner, self._entity, self._hidden = inner, entity, hidden

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def iter_modified(self, query: Any) -> Any:
        rows = self._inner.iter_modified(query)
        return (r for r in rows if query.entity != self._entity or not self._hidden(r.fields))


# -- the order link, totals, options ------------------------------------------------------------


@pytest.mark.parametrize(
    "sales_order_mode", [True, False], ids=["s-order-integration", "no-s-order-integration"]
)
def test_an_invoice_of_a_dataverse_order_copies_the_order_and_gets_bcs_totals(
    stack: SandboxStack, sales_order_mode: bool
) -> None:
    ctx = context()
    prepare(stack, ctx, ("10000",), ("1896-S",))
    account = _account(stack, ctx, "10000")
    order = _crm_order(stack, account, freightamount=30.0, discountpercentage=2.5)
    setup = stack.bc.rows("integrationSetup")[0]
    stack.bc.update("integrationSetup", setup["id"], {"salesOrderIntegration": sales_order_mode})
    assert ctx.reference is not None
    ctx.reference.ttl_seconds = 0  # the worker reads the setup as it is now
    posted = _posted(
        stack, "103901", "10000", [DESK, FREIGHT], yourReference=order["ordernumber"],
        paymentTermsCode="14 DAYS", shippingAgentCode="DHL", shipmentMethodCode="EXW",
    )  # fmt: skip
    outcome = sync(ctx, INVOICE, posted["id"])
    assert outcome.outcome == "inserted", outcome
    invoice = stack.dataverse.get("invoices", outcome.destination_id) or {}
    # BC §6.1: the order's opportunity, order, price list, name, customer and owner
    assert invoice["_salesorderid_value"] == order["salesorderid"]
    assert invoice["_opportunityid_value"] == order["_opportunityid_value"]
    assert invoice["_pricelevelid_value"] == order["_pricelevelid_value"]
    assert (invoice["name"], invoice["_customerid_value"]) == ("Lobby refit order", account)
    assert invoice["_ownerid_value"] == stack.dataverse.ids["sales_user_2"].lower()
    assert invoice["_bcbi_companyid_value"] == stack.dataverse.ids["company"]
    # options through their option mappings; no work description: the shipment method's
    assert invoice["paymenttermscode"] == _option(ctx, stack, "PAYMENT TERMS", "paymentTerms", "14 DAYS")
    assert invoice["shippingmethodcode"] == _option(ctx, stack, "SHIPPING AGENT", "shippingAgents", "DHL")
    assert invoice["description"] == "Ex Warehouse"
    # totals (amount 1960, incl. VAT 2450, invoice discount 50, line discount 20)
    common = (invoice["totalamount"], invoice["totalamountlessfreight"], invoice["totaltax"])
    assert common == (2450.0, 1960.0, 490.0) and invoice["totallineitemdiscountamount"] == 20.0
    if sales_order_mode:  # the posted invoice's Invoice Discount Amount; freight and % untouched
        assert invoice["totaldiscountamount"] == 50.0
        assert (invoice["freightamount"], invoice["discountpercentage"]) == (None, None)
    else:  # discount amount + the lines' discounts; no freight, no discount %
        assert invoice["totaldiscountamount"] == 70.0
        assert (invoice["freightamount"], invoice["discountpercentage"]) == (0, 0)
    assert _state(invoice) == ACTIVE_BILLED  # nothing paid yet
    desk, freight = _details(stack, invoice["invoiceid"])
    assert (desk["manualdiscountamount"], desk["baseamount"], desk["extendedamount"]) == (
        20.0,
        2000.0,
        2462.5,
    )
    assert freight["isproductoverridden"] is True and freight["productdescription"] == "6810 Freight."
    # the desk gets its price in the order's price list (BC: created when missing)
    product = _product(stack, ctx, "1896-S")
    assert _prices_in(stack, order["_pricelevelid_value"]) == [
        (product["productid"], product["_defaultuomid_value"], 1000.0)
    ]


def test_an_order_whose_customer_changed_refuses_the_invoice(stack: SandboxStack) -> None:
    ctx = context()
    prepare(stack, ctx, ("10000", "40000"), ("1896-S",))
    order = _crm_order(stack, _account(stack, ctx, "40000"))  # the order's customer was changed
    posted = _posted(stack, "103902", "10000", [DESK], yourReference=order["ordernumber"])
    failed = sync(ctx, INVOICE, posted["id"])
    assert (failed.outcome, failed.message) == (
        "failed",
        "Cannot create the invoice in Dataverse. The customer from the original Dataverse sales order "
        f"{order['ordernumber']} was changed or is no longer coupled.",
    )
    [error] = _errors(ctx)
    assert error.field == "customerid" and order["ordernumber"] in error.remedy
    assert stack.dataverse.rows("invoices") == [] and stack.dataverse.rows("invoicedetails") == []
    assert ctx.stores.couplings.get_by_bc(INVOICE, posted["id"]) is None
    # the salesperson sets the customer back: the invoice goes through, linked to the order
    back = {"customerid_account@odata.bind": f"/accounts({_account(stack, ctx, '10000')})"}
    stack.dataverse.update("salesorders", order["salesorderid"], back)
    inserted = sync(ctx, INVOICE, posted["id"])
    assert inserted.outcome == "inserted", inserted
    invoice = stack.dataverse.get("invoices", inserted.destination_id) or {}
    assert invoice["_salesorderid_value"] == order["salesorderid"]


# -- currency, products --------------------------------------------------------------------------


def test_a_foreign_currency_invoice_gets_one_price_list_in_its_currency(stack: SandboxStack) -> None:
    ctx = context()
    prepare(stack, ctx, ("60000",), ("1920-S",))
    outcome = sync(ctx, INVOICE, bc_row(stack, "postedSalesInvoices", "103003")["id"])
    assert outcome.outcome == "inserted", outcome
    eur = next(c for c in stack.dataverse.rows("transactioncurrencies") if c["isocurrencycode"] == "EUR")
    [price_list] = _price_lists(stack, "Price List in EUR")
    assert price_list["_transactioncurrencyid_value"] == eur["transactioncurrencyid"]
    assert price_list["exchangerate"] == 0.925926  # the invoice's Currency Factor
    invoice = stack.dataverse.get("invoices", outcome.destination_id) or {}
    assert (invoice["name"], invoice["_pricelevelid_value"]) == ("103003", price_list["pricelevelid"])
    table, freight = _details(stack, invoice["invoiceid"])
    assert (table["exchangerate"], freight["exchangerate"]) == (1.08, 1.08)  # BC: Round(1 / factor)
    product = _product(stack, ctx, "1920-S")
    priced = [(product["productid"], product["_defaultuomid_value"], 649.4)]
    assert _prices_in(stack, price_list["pricelevelid"]) == priced  # the line's price
    # a second EUR invoice, by a worker that looked for the list before the first one created it:
    # the same list (its id says what it is); the table already has its price there
    second = _posted(stack, "103903", "60000", [("Item", "1920-S", 2, 600.0)], currencyCode="EUR",
                     currencyFactor=0.925926)  # fmt: skip
    blind = replace(ctx, dataverse=_ReadBefore(ctx.dataverse, "pricelevels", lambda row: True))
    again = sync(blind, INVOICE, second["id"])
    assert again.outcome == "inserted", again
    assert (stack.dataverse.get("invoices", again.destination_id) or {})["_pricelevelid_value"] == price_list[
        "pricelevelid"
    ]
    assert len(_price_lists(stack, "Price List in EUR")) == 1
    assert _prices_in(stack, price_list["pricelevelid"]) == priced


def test_a_blocked_item_refuses_the_invoice_until_it_is_unblocked(stack: SandboxStack) -> None:
    ctx = context()
    prepare(stack, ctx, ("10000",), ("1896-S",))
    chair = bc_row(stack, "integrationItems", "1936-S")
    assert chair["blocked"] is True
    posted = _posted(stack, "103904", "10000", [DESK, ("Item", "1936-S", 1, 192.8)])
    failed = sync(ctx, INVOICE, posted["id"])
    assert (failed.outcome, failed.message) == (
        "failed",
        "Blocked must be equal to 'No'  in Item: No.=1936-S. Current value is 'Yes'.",
    )
    [error] = _errors(ctx)
    assert error.field == "productid" and "Unblock item 1936-S" in error.remedy
    assert stack.dataverse.rows("invoices") == []
    assert ctx.stores.couplings.get_by_bc("ITEM-PRODUCT", chair["id"]) is None
    stack.bc.update("integrationItems", chair["id"], {"blocked": False})
    inserted = sync(ctx, INVOICE, posted["id"])
    assert inserted.outcome == "inserted", inserted
    _, chair_line = _details(stack, inserted.destination_id)
    assert chair_line["_productid_value"] == _product(stack, ctx, "1936-S")["productid"]  # on the fly


def test_create_in_dataverse_synchronizes_what_the_invoice_needs_and_writes_in_the_rest(
    stack: SandboxStack,
) -> None:
    """The operator's door: ``python -m sync_core create-in-dataverse`` in its own process. The
    customer, an item inside ITEM-PRODUCT's (runtime) filter and a resource are created in Dataverse
    on the fly; the item outside the filter and the write-in product become write-in lines."""
    ctx = context()
    prepare(stack, ctx, (), ())
    run_command("mapping-set", "ITEM-PRODUCT", "--table-filter", "blocked eq false and number ne '1908-S'")
    lines = [("Item", "1896-S", 1, 1000.8), ("Item", "1908-S", 2, 190.1), ("Resource", "LINDA", 3, 110.0),
             ("Item", "WRITEIN", 1, 15.0)]  # fmt: skip
    posted = _posted(stack, "103905", "10000", lines)
    created = command_json("create-in-dataverse", INVOICE, "--bc-id", posted["id"])["created"]
    assert created["outcome"] == "inserted", created
    invoice = stack.dataverse.get("invoices", created["destination_id"]) or {}
    assert invoice["_customerid_value"] == _account(stack, ctx, "10000")
    linda = crm_id(ctx, "RESOURCE-PRODUCT", bc_row(stack, "resources", "LINDA")["id"])
    desk, chair, resource, write_in = _details(stack, invoice["invoiceid"])
    assert desk["_productid_value"] == _product(stack, ctx, "1896-S")["productid"]
    assert resource["_productid_value"] == linda and resource["isproductoverridden"] is False
    assert [(d["isproductoverridden"], d["productdescription"]) for d in (chair, write_in)] == [
        (True, "1908-S LONDON Swivel Chair, blue."),
        (True, "WRITEIN Write-in product."),
    ]
    numbers = sorted(p["productnumber"] for p in stack.dataverse.rows("products"))
    assert numbers == ["1896-S", "LINDA"]  # neither the chair outside the filter nor WRITEIN


# -- state ---------------------------------------------------------------------------------------


def test_the_state_at_creation_is_the_bc_invoices_payment_state(
    stack: SandboxStack, dv_writes: list[tuple[str, str, Any]]
) -> None:
    ctx = context()
    prepare(stack, ctx, ("10000", "20000", "60000"), ("1896-S", "1928-S", "1900-S", "1920-S"))
    # 103001 is paid, 103002 half paid, 103003 unpaid (Dataverse creates every invoice Active / New)
    for number, state in (("103001", PAID_COMPLETE), ("103002", PAID_PARTIAL), ("103003", ACTIVE_BILLED)):
        dv_writes.clear()
        outcome = sync(ctx, INVOICE, bc_row(stack, "postedSalesInvoices", number)["id"])
        assert outcome.outcome == "inserted", outcome
        assert _state(stack.dataverse.get("invoices", outcome.destination_id) or {}) == state, number
        writes = [(m, e, set(b)) for m, e, b in dv_writes if e in ("invoices", "invoicedetails")]
        # the lines and the totals first, while the invoice can be edited; the state last
        assert writes[-1] == ("PATCH", "invoices", {"statecode", "statuscode"})
        assert ("POST", "invoicedetails") in [(m, e) for m, e, _ in writes[:-1]]
        assert [b for m, e, b in writes if "statecode" in b] == [{"statecode", "statuscode"}]


def test_a_paid_invoice_is_never_written_again(
    stack: SandboxStack, dv_writes: list[tuple[str, str, Any]]
) -> None:
    ctx = context()
    prepare(stack, ctx, ("10000",), ("1896-S", "1928-S"))
    bc_invoice = bc_row(stack, "postedSalesInvoices", "103001")
    invoice_id = sync(ctx, INVOICE, bc_invoice["id"]).destination_id
    assert _state(stack.dataverse.get("invoices", invoice_id) or {}) == PAID_COMPLETE
    stack.bc.update("postedSalesInvoices", bc_invoice["id"], {"dueDate": "2025-08-31", "shipToCity": "Leeds"})
    dv_writes.clear()
    skipped = sync(ctx, INVOICE, bc_invoice["id"], "modified")
    assert (skipped.outcome, skipped.message) == (
        "skipped",
        "The Dataverse invoice 103001 is Paid / Complete: an invoice that is no longer Active is not "
        "written again.",
    )
    assert sync(ctx, INVOICE, bc_invoice["id"], "command").outcome == "skipped"  # sync-now too
    fire_timer("sync_postedsalesinv_inv")  # and the scheduled run, through the record queue
    assert bc_invoice["id"] in "".join(deliver_all(stack.azurite.connection_string))
    assert [(m, e) for m, e, _ in dv_writes if e in ("invoices", "invoicedetails")] == []
    invoice = stack.dataverse.get("invoices", invoice_id) or {}
    assert (invoice["duedate"], invoice["shipto_city"]) == ("2025-06-30", "")  # as created
    assert _errors(ctx) == []  # nothing to fix: not an error


# -- redelivery ----------------------------------------------------------------------------------


def test_redelivery_never_makes_a_second_rounding_line_price_list_or_price(stack: SandboxStack) -> None:
    """Prices Including VAT: 3 x 33.33 incl. VAT is 99.99, but the detail line (26.66 + 6.67 VAT
    per unit) adds up to 99.98: BC adds one write-in line "Rounding" of 0.01."""
    ctx = context()
    prepare(stack, ctx, ("60000",), ("1920-S",))
    line = ("Item", "1920-S", 3, 33.33, {"amount": 79.99, "amountIncludingVat": 99.99})
    posted = _posted(
        stack, "103906", "60000", [line], currencyCode="EUR", currencyFactor=0.925926,
        pricesIncludingVat=True, salespersonCode="OF", workDescription="Deliver to dock 4",
        shipmentMethodCode="CFR",
    )  # fmt: skip
    lossy = replace(
        ctx, dataverse=_LostAnswers(ctx.dataverse, {"pricelevels", "productpricelevels", "invoicedetails"})
    )
    outcome = sync(lossy, INVOICE, posted["id"])
    assert outcome.outcome == "inserted", outcome
    invoice = stack.dataverse.get("invoices", outcome.destination_id) or {}
    assert invoice["description"] == "Deliver to dock 4"  # a work description is kept
    assert invoice["_ownerid_value"] == stack.dataverse.ids["salesperson_of"].lower()  # the salesperson
    assert invoice["_bcbi_companyid_value"] == stack.dataverse.ids["company"]
    table, rounding = _details(stack, invoice["invoiceid"])
    assert (table["priceperunit"], table["tax"]) == (26.66, 20.0)
    assert (rounding["productdescription"], rounding["isproductoverridden"]) == ("Rounding", True)
    assert (rounding["quantity"], rounding["priceperunit"], rounding["lineitemnumber"]) == (1, 0.01, None)
    [price_list] = _price_lists(stack, "Price List in EUR")
    assert len(_prices_in(stack, price_list["pricelevelid"])) == 1
    assert _state(invoice) == ACTIVE_BILLED
    # a worker died before the last step: the invoice is still Active / New; the message comes again,
    # to a worker that read the lines before the rounding line was added
    new = {"statecode": ACTIVE_NEW[0], "statuscode": ACTIVE_NEW[1]}
    stack.dataverse.update("invoices", invoice["invoiceid"], new)
    late = replace(lossy, dataverse=_ReadBefore(lossy.dataverse, "invoicedetails", _is_rounding))
    assert sync(late, INVOICE, posted["id"], "modified").outcome == "unchanged"
    assert [d["invoicedetailid"] for d in _details(stack, invoice["invoiceid"])] == [
        table["invoicedetailid"],
        rounding["invoicedetailid"],
    ]
    assert len(_price_lists(stack, "Price List in EUR")) == 1
    assert len(_prices_in(stack, price_list["pricelevelid"])) == 1
    assert _state(stack.dataverse.get("invoices", invoice["invoiceid"]) or {}) == ACTIVE_BILLED
    assert sync(ctx, INVOICE, posted["id"], "command").outcome == "unchanged"  # finished: nothing to do
    assert len(_details(stack, invoice["invoiceid"])) == 2
