"""BC's refusals and header rules for orders made from Dynamics 365 Sales (BC §5.1 step 4, 7, 9):
the customer, product and currency texts, the invoice discount, option codes and addresses."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.seed import seed_id
from sandbox.stack import SandboxStack
from sync_core.sales.messages import DocumentMessage
from sync_core.sales.orders import ORDER_MAPPING
from sync_core.sales.process import process_document
from tests.e2e.sales_world import bc_documents, crm_document, currency, prepare_sales, submit
from tests.e2e.world import context

LONG_CITY = "Llanfairpwllgwyngyll-gogerychwyrndrobwll"
DESK = {"item": "1896-S", "quantity": 2, "priceperunit": 1000.0}


@pytest.fixture
def sales(stack: SandboxStack) -> SandboxStack:
    prepare_sales(stack, context())
    return stack


def test_bc_refuses_what_it_cannot_resolve_with_its_texts(sales: SandboxStack) -> None:
    vendor = seed_id("dv", "account", "Adventure Works Cycles")  # customertypecode 11: a vendor
    fabrikam = seed_id("dv", "account", "Fabrikam, Inc.")  # a customer, never coupled
    retired = sales.dataverse.insert(
        "products", {"name": "Old lamp", "productnumber": "OLD-1", "producttypecode": 1}
    )
    sales.dataverse.update("products", retired["productid"], {"statecode": 1, "statuscode": 2})
    nok = sales.dataverse.insert(
        "transactioncurrencies",
        {
            "currencyname": "Norwegian Krone",
            "isocurrencycode": "NOK",
            "currencysymbol": "kr",
            "exchangerate": 10.0,
            "currencyprecision": 2,
        },
    )
    cases = [
        ({"customerid_account@odata.bind": f"/accounts({vendor})"}, [DESK],
         "The selected type of the Adventure Works Cycles Dataverse account is not customer."),
        ({"customerid_account@odata.bind": f"/accounts({fabrikam})"}, [DESK],
         "There is no customer coupled to Dataverse account Fabrikam, Inc.."),
        ({"transactioncurrencyid@odata.bind": f"/transactioncurrencies({nok['transactioncurrencyid']})"},
         [DESK],
         "cannot find Currency NOK in Business Central."),
        ({}, [DESK, {"productid@odata.bind": f"/products({retired['productid']})", "quantity": 1}],
         "State must be equal to 'Active' in Dataverse product OLD-1. Current value is 'Retired'."),
    ]  # fmt: skip
    for header, lines, text in cases:
        order, outcome, message = _process_raw(sales, lines, header)
        assert (outcome, text in message) == ("failed", True), message
        assert bc_documents(sales, order["ordernumber"]) == []  # nothing half made
        assert context().stores.couplings.get_by_crm(ORDER_MAPPING, order["salesorderid"]) is None


def _process_raw(
    stack: SandboxStack, lines: list[dict[str, Any]], header: dict[str, Any]
) -> tuple[dict, str, str]:
    product_lines = [line for line in lines if "item" in line]
    order = crm_document(stack, context(), product_lines, **header)
    for sequence, line in enumerate(
        (line for line in lines if "item" not in line), start=len(product_lines) + 1
    ):
        unit = next(u for u in stack.dataverse.rows("uoms"))["uomid"]
        stack.dataverse.insert("salesorderdetails", {
            **line, "uomid@odata.bind": f"/uoms({unit})", "sequencenumber": sequence,
            "salesorderid@odata.bind": f"/salesorders({order['salesorderid']})",
        })  # fmt: skip
    submit(stack, order["salesorderid"])
    outcome = process_document(context(), DocumentMessage("order", order["salesorderid"], reason="command"))
    return order, outcome.outcome, outcome.message


def test_a_product_not_coupled_to_an_item_is_bcs_error(sales: SandboxStack) -> None:
    lamp = sales.dataverse.insert(
        "products", {"name": "New lamp", "productnumber": "NEW-1", "producttypecode": 1}
    )
    sales.dataverse.update("products", lamp["productid"], {"statecode": 0, "statuscode": 1})
    line = {"productid@odata.bind": f"/products({lamp['productid']})", "quantity": 1}
    _, outcome, message = _process_raw(sales, [line], {})
    assert (outcome, message) == ("failed", "The Dataverse product NEW-1 is not coupled to an item.")


def test_currency_options_addresses_and_the_invoice_discount(sales: SandboxStack) -> None:
    terms = next(r for r in sales.bc.rows("paymentTerms") if r["code"] == "14 DAYS")
    option = context().stores.couplings.get_by_bc("PAYMENT TERMS", terms["id"])
    assert option is not None
    order = crm_document(
        sales, context(), [DESK, {"item": "1928-S", "quantity": 10, "priceperunit": 40.0}],
        **{"transactioncurrencyid@odata.bind": f"/transactioncurrencies({currency(sales, 'EUR')})"},
        paymenttermscode=int(option.crm_id), shipto_city=LONG_CITY, shipto_name="Dock 4", discountamount=50.0,
    )  # fmt: skip
    sales.dataverse.update(
        "salesorders",
        order["salesorderid"],
        {"totallineitemamount": 2400.0, "totalamountlessfreight": 2350.0},
    )
    submit(sales, order["salesorderid"])
    outcome = process_document(context(), DocumentMessage("order", order["salesorderid"], reason="command"))
    assert outcome.outcome == "inserted", outcome.message
    [bc] = bc_documents(sales, order["ordernumber"])
    assert (bc["currencyCode"], bc["paymentTermsCode"]) == ("EUR", "14 DAYS")
    assert (bc["shipToName"], bc["shipToCity"]) == ("Dock 4", LONG_CITY[:30])  # cut to BC's 30 characters
    assert bc["billToCity"] != ""  # the empty CRM bill-to block leaves the customer's bill-to as it is
    assert bc["invoiceDiscountAmount"] == 50.0  # totallineitemamount - totalamountlessfreight


def test_setup_and_customer_refusals_name_what_to_fix(sales: SandboxStack) -> None:
    setup = sales.bc.rows("integrationSetup")[0]
    sales.bc.update("integrationSetup", setup["id"], {"freightGlAccountNo": ""})
    order, outcome, message = _process_raw(sales, [DESK], {"freightamount": 25.0})
    assert (outcome, message) == (
        "failed",
        "Freight G/L Acc. No. must have a value in Sales & Receivables Setup: Primary Key=. "
        "It cannot be zero or empty.",
    )
    errors = context().stores.sync_errors.list(mapping=ORDER_MAPPING)
    [error] = [e for e in errors if e.source_id == order["salesorderid"]]
    assert "Freight G/L Acc. No." in error.remedy and order["ordernumber"] in error.remedy
    orphan = sales.dataverse.insert("salesorders", {"name": "Nobody's"})
    submit(sales, orphan["salesorderid"])
    outcome = process_document(context(), DocumentMessage("order", orphan["salesorderid"], reason="command"))
    assert outcome.message == (
        f"There is no potential customer defined on the Dataverse sales order {orphan['ordernumber']}."
    )
