"""Companion customerStatistics and the payment back office of posted invoices, over real HTTP.

Figures after posting, paying, unapplying, cancelling and adjusting; ``$filter`` on
``lastActivityDateTime``, ``customerNo`` and ``lastDetailedEntryNo``; the admin routes' errors.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import requests

from sandbox.bc_emulator import BcEmulator
from sandbox.seed import seed_id
from tests.integration.emulator_clients import BcApi, error

pytestmark = pytest.mark.usefixtures("fresh_bc")
FIELDS = {"@odata.etag", "id", "lastModifiedDateTime", "customerNo", "name", "balanceLcy",
          "outstandingOrdersLcy", "shippedNotInvoicedLcy", "outstandingInvoicesLcy", "totalLcy",
          "creditLimitLcy", "overdueAmountsLcy", "overdueAmountsAsOf", "totalSalesLcy",
          "invoicedPrepaymentAmountLcy", "lastActivityDateTime"}  # fmt: skip


@pytest.fixture
def api(bc: BcEmulator) -> BcApi:
    return BcApi(bc)


def stats(api: BcApi, number: str) -> dict[str, Any]:
    rows = api.companion.value(f"customerStatistics?$filter=customerNo eq '{number}'")
    assert len(rows) == 1
    return rows[0]


def money(row: dict[str, Any]) -> dict[str, float]:
    names = ("balanceLcy", "outstandingOrdersLcy", "shippedNotInvoicedLcy", "outstandingInvoicesLcy",
             "totalLcy", "overdueAmountsLcy", "totalSalesLcy", "invoicedPrepaymentAmountLcy")  # fmt: skip
    return {n: row[n] for n in names if row[n]}


def admin(bc: BcEmulator, path: str, body: Any = None) -> requests.Response:
    return requests.post(f"{bc.url}/_admin/{path}", json=body)


def refusal(response: requests.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["message"]).split("  CorrelationId")[0]


def order(api: BcApi, customer: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    body = {"documentType": "Order", "sellToCustomerNo": customer, "lines": lines}
    response = api.companion.post("salesDocuments", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_one_read_only_row_per_customer_listed_with_the_companion_sets(api: BcApi, bc: BcEmulator) -> None:
    names = [s["name"] for s in api.companion.get(bc.companion_url).json()["value"]]
    assert "customerStatistics" in names and "postedSalesInvoices" in names
    assert "customerStatistics" not in [s["name"] for s in api.get(bc.api_url).json()["value"]]  # not on v2.0
    rows = api.companion.value("customerStatistics")
    customers = api.companion.value("integrationCustomers")
    assert [(r["id"], r["customerNo"], r["name"]) for r in rows] == [
        (c["id"], c["number"], c["name"]) for c in customers
    ]
    cannon = seed_id("bc", "customer", "10000")
    row = api.companion.get(f"customerStatistics({cannon})").json()
    assert set(row) - {"@odata.context"} == FIELDS
    assert (row["customerNo"], row["creditLimitLcy"], row["overdueAmountsAsOf"]) == (
        "10000", 15000.0, date.today().isoformat())  # fmt: skip
    assert api.get(f"customers({cannon})").json()["id"] == row["id"]
    assert error(api.companion.post("customerStatistics", json={})) == (405, "BadRequest_MethodNotAllowed")
    refused = api.companion.patch(
        f"customerStatistics({cannon})", json={"balanceLcy": 1}, headers={"If-Match": "*"}
    )
    assert error(refused) == (405, "BadRequest_MethodNotAllowed")


def test_figures_of_the_seeded_ledger_and_documents(api: BcApi) -> None:
    today = date.today().isoformat()
    gbp = api.companion.value("postedSalesInvoices?$filter=number eq '103002'")[0]
    remaining = round(gbp["remainingAmount"] / gbp["currencyFactor"], 2)
    expected = {"balanceLcy": remaining, "totalLcy": remaining}
    if gbp["dueDate"] < today:
        expected["overdueAmountsLcy"] = remaining
    if gbp["shipmentDate"][:4] == today[:4]:  # seeded invoices were posted on their shipment date
        expected["totalSalesLcy"] = round(gbp["amount"] / gbp["currencyFactor"], 2)
    assert money(stats(api, "20000")) == expected
    seeded_order = api.companion.get(f"salesDocuments({seed_id('bc', 'salesOrders', 'S-ORD101001')})").json()
    incl = seeded_order["amountIncludingVat"]
    cannon = money(stats(api, "10000"))
    cannon.pop("totalSalesLcy", None)  # 103001 is paid: no balance, its sales only in its own year
    assert cannon == {"outstandingOrdersLcy": incl, "totalLcy": incl}
    draft = api.get(f"salesInvoices({seed_id('bc', 'salesInvoices', 'S-INV102001')})").json()
    rate = api.companion.value("currencyExchangeRates?$filter=currencyCode eq 'CAD'")[0]
    factor = round(rate["exchangeRateAmount"] / rate["relationalExchangeRateAmount"], 6)
    cad = round(draft["totalAmountIncludingTax"] / factor, 2)
    assert money(stats(api, "90000")) == {"outstandingInvoicesLcy": cad, "totalLcy": cad}
    assert money(stats(api, "30000")) == {}  # a quote is no outstanding amount


def test_order_shipped_invoiced_paid_unapplied_and_cancelled(api: BcApi, bc: BcEmulator) -> None:
    freight = {"type": "G/L Account", "number": "6810", "quantity": 1, "unitPrice": 40}
    doc = order(api, "30000", [{"type": "Item", "number": "1900-S", "quantity": 4}, freight])
    incl = doc["amountIncludingVat"]
    assert money(stats(api, "30000")) == {"outstandingOrdersLcy": incl, "totalLcy": incl}
    bc.post_sales_shipment(doc["id"], {10000: 1})
    lines = api.companion.value(f"salesDocuments({doc['id']})/lines")
    shipped = round(lines[0]["amountIncludingVat"] / 4, 2)
    expected = {"outstandingOrdersLcy": round(incl - shipped, 2), "shippedNotInvoicedLcy": shipped}
    assert money(stats(api, "30000")) == {**expected, "totalLcy": incl}
    invoice = bc.post_sales_invoice(doc["id"], ship=True)
    total = invoice["amountIncludingVat"]
    assert total == incl and api.companion.get(f"salesDocuments({doc['id']})").status_code == 404
    assert money(stats(api, "30000")) == {
        "balanceLcy": total,
        "totalLcy": total,
        "totalSalesLcy": invoice["amount"],
    }
    assert bc.apply_payment(invoice["id"], 100)["remainingAmount"] == round(total - 100, 2)
    assert stats(api, "30000")["balanceLcy"] == round(total - 100, 2)
    unapplied = admin(bc, f"posted-sales-invoices/{invoice['id']}/unapply")
    assert unapplied.status_code == 200, unapplied.text
    assert unapplied.json()["remainingAmount"] == total and unapplied.json()["lines"]
    assert stats(api, "30000")["balanceLcy"] == total
    cancelled = admin(bc, f"posted-sales-invoices/{invoice['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["cancelled"], cancelled.json()["remainingAmount"]) == (True, 0)
    assert money(stats(api, "30000")) == {}  # the corrective credit memo reverses the sale


def test_payment_unapply_and_cancel_add_detailed_entries(api: BcApi, bc: BcEmulator) -> None:
    def numbers(where: str) -> list[str]:
        return [i["number"] for i in api.companion.value(f"postedSalesInvoices?$filter={where}")]

    gbp, eur = (seed_id("bc", "postedSalesInvoice", n) for n in ("103002", "103003"))
    assert numbers("lastDetailedEntryNo gt 3") == ["103002", "103003"]
    assert bc.unapply_payment(gbp)["lastDetailedEntryNo"] == 6
    assert bc.apply_payment(eur, 10)["lastDetailedEntryNo"] == 7
    assert bc.cancel_posted_invoice(gbp)["lastDetailedEntryNo"] == 8
    changed = api.companion.value("postedSalesInvoices?$filter=lastDetailedEntryNo gt 6")
    assert [(i["number"], i["lastDetailedEntryNo"], i["cancelled"]) for i in changed] == [
        ("103002", 8, True), ("103003", 7, False)]  # fmt: skip
    assert numbers("sellToCustomerNo eq '60000' and lastDetailedEntryNo gt 3") == ["103003"]
    assert numbers("sellToCustomerNo eq '10000' and lastDetailedEntryNo gt 3") == []
    assert numbers("sellToCustomerNo eq '10000' and lastDetailedEntryNo gt 1") == ["103001"]


def test_unapply_and_cancel_refusals_change_nothing(api: BcApi, bc: BcEmulator) -> None:
    paid, part_paid, unpaid = (seed_id("bc", "postedSalesInvoice", n) for n in ("103001", "103002", "103003"))
    before = api.companion.value("postedSalesInvoices")
    assert refusal(admin(bc, f"posted-sales-invoices/{unpaid}/unapply")) == (
        "Cust. Ledger Entry No. 3 does not have an application entry.")  # fmt: skip
    for invoice in (paid, part_paid):
        assert refusal(admin(bc, f"posted-sales-invoices/{invoice}/cancel")) == (
            "You cannot cancel this posted sales invoice because it is fully or partially paid. "
            "To reverse a paid sales invoice, you must manually create a sales credit memo.")  # fmt: skip
    assert api.companion.value("postedSalesInvoices") == before
    assert bc.cancel_posted_invoice(unpaid)["cancelled"] is True
    assert refusal(admin(bc, f"posted-sales-invoices/{unpaid}/cancel")) == (
        "You cannot cancel this posted sales invoice because it has already been canceled.")  # fmt: skip
    assert refusal(admin(bc, f"posted-sales-invoices/{unpaid}/unapply")).endswith("an application entry.")
    overpaid = refusal(admin(bc, f"posted-sales-invoices/{unpaid}/payment", {"amount": 1}))
    assert overpaid == "The payment must be more than 0 and at most the remaining amount 0.00."
    missing = admin(bc, f"posted-sales-invoices/{seed_id('bc', 'x', 'y')}/unapply")
    assert error(missing) == (404, "Internal_RecordNotFound")
    assert error(admin(bc, f"posted-sales-invoices/{unpaid}/refund")) == (404, "NotFound")


def test_adjustments_add_to_the_computed_figures(api: BcApi, bc: BcEmulator) -> None:
    base = stats(api, "20000")
    body = {
        "balanceLcy": 100,
        "outstandingOrdersLcy": 50.5,
        "invoicedPrepaymentAmountLcy": 20,
        "totalSalesLcy": 7,
    }
    response = admin(bc, "customers/20000/statistics", body)
    assert response.status_code == 200, response.text
    row = response.json()
    assert row["id"] == base["id"] and row == stats(api, "20000")
    assert (row["balanceLcy"], row["outstandingOrdersLcy"], row["invoicedPrepaymentAmountLcy"]) == (
        round(base["balanceLcy"] + 100, 2), 50.5, 20)  # fmt: skip
    assert row["totalLcy"] == round(base["totalLcy"] + 100 + 50.5 - 20, 2) and row["totalSalesLcy"] == 7
    again = bc.adjust_customer_statistics("20000", balanceLcy=-100, overdueAmountsLcy=1.25)
    assert (again["balanceLcy"], again["overdueAmountsLcy"]) == (
        base["balanceLcy"],
        round(base["overdueAmountsLcy"] + 1.25, 2),
    )
    assert (
        again["creditLimitLcy"] == base["creditLimitLcy"]
        and again["lastActivityDateTime"] > row["lastActivityDateTime"]
    )


def test_adjustment_route_errors(api: BcApi, bc: BcEmulator) -> None:
    before = api.companion.value("customerStatistics")
    assert refusal(admin(bc, "customers/20000/statistics", {"balance": 1})).startswith(
        "'balance' is no amount of customerStatistics. Use: balanceLcy, "
    )
    assert refusal(admin(bc, "customers/20000/statistics", {"balanceLcy": 1, "totalSalesLcy": "9"})) == (
        "totalSalesLcy must be a number (the amount added in LCY).")  # fmt: skip
    assert refusal(admin(bc, "customers/20000/statistics", {"balanceLcy": True})).startswith(
        "balanceLcy must"
    )
    assert "integrationCustomers" in refusal(admin(bc, "customers/20000/statistics", {"creditLimitLcy": 5}))
    assert refusal(admin(bc, "customers/20000/statistics", {})).startswith("Name at least one amount")
    assert refusal(admin(bc, "customers/20000/statistics", [1])) == "The request body must be a JSON object."
    unknown = admin(bc, "customers/99999/statistics", {"balanceLcy": 1})
    assert (
        refusal(unknown, 404) == "The Customer does not exist. Identification fields and values: No.='99999'"
    )
    assert error(unknown) == (404, "Internal_RecordNotFound")
    assert api.companion.value("customerStatistics") == before


# -- lastActivityDateTime and paging -----------------------------------------------------------------


def activity(api: BcApi, number: str) -> str:
    return str(stats(api, number)["lastActivityDateTime"])


def active_since(api: BcApi, moment: str) -> list[str]:
    rows = api.companion.value(f"customerStatistics?$filter=lastActivityDateTime gt {moment}")
    return [r["customerNo"] for r in rows]


def test_last_activity_moves_only_with_lines_and_ledger_entries(api: BcApi, bc: BcEmulator) -> None:
    start = max(r["lastActivityDateTime"] for r in api.companion.value("customerStatistics"))
    assert active_since(api, start) == []
    customer = seed_id("bc", "customer", "30000")
    api.companion.patch(
        f"integrationCustomers({customer})", json={"name": "Haddock"}, headers={"If-Match": "*"}
    )
    doc = order(api, "30000", [])  # a header without lines has no amount
    api.companion.post(f"salesDocuments({doc['id']})/notes", json={"noteText": "call first"})
    assert stats(api, "30000")["name"] == "Haddock" and active_since(api, start) == []
    line = api.companion.post(f"salesDocuments({doc['id']})/lines", json={"type": "Item", "number": "1900-S",
                                                                         "quantity": 1}).json()  # fmt: skip
    added = activity(api, "30000")
    assert added > start and active_since(api, start) == ["30000"]
    for action in ("release", "reopen"):  # status changes touch no line
        assert api.companion.post(f"salesDocuments({doc['id']})/Microsoft.NAV.{action}").status_code == 204
    assert activity(api, "30000") == added
    api.companion.patch(f"salesDocumentLines({line['id']})", json={"quantity": 3}, headers={"If-Match": "*"})
    changed = activity(api, "30000")
    assert changed > added
    assert api.companion.delete(f"salesDocumentLines({line['id']})").status_code == 204
    deleted = activity(api, "30000")
    assert deleted > changed and active_since(api, deleted) == []
    bc.apply_payment(seed_id("bc", "postedSalesInvoice", "103003"), 10)
    assert active_since(api, deleted) == ["60000"]
    paid = activity(api, "60000")
    bc.adjust_customer_statistics("70000", balanceLcy=0)
    assert active_since(api, paid) == ["70000"]


def test_new_customer_shows_its_creation_time(api: BcApi) -> None:
    created = api.companion.post("integrationCustomers", json={"number": "N1", "name": "New"}).json()
    row = stats(api, "N1")
    assert row["lastActivityDateTime"] == created["lastModifiedDateTime"] and money(row) == {}
    api.companion.patch(f"integrationCustomers({created['id']})", json={"creditLimitLcy": 500},
                        headers={"If-Match": "*"})  # fmt: skip
    assert (stats(api, "N1")["lastActivityDateTime"], stats(api, "N1")["creditLimitLcy"]) == (
        created["lastModifiedDateTime"], 500)  # fmt: skip


def test_paging_and_filters_like_the_other_sets(api: BcApi, bc: BcEmulator) -> None:
    for i in range(25):
        bc.insert("integrationCustomers", {"number": f"P{i:03d}", "name": f"Paged {i}"})
    everyone = [c["number"] for c in api.companion.value("integrationCustomers")]
    seen, url, pages = [], "customerStatistics?$select=customerNo,balanceLcy", 0
    while url:
        body = api.companion.get(url, headers={"Prefer": "odata.maxpagesize=7"}).json()
        seen += [r["customerNo"] for r in body["value"]]
        url, pages = body.get("@odata.nextLink"), pages + 1
    assert seen == everyone and pages == -(-len(everyone) // 7)
    since = stats(api, "P000")["lastActivityDateTime"]
    newer = api.companion.value(f"customerStatistics?$filter=lastActivityDateTime gt {since} and "
                                "startswith(customerNo,'P')&$orderby=customerNo desc&$top=3")  # fmt: skip
    assert [r["customerNo"] for r in newer] == ["P024", "P023", "P022"]
    counted = api.companion.get("customerStatistics?$filter=balanceLcy gt 0&$count=true").json()
    assert counted["@odata.count"] == 2 and {r["customerNo"] for r in counted["value"]} == {"20000", "60000"}
    bad = api.companion.get("customerStatistics?$filter=balance gt 0")
    assert error(bad) == (400, "BadRequest")
