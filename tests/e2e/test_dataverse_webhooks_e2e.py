"""``dataverse-webhooks register`` against the Dataverse emulator, and the whole path with no
hand-made webhook: a salesperson submits an order, Dataverse calls the app's webhook route (served
by the local runner), the document queue function makes the BC order."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from sandbox.runner import LocalRunner
from sandbox.stack import SandboxStack
from tests.e2e.operator_support import command_json
from tests.e2e.sales_world import bc_documents, crm_document, prepare_sales, submit
from tests.e2e.world import context


def _steps(stack: SandboxStack) -> dict[str, dict]:
    return {s["name"]: s for s in stack.dataverse.rows("sdkmessageprocessingsteps")}


def _until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_register_creates_the_endpoint_and_steps_once(stack: SandboxStack) -> None:
    url = "http://127.0.0.1:9/api/webhooks/dataverse"  # the emulator calls loopback addresses only
    first = command_json("dataverse-webhooks", "register", "--url", url)
    assert first["endpoint_created"] and first["created"] == first["steps"]
    [endpoint] = [e for e in stack.dataverse.rows("serviceendpoints") if e["name"] == "bcsync"]
    assert (endpoint["url"], endpoint["contract"], endpoint["authtype"]) == (url, 8, 5)
    assert stack.webhook_secret not in json.dumps(endpoint) and stack.webhook_secret not in json.dumps(first)
    steps = _steps(stack)
    order = steps["bcsync: Update of salesorder"]
    assert (order["filteringattributes"], order["stage"], order["mode"]) == ("statecode,statuscode", 40, 1)
    account = steps["bcsync: Update of account"]["filteringattributes"].split(",")
    assert {"name", "address1_city", "statecode"} <= set(account)  # what CUSTOMER reads, and the state
    assert {"bcsync: Create of contact", "bcsync: Delete of product"} <= set(steps)
    second = command_json("dataverse-webhooks", "register", "--url", url)
    assert (second["endpoint_created"], second["created"], second["updated"], second["unchanged"]) == (
        False,
        0,
        0,
        first["steps"],
    )
    assert len(_steps(stack)) == first["steps"]
    moved = command_json("dataverse-webhooks", "register", "--url", "http://127.0.0.1:10/hook")
    assert (moved["created"], moved["updated"]) == (0, 0)
    assert [e["url"] for e in stack.dataverse.rows("serviceendpoints")] == ["http://127.0.0.1:10/hook"]


def test_a_submitted_order_reaches_bc_through_dataverses_own_webhook(
    stack: SandboxStack, runner: LocalRunner
) -> None:
    ctx = context()
    prepare_sales(stack, ctx)
    command_json("dataverse-webhooks", "register", "--url", f"{runner.http_url}/api/webhooks/dataverse")
    order = crm_document(stack, ctx, [{"item": "1896-S", "quantity": 3, "priceperunit": 900.0}])
    submit(stack, order["salesorderid"])  # the salesperson's Submit: an Update of statecode
    _until(lambda: bc_documents(stack, order["ordernumber"]))
    _until(lambda: stack.dataverse.get("salesorders", order["salesorderid"])["lastbackofficesubmit"])
    assert stack.dataverse.wait_webhooks_idle(10)
    runner.drain(timeout_s=30)
    assert len(bc_documents(stack, order["ordernumber"])) == 1
    delivered = [d for d in stack.dataverse.webhook_deliveries() if d.get("entity") == "salesorder"]
    assert delivered and all(d["status"] == 202 for d in delivered)
