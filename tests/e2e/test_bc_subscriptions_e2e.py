"""BC webhook subscriptions end to end: ``bc-subscriptions``, the route ``/api/webhooks/bc`` served
by the local runner (as ``func start`` would), the timer ``renew_bc_subscriptions``, and the BC
emulator's own handshakes and notifications (no notification is made by hand, except where a test
plays a forger or BC repeating itself). No mapping timer fires in these tests.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.bc_schema import COMPANION
from sandbox.odata.protocol import Request, Response
from sandbox.runner import LocalRunner
from sandbox.stack import SandboxStack
from sync_core.app import wiring
from sync_core.settings import RECORD_QUEUE
from sync_core.state.queues import AzureMessageQueue
from sync_core.sync.commands.bc_subscriptions import REGISTRY, subscribed_sets
from sync_core.webhooks.bc import client_state
from tests.e2e.host import fire_timer, http, queued
from tests.e2e.operator_support import command_json
from tests.e2e.world import bc_row, context, crm_id, prepare


@pytest.fixture(autouse=True)
def no_coalescing(stack: SandboxStack) -> None:
    stack.bc.set_subscription_knobs(delay_s=0)  # BC waits 30 s to coalesce; the tests do not


def _until(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _url(runner: LocalRunner) -> str:
    return f"{runner.http_url}/api/webhooks/bc"


def _post(url: str, body: Any) -> tuple[int, str]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _account_name(stack: SandboxStack, account: str) -> str:
    return str((stack.dataverse.get("accounts", account) or {}).get("name"))


def _state(stack: SandboxStack) -> str:
    return client_state(stack.webhook_secret, stack.bc.company_id)


def _entry(
    stack: SandboxStack, entity: str, record_id: str, change: str = "updated", state: str = ""
) -> dict:
    return {
        "subscriptionId": "sub",
        "clientState": state or _state(stack),
        "expirationDateTime": "2099-01-01T00:00:00Z",
        "resource": f"api/{COMPANION}/companies({stack.bc.company_id})/{entity}({record_id})",
        "changeType": change,
        "lastModifiedDateTime": "2026-12-05T10:00:00Z",
    }


def test_create_subscribes_each_set_once_and_answers_the_handshake_only_then(
    stack: SandboxStack, runner: LocalRunner
) -> None:
    sets = subscribed_sets(wiring.services().catalog)
    assert {"integrationCustomers", "integrationItems", "currencies", "postedSalesInvoices"} <= set(sets)
    assert "salespeoplePurchasers" not in sets and "postedSalesInvoiceLines" not in sets  # BC can't notify
    first = command_json("bc-subscriptions", "create", "--url", _url(runner))["subscriptions"]
    assert sorted(s["set"] for s in first) == sets and {s["action"] for s in first} == {"created"}
    assert len(stack.bc.subscription_rows()) == len(sets)
    again = command_json("bc-subscriptions", "create", "--url", _url(runner))["subscriptions"]
    assert {s["action"] for s in again} == {"exists"} and len(stack.bc.subscription_rows()) == len(sets)
    listed = command_json("bc-subscriptions", "list")["subscriptions"]
    assert all(row["in_bc"] and row["expires"] for row in listed)
    assert _state(stack) not in json.dumps([first, again, listed])  # the secret is never shown
    with pytest.raises(urllib.error.HTTPError) as refused:  # nobody is creating one now
        urllib.request.urlopen(f"{_url(runner)}?validationToken=abc", timeout=30)
    assert refused.value.code == 404
    url = "http://localhost/api/webhooks/bc?validationToken=abc"
    assert http("bc_webhook", "GET", url, params={"validationToken": "abc"}).status_code == 404


def test_a_bc_customer_change_reaches_dataverse_without_a_timer(
    stack: SandboxStack, runner: LocalRunner
) -> None:
    ctx = context()
    prepare(stack, ctx, ("10000",), ())
    customer = bc_row(stack, "integrationCustomers", "10000")
    account = crm_id(ctx, "CUSTOMER", customer["id"])
    command_json("bc-subscriptions", "create", "--url", _url(runner))
    stack.bc.update("integrationCustomers", customer["id"], {"name": "Cannon Group (renamed)"})
    _until(lambda: _account_name(stack, account) == "Cannon Group (renamed)")
    run = next(r for r in ctx.stores.job_log.list_runs("CUSTOMER") if r.kind == "webhook")
    assert run.message == "BC webhook integrationCustomers"
    stack.bc.delete("integrationCustomers", customer["id"])  # BC's deletion: nothing deleted in Sales
    _until(lambda: any(d["status"] == 202 for d in stack.bc.notification_deliveries()[-1:]))
    runner.drain(timeout_s=30)
    assert stack.dataverse.get("accounts", account) is not None


def test_a_collection_runs_the_mappings_job(stack: SandboxStack, runner: LocalRunner) -> None:
    ctx = context()
    prepare(stack, ctx, ("10000", "20000", "30000"), ())
    command_json("bc-subscriptions", "create", "--url", _url(runner))
    stack.bc.set_subscription_knobs(delay_s=0.5, collection_threshold=2)
    for number in ("10000", "20000", "30000"):
        stack.bc.update(
            "integrationCustomers", bc_row(stack, "integrationCustomers", number)["id"], {"city": "Leeds"}
        )
    accounts = [
        crm_id(ctx, "CUSTOMER", bc_row(stack, "integrationCustomers", n)["id"])
        for n in ("10000", "20000", "30000")
    ]
    _until(
        lambda: all(
            (stack.dataverse.get("accounts", a) or {}).get("address1_city") == "Leeds" for a in accounts
        )
    )
    entries = [e for d in stack.bc.notification_deliveries() for e in d["entries"]]
    assert any(e["changeType"] == "collection" for e in entries)


def _account_writes(stack: SandboxStack) -> list[int]:
    """The status of every PATCH of an account the Dataverse emulator answers from now on."""
    statuses: list[int] = []
    route = stack.dataverse.route

    def watched(req: Request) -> Response:
        answer = route(req)
        if req.method == "PATCH" and stack.dataverse.entity_of(req) == "accounts":
            statuses.append(answer.status)
        return answer

    stack.dataverse.route = watched  # type: ignore[method-assign]
    return statuses


def test_duplicates_write_once_and_forgers_get_401(stack: SandboxStack, runner: LocalRunner) -> None:
    ctx = context()
    prepare(stack, ctx, ("10000",), ())
    customer = bc_row(stack, "integrationCustomers", "10000")
    stack.bc.update("integrationCustomers", customer["id"], {"phoneNo": "0121 555 0100"})
    writes = _account_writes(stack)
    body = {"value": [_entry(stack, "integrationCustomers", customer["id"])]}
    for _ in range(3):  # BC repeats itself (its retries, or three coalescing windows)
        assert _post(_url(runner), body)[0] == 202
    runner.drain(timeout_s=30)
    # concurrent workers may all try; the ETag lets one through, the others re-read: unchanged
    assert [s for s in writes if s < 300] == [200] and set(writes) <= {200, 412}
    forged = {
        "value": [
            _entry(stack, "integrationCustomers", customer["id"]),
            _entry(stack, "integrationCustomers", customer["id"], state="guess"),
        ]
    }
    status, text = _post(_url(runner), forged)
    assert status == 401 and "clientState" in text
    assert queued(stack.azurite.connection_string, RECORD_QUEUE) == 0
    assert _post(_url(runner), {"value": "nope"})[0] == 400


def test_storage_down_answers_503_so_that_bc_retries(stack: SandboxStack) -> None:
    svc = wiring.services()
    down = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=ZG93bg==;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1"
    svc.record_queue = AzureMessageQueue(down, RECORD_QUEUE)
    body = json.dumps(
        {
            "value": [
                _entry(stack, "integrationCustomers", bc_row(stack, "integrationCustomers", "10000")["id"])
            ]
        }
    )
    reply = http("bc_webhook", "POST", "http://localhost/api/webhooks/bc", body=body.encode())
    assert reply.status_code == 503


def test_the_timer_renews_before_expiry_and_re_creates_what_bc_dropped(
    stack: SandboxStack, runner: LocalRunner
) -> None:
    created = command_json("bc-subscriptions", "create", "--url", _url(runner))["subscriptions"]
    by_set = {s["set"]: s for s in created}
    fire_timer("renew_bc_subscriptions")  # nothing expires within a day: nothing to do
    steps = wiring.services().stores.document_steps.steps(REGISTRY)
    assert (
        json.loads(steps["integrationCustomers"])["expiration"] == by_set["integrationCustomers"]["expires"]
    )
    soon = by_set["integrationCustomers"]["subscription_id"]
    stack.bc.expire_subscription(soon, in_seconds=3600)  # expires within the day
    gone = by_set["integrationItems"]["subscription_id"]
    stack.bc.drop_subscription(gone)  # BC deleted it (e.g. after a 4xx answer)
    fire_timer("renew_bc_subscriptions")
    rows = {r["subscriptionId"]: r for r in stack.bc.subscription_rows()}
    assert soon in rows
    renewed = rows[soon]["expirationDateTime"]  # BC's whole 3 days again (the same second as the
    assert renewed >= by_set["integrationCustomers"]["expires"]  # creation, when both run at once)
    assert renewed > (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")  # not 1 h
    assert gone not in rows
    now = {s["set"]: s for s in command_json("bc-subscriptions", "list")["subscriptions"]}
    assert now["integrationItems"]["in_bc"] and now["integrationItems"]["subscription_id"] != gone
    assert len(rows) == len(created)
