"""Submitted Dataverse orders become BC sales orders (BC §5.1) through the real entry points: the
webhook route, the document queue function, the auto-create timer and ``process-order``; against
the emulators and Azurite."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.stack import SandboxStack
from sync_core.app import wiring
from sync_core.errors import TransientError
from sync_core.sales.documents import BcDocuments
from sync_core.sales.messages import DocumentMessage
from sync_core.sales.orders import ORDER_MAPPING
from sync_core.sales.process import process_document
from sync_core.settings import DOCUMENT_QUEUE
from tests.e2e.host import fire_timer, http, queued
from tests.e2e.operator_support import command_json, run_command
from tests.e2e.sales_world import (
    bc_documents,
    bc_lines,
    crm_document,
    deliver_documents,
    prepare_sales,
    submit,
)
from tests.e2e.world import context

URL = "http://localhost/api/webhooks/dataverse"
MEMO_150 = (
    "Engraved with the customer's logo on the left side panel, in brushed steel letters of three " + "x" * 58
)
STARTED = datetime.now(UTC).date().isoformat()


def today() -> set[str]:
    """The UTC date the app stamps: today's, or the day the test started if it ran over midnight."""
    return {STARTED, datetime.now(UTC).date().isoformat()}


def _webhook(stack: SandboxStack, order_id: str, *, trimmed: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "MessageName": "Update",
        "PrimaryEntityName": "salesorder",
        "PrimaryEntityId": order_id,
        "UserId": stack.dataverse.ids["human_user"],
    }
    headers = {"x-webhook-secret": stack.webhook_secret, "Content-Type": "application/json"}
    if trimmed:  # over 256 KB: Dataverse drops InputParameters and the images, and says so
        headers["x-ms-dynamics-msg-size-exceeded"] = "true"
    else:
        body["InputParameters"] = [
            {"key": "Target", "value": {"Attributes": [{"key": "statecode", "value": 1}]}}
        ]
    reply = http("dataverse_webhook", "POST", URL, json.dumps(body).encode(), headers)
    assert reply.status_code == 202, reply.get_body()
    return json.loads(reply.get_body())


@pytest.fixture
def sales(stack: SandboxStack) -> SandboxStack:
    prepare_sales(stack, context())
    return stack


def _order(stack: SandboxStack, **header: Any) -> dict[str, Any]:
    lines = [
        {
            "item": "1896-S",
            "quantity": 2,
            "priceperunit": 1000.0,
            "manualdiscountamount": 10,
            "volumediscountamount": 5,
        },
        {"item": "1960-S", "quantity": 1, "priceperunit": 125.0},  # price includes VAT (DOMESTIC, 25 %)
        {
            "productdescription": "Custom engraving",
            "description": MEMO_150,
            "quantity": 1,
            "priceperunit": 50.0,
        },
    ]
    order = crm_document(stack, context(), lines, **header)
    stack.dataverse.insert(
        "annotations",
        {
            "objectid_salesorder@odata.bind": f"/salesorders({order['salesorderid']})",
            "subject": "Delivery",
            "notetext": "<div>Ring the bell&nbsp;<b>twice</b></div>",
        },
    )
    return order


def test_a_submitted_order_arrives_by_webhook_and_becomes_one_bc_order(sales: SandboxStack) -> None:
    order = _order(sales, freightamount=30.0, requestdeliveryby="2027-03-01", billto_city="Birmingham")
    submit(sales, order["salesorderid"])
    reply = _webhook(sales, order["salesorderid"])
    assert [e["crm_id"] for e in reply["enqueued"]] == [order["salesorderid"]]
    assert len(deliver_documents(sales)) == 1
    [bc] = bc_documents(sales, order["ordernumber"])
    assert bc["yourReference"] == order["ordernumber"] and bc["externalDocumentNo"] == "SPRING ORDER"
    assert bc["sellToCustomerNo"] == "10000" and bc["requestedDeliveryDate"] == "2027-03-01"
    assert bc["billToCity"] == "Birmingham" and bc["currencyCode"] == ""  # USD is the LCY
    keys = ("type", "number", "quantity", "unitPrice", "lineDiscountAmount", "attachedToLineNo")
    lines = [tuple(r.get(k) for k in keys) for r in bc_lines(sales, bc["id"])]
    assert lines == [
        ("Item", "1896-S", 2, 1000.0, 20.0, 0),  # discount = 2 x 5 + 10
        ("Item", "1960-S", 1, 100.0, 0.0, 0),  # 125 / 1.25: the item's price includes VAT
        ("Item", "WRITEIN", 1, 50.0, 0.0, 0),
        (" ", "", 0, 0.0, 0.0, 30000),  # the rest of the write-in's long description
        ("G/L Account", "6810", 1, 30.0, 0.0, 0),  # freight
    ]
    texts = [r["description"] for r in bc_lines(sales, bc["id"])]
    assert texts[2] == MEMO_150[:100] and texts[3] == MEMO_150[100:]
    notes = list(BcDocuments(context()).ctx.bc.list_rows(f"salesDocuments({bc['id']})/notes"))
    assert [(n["description"], n["noteText"]) for n in notes] == [("Delivery", "Ring the bell\xa0twice")]
    coupling = context().stores.couplings.get_by_crm(ORDER_MAPPING, order["salesorderid"])
    assert coupling is not None and (coupling.state, coupling.bc_id) == ("coupled", bc["id"])
    crm = sales.dataverse.get("salesorders", order["salesorderid"])
    assert crm["lastbackofficesubmit"] in today() and (crm["statecode"], crm["statuscode"]) == (1, 3)
    assert crm["_bcbi_companyid_value"] == sales.dataverse.ids["company"]  # BC stamps its company


def test_duplicate_webhooks_make_one_order_and_redelivery_finishes_nothing_twice(sales: SandboxStack) -> None:
    order = _order(sales)
    submit(sales, order["salesorderid"])
    for trimmed in (False, False, True):  # the payload is never trusted: the row is read again
        _webhook(sales, order["salesorderid"], trimmed=trimmed)
    assert queued(sales.azurite.connection_string, DOCUMENT_QUEUE) == 3
    deliver_documents(sales)
    assert len(bc_documents(sales, order["ordernumber"])) == 1
    ctx = context()
    outcomes = [
        process_document(ctx, DocumentMessage("order", order["salesorderid"])).outcome for _ in range(2)
    ]
    assert outcomes == ["unchanged", "unchanged"]
    [bc] = bc_documents(sales, order["ordernumber"])
    assert len(list(ctx.bc.list_rows(f"salesDocuments({bc['id']})/notes"))) == 1


def test_two_workers_at_once_make_one_order(sales: SandboxStack) -> None:
    order = _order(sales)
    submit(sales, order["salesorderid"])
    results: list[str] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        ctx = wiring.services().sync_context()
        barrier.wait()
        try:
            results.append(process_document(ctx, DocumentMessage("order", order["salesorderid"])).outcome)
        except TransientError:
            results.append("retry later")

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(bc_documents(sales, order["ordernumber"])) == 1
    assert sorted(results) in (["inserted", "retry later"], ["inserted", "unchanged"])


def test_a_worker_killed_after_the_bc_insert_leaves_one_order(
    sales: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = _order(sales)
    submit(sales, order["salesorderid"])
    insert = BcDocuments.insert

    def insert_then_die(self: BcDocuments, body: dict[str, Any]) -> dict[str, Any]:
        insert(self, body)
        raise SystemExit("worker killed")

    monkeypatch.setattr(BcDocuments, "insert", insert_then_die)
    with pytest.raises(SystemExit):
        process_document(context(), DocumentMessage("order", order["salesorderid"]))
    monkeypatch.setattr(BcDocuments, "insert", insert)
    with pytest.raises(TransientError, match="being processed by another worker"):
        process_document(context(), DocumentMessage("order", order["salesorderid"]))
    later = context()
    later.clock = lambda: datetime.now(UTC) + timedelta(minutes=3)  # the claim is stale now
    assert process_document(later, DocumentMessage("order", order["salesorderid"])).outcome == "inserted"
    [bc] = bc_documents(sales, order["ordernumber"])
    coupling = later.stores.couplings.get_by_crm(ORDER_MAPPING, order["salesorderid"])
    assert coupling is not None and coupling.bc_id == bc["id"]
    assert sales.dataverse.get("salesorders", order["salesorderid"])["lastbackofficesubmit"] in today()


def test_refusals_write_nothing_in_bc_and_name_the_order(sales: SandboxStack) -> None:
    ctx = context()
    order = crm_document(sales, ctx, [{"item": "1896-S", "quantity": 1, "priceperunit": 5.0}], name="Not yet")
    outcome = process_document(ctx, DocumentMessage("order", order["salesorderid"], reason="command"))
    assert outcome.outcome == "failed" and "Status must be equal to 'Submitted'" in outcome.message
    setup = sales.bc.rows("integrationSetup")[0]
    sales.bc.update("integrationSetup", setup["id"], {"writeInProductNo": ""})
    write_in = crm_document(
        sales, ctx, [{"item": "1896-S", "quantity": 1}, {"productdescription": "Gift", "quantity": 1}]
    )
    submit(sales, write_in["salesorderid"])
    outcome = process_document(ctx, DocumentMessage("order", write_in["salesorderid"], reason="command"))
    assert outcome.message == (
        f"Dataverse Order {write_in['ordernumber']} contains a write-in product. You must choose the default "
        "write-in product in Sales & Receivables Setup window."
    )
    assert bc_documents(sales, write_in["ordernumber"]) == []  # the valid first line made no half order
    [error] = [
        e
        for e in ctx.stores.sync_errors.list(mapping=ORDER_MAPPING)
        if e.source_id == write_in["salesorderid"]
    ]
    assert write_in["ordernumber"] in error.message and error.remedy
    assert ctx.stores.couplings.get_by_crm(ORDER_MAPPING, write_in["salesorderid"]) is None


def test_process_order_command_and_the_auto_create_timer(sales: SandboxStack) -> None:
    first, second = _order(sales), _order(sales, name="Second")
    for order in (first, second):
        submit(sales, order["salesorderid"])
    done = command_json("process-order", "--crm-id", first["salesorderid"])
    assert done["outcome"] == "inserted" and done["bc_number"]
    again = command_json("process-order", "--crm-id", first["salesorderid"])
    assert again["message"] == f"This Dataverse order is already coupled to sales order {done['bc_number']}."
    fire_timer("auto_create_sales_orders")  # selects Submitted orders not yet sent to BC: the second
    assert [json.loads(b)["crm_id"] for b in deliver_documents(sales)] == [second["salesorderid"]]
    assert len(bc_documents(sales, first["ordernumber"], second["ordernumber"])) == 2
    fire_timer("auto_create_sales_orders")
    assert deliver_documents(sales) == []
    refused = run_command("process-order", "--crm-id", "00000000-0000-0000-0000-000000000123", expect=1)
    assert "does not exist" in refused.stderr


def _posts(stack: SandboxStack, regarding: str) -> list[str]:
    return [
        p["text"] for p in stack.dataverse.rows("posts") if p.get("_regardingobjectid_value") == regarding
    ]


def test_what_bc_does_to_the_order_reaches_dynamics_once(sales: SandboxStack) -> None:
    order = _order(sales)
    submit(sales, order["salesorderid"])
    done = command_json("process-order", "--crm-id", order["salesorderid"])
    account = order["_customerid_value"]
    sales.bc.release_sales_document(done["bc_id"])
    sales.bc.post_sales_shipment(done["bc_id"])
    invoice = sales.bc.post_sales_invoice(done["bc_id"])
    for _ in range(2):  # the second run finds no new event and posts nothing twice
        fire_timer("order_status_updates")
    assert _posts(sales, order["salesorderid"]) == [
        "The order status has changed to Released.",
        "A shipment has been created for the order.",
        "An invoice has been created for the order.",
    ]
    reference = order["ordernumber"]
    assert _posts(sales, account) == [
        f"Order '{reference}' has been posted in Business Central.",
        f"Invoice '{invoice['number']}' for order '{reference}' has been posted in Business Central.",
    ]
    crm = sales.dataverse.get("salesorders", order["salesorderid"])
    assert (crm["statecode"], crm["statuscode"]) == (4, 100003)  # Invoiced / Invoiced
    again = command_json("process-order", "--crm-id", order["salesorderid"])
    assert again["message"] == (
        "This Dataverse order is already coupled, posted and turned into posted sales invoice "
        f"{invoice['number']}."
    )


def test_an_order_deleted_in_bc_is_uncoupled_and_can_be_submitted_again(sales: SandboxStack) -> None:
    order = _order(sales)
    submit(sales, order["salesorderid"])
    done = command_json("process-order", "--crm-id", order["salesorderid"])
    sales.bc.delete_sales_document(done["bc_id"])
    fire_timer("order_status_updates")
    crm = sales.dataverse.get("salesorders", order["salesorderid"])
    assert (crm["statecode"], crm["statuscode"], crm["lastbackofficesubmit"]) == (0, 2, None)
    assert context().stores.couplings.get_by_crm(ORDER_MAPPING, order["salesorderid"]) is None
    submit(sales, order["salesorderid"])
    again = command_json("process-order", "--crm-id", order["salesorderid"])
    assert again["outcome"] == "inserted" and again["bc_id"] != done["bc_id"]
    assert sales.dataverse.get("salesorders", order["salesorderid"])["lastbackofficesubmit"] in today()
    assert len(list(context().bc.list_rows(f"salesDocuments({again['bc_id']})/notes"))) == 1
