"""BC's back office on companion sales documents: release, shipments, invoices, deletion, events.

The admin routes (``/_admin/sales-documents/...``) over real HTTP and the same steps as emulator
methods; what the sync sees comes back through the companion API.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sandbox.bc_emulator import BcEmulator
from sandbox.seed import seed_id
from tests.integration.emulator_clients import BcApi, error

pytestmark = pytest.mark.usefixtures("fresh_bc")


@pytest.fixture
def api(bc: BcEmulator) -> BcApi:
    return BcApi(bc)


def order(api: BcApi, reference: str = "ORD-1", customer: str = "10000", **extra: Any) -> dict[str, Any]:
    lines = [{"type": "Item", "number": "1896-S", "quantity": 2},
             {"type": " ", "description": "gift wrapped", "attachedToLineNo": 10000},
             {"type": "G/L Account", "number": "6810", "quantity": 1, "unitPrice": 40}]  # fmt: skip
    body = {"documentType": "Order", "sellToCustomerNo": customer, "yourReference": reference, "lines": lines}
    body.update(extra)
    response = api.companion.post("salesDocuments", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def admin(bc: BcEmulator, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{bc.url}/_admin/{path}", json=body)


def events(api: BcApi, after: int = 0) -> list[tuple[str, str]]:
    rows = api.companion.value(f"salesDocumentEvents?$filter=sequenceNo gt {after}")
    return [(e["eventType"], e["postedDocumentNo"]) for e in rows]


def test_release_event_and_sequence_filter(api: BcApi, bc: BcEmulator) -> None:
    first, second = order(api, "A"), order(api, "B")
    quote = seed_id("bc", "salesQuotes", "S-QUO10001")
    assert api.companion.post(f"salesDocuments({quote})/Microsoft.NAV.release").status_code == 204  # no event
    assert api.companion.post(f"salesDocuments({first['id']})/Microsoft.NAV.release").status_code == 204
    released = admin(bc, "POST", f"sales-documents/{second['id']}/release")
    assert released.status_code == 200 and released.json()["status"] == "Released"
    assert (
        api.companion.post(f"salesDocuments({first['id']})/Microsoft.NAV.release").status_code == 204
    )  # again
    rows = api.companion.value("salesDocumentEvents")
    assert [(e["sequenceNo"], e["eventType"], e["orderNo"], e["yourReference"]) for e in rows] == [
        (1, "Released", "S-ORD101003", "A"),
        (2, "Released", "S-ORD101004", "B"),
    ]
    assert rows[0]["salesDocumentId"] == first["id"] and rows[0]["sellToCustomerNo"] == "10000"
    assert rows[0]["createdAt"] < rows[1]["createdAt"]
    assert [e["orderNo"] for e in api.companion.value("salesDocumentEvents?$filter=sequenceNo gt 1")] == [
        "S-ORD101004"
    ]
    assert bc.reopen_sales_document(second["id"])["status"] == "Open"
    bc.release_sales_document(second["id"])
    assert events(api, 2) == [("Released", "")]
    assert error(api.companion.post("salesDocumentEvents", json={})) == (405, "BadRequest_MethodNotAllowed")


def test_ship_then_invoice_posts_an_invoice_and_deletes_the_order(api: BcApi, bc: BcEmulator) -> None:
    doc = order(api, "ORD-77", externalDocumentNo="po-9", workDescription="Deliver\nbefore noon")
    bc.reset_counters()
    shipped = admin(bc, "POST", f"sales-documents/{doc['id']}/post-shipment")
    assert shipped.status_code == 200
    shipment = shipped.json()["shipmentNo"]
    after = api.companion.get(f"salesDocuments({doc['id']})?$expand=lines").json()
    assert (
        after["status"] == "Released"
        and after["completelyShipped"] is True
        and after["fullyInvoiced"] is False
    )
    quantities = [
        (ln["quantityShipped"], ln["qtyShippedNotInvoiced"], ln["outstandingQuantity"])
        for ln in after["lines"]
    ]
    assert quantities == [(2, 2, 0), (0, 0, 0), (1, 1, 0)]
    posted = admin(bc, "POST", f"sales-documents/{doc['id']}/post-invoice")
    assert posted.status_code == 201, posted.text
    invoice = posted.json()
    assert (invoice["yourReference"], invoice["externalDocumentNo"], invoice["sellToCustomerNo"]) == (
        "ORD-77", "PO-9", "10000")  # fmt: skip
    assert (invoice["amount"], invoice["amountIncludingVat"]) == (2041.6, 2552.0)  # (2001.6 + 40) * 1.25
    assert invoice["remainingAmount"] == 2552.0 and invoice["lastDetailedEntryNo"] == 6
    assert [(ln["lineNo"], ln["type"], ln["number"], ln["quantity"]) for ln in invoice["lines"]] == [
        (10000, "Item", "1896-S", 2), (20000, " ", "", 0), (30000, "G/L Account", "6810", 1)]  # fmt: skip
    stored = api.companion.get(f"postedSalesInvoices({invoice['id']})?$expand=lines").json()
    assert stored["workDescription"] == "Deliver\nbefore noon" and len(stored["lines"]) == 3
    assert api.companion.get(f"salesDocuments({doc['id']})").status_code == 404  # fully invoiced: deleted
    assert api.companion.value(f"salesDocumentLines?$filter=documentId eq {doc['id']}") == []
    assert events(api) == [
        ("Released", ""),
        ("ShipmentPosted", shipment),
        ("InvoicePosted", invoice["number"]),
        ("OrderFullyInvoiced", invoice["number"]),
    ]  # fmt: skip — no OrderDeleted
    assert bc.counters()["total"] == 5  # only the API reads above; admin routes are not counted


def test_partial_shipment_and_invoicing(api: BcApi, bc: BcEmulator) -> None:
    doc = order(api, lines=[{"type": "Item", "number": "1900-S", "quantity": 5},
                            {"type": "Item", "number": "1928-S", "quantity": 4}])  # fmt: skip
    shipped = admin(bc, "POST", f"sales-documents/{doc['id']}/post-shipment", {"quantities": {"10000": 2}})
    assert shipped.status_code == 200
    too_many = bc_error(
        admin(bc, "POST", f"sales-documents/{doc['id']}/post-shipment", {"quantities": {"10000": 4}})
    )
    assert too_many == "You cannot ship more than 3 units."
    invoice = bc.post_sales_invoice(doc["id"])
    assert [(ln["number"], ln["quantity"]) for ln in invoice["lines"]] == [("1900-S", 2)]
    assert invoice["amount"] == 385.6
    state = api.companion.get(f"salesDocuments({doc['id']})?$expand=lines").json()
    assert (state["completelyShipped"], state["fullyInvoiced"]) == (False, False)
    assert [(ln["quantityInvoiced"], ln["outstandingQuantity"]) for ln in state["lines"]] == [(2, 3), (0, 4)]
    nothing = bc_error(admin(bc, "POST", f"sales-documents/{doc['id']}/post-invoice"))
    assert nothing == "There is nothing to post."
    last = bc.post_sales_invoice(doc["id"], ship=True)
    assert [(ln["number"], ln["quantity"]) for ln in last["lines"]] == [("1900-S", 3), ("1928-S", 4)]
    assert [kind for kind, _ in events(api)] == ["Released", "ShipmentPosted", "InvoicePosted",
                                                 "ShipmentPosted",
                                                 "InvoicePosted", "OrderFullyInvoiced"]  # fmt: skip
    assert bc.get("salesDocuments", doc["id"]) is None


def bc_error(response: requests.Response) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["error"]["message"]).split("  CorrelationId")[0]


def test_one_invoice_for_the_shipments_of_several_orders(api: BcApi, bc: BcEmulator) -> None:
    first, second = order(api, "A"), order(api, "B")
    for doc in (first, second):
        bc.post_sales_shipment(doc["id"])
    mark = len(events(api))
    response = admin(bc, "POST", "sales-invoices/from-shipments", {"orderIds": [first["id"], second["id"]]})
    assert response.status_code == 201, response.text
    invoice = response.json()
    assert [ln["lineNo"] for ln in invoice["lines"]] == [10000, 20000, 30000, 40000, 50000, 60000]
    assert invoice["amount"] == 2 * 2041.6
    assert events(api, mark) == [
        ("InvoicePosted", invoice["number"]), ("OrderFullyInvoiced", invoice["number"]),
        ("InvoicePosted", invoice["number"]), ("OrderFullyInvoiced", invoice["number"])]  # fmt: skip
    rows = api.companion.value(f"salesDocumentEvents?$filter=sequenceNo gt {mark}")
    assert [e["orderNo"] for e in rows] == ["S-ORD101003", "S-ORD101003", "S-ORD101004", "S-ORD101004"]
    for doc in (first, second):  # the orders stay until BC's Delete Invoiced Sales Orders
        assert api.companion.get(f"salesDocuments({doc['id']})").json()["fullyInvoiced"] is True
    assert error(admin(bc, "POST", "sales-invoices/from-shipments", {"orderIds": []})) == (400, "BadRequest")


def test_deleting_an_order_by_hand_leaves_an_event(api: BcApi, bc: BcEmulator) -> None:
    by_hand, through_api, shipped = order(api, "H"), order(api, "API"), order(api, "S")
    assert admin(bc, "DELETE", f"sales-documents/{by_hand['id']}").status_code == 204
    assert api.companion.delete(f"salesDocuments({through_api['id']})").status_code == 204
    quote = api.companion.post("salesDocuments", json={"documentType": "Quote", "sellToCustomerNo": "10000"})
    bc.delete_sales_document(quote.json()["id"])  # quotes leave no event
    bc.post_sales_shipment(shipped["id"])
    refused = bc_error(admin(bc, "DELETE", f"sales-documents/{shipped['id']}"))
    assert refused == (
        "Qty. Shipped Not Invoiced must be equal to '0' in Sales Line: Document Type=Order, "
        "Document No.=S-ORD101005, Line No.=10000. Current value is '2'."
    )
    rows = api.companion.value("salesDocumentEvents")
    assert [(e["eventType"], e["yourReference"], e["salesDocumentId"]) for e in rows][:2] == [
        ("OrderDeleted", "H", by_hand["id"]), ("OrderDeleted", "API", through_api["id"])]  # fmt: skip
    assert [e["eventType"] for e in rows][2:] == ["Released", "ShipmentPosted"]
    assert api.companion.get(f"salesDocuments({shipped['id']})").status_code == 200


def test_posting_refusals_change_nothing(api: BcApi, bc: BcEmulator) -> None:
    quote = seed_id("bc", "salesQuotes", "S-QUO10001")
    refused = bc_error(admin(bc, "POST", f"sales-documents/{quote}/post-shipment"))
    assert refused == (
        "Document Type must be equal to 'Order' in Sales Header: Document Type=Quote, No.=S-QUO10001. "
        "Current value is 'Quote'."
    )
    body = {
        "documentType": "Order",
        "sellToCustomerNo": "10000",
        "lines": [{"type": " ", "description": "x"}],
    }
    text_only = api.companion.post("salesDocuments", json=body).json()
    refusal = bc_error(admin(bc, "POST", f"sales-documents/{text_only['id']}/post-invoice", {"ship": True}))
    assert (
        refusal == "There is nothing to release for the document of type Order with the number S-ORD101003."
    )
    bad = admin(bc, "POST", f"sales-documents/{text_only['id']}/post-shipment", {"quantities": {"x": 1}})
    assert error(bad) == (400, "BadRequest")
    assert api.companion.value("salesDocumentEvents") == []
    assert error(admin(bc, "POST", f"sales-documents/{seed_id('bc', 'x', 'y')}/release")) == (
        404, "Internal_RecordNotFound")  # fmt: skip


def test_v2_ship_and_invoice_is_the_same_posting(api: BcApi, bc: BcEmulator) -> None:
    doc = order(api, "V2")
    assert api.post(f"salesOrders({doc['id']})/Microsoft.NAV.shipAndInvoice").status_code == 204
    assert [kind for kind, _ in events(api)] == [
        "Released",
        "ShipmentPosted",
        "InvoicePosted",
        "OrderFullyInvoiced",
    ]
    posted = api.companion.value("postedSalesInvoices?$filter=yourReference eq 'V2'")
    assert len(posted) == 1 and posted[0]["amountIncludingVat"] == 2552.0


def test_payments_move_remaining_amount_and_detailed_entry(api: BcApi, bc: BcEmulator) -> None:
    invoice = api.companion.value("postedSalesInvoices?$filter=number eq '103003'")[0]
    paid = admin(bc, "POST", f"posted-sales-invoices/{invoice['id']}/payment", {"amount": 100})
    assert paid.status_code == 200
    assert paid.json()["remainingAmount"] == round(invoice["remainingAmount"] - 100, 2)
    assert paid.json()["lastDetailedEntryNo"] == 6
    changed = api.companion.value("postedSalesInvoices?$filter=lastDetailedEntryNo gt 5")
    assert [i["number"] for i in changed] == ["103003"]
    assert bc.apply_payment(invoice["id"])["remainingAmount"] == 0
    overpaid = bc_error(admin(bc, "POST", f"posted-sales-invoices/{invoice['id']}/payment", {"amount": 1}))
    assert overpaid == "The payment must be more than 0 and at most the remaining amount 0.00."
