"""Notifications of BC webhook subscriptions (api-facts §E.7) from the BC emulator to a local
endpoint: the entry shape, the delay window and coalescing, one POST per URL, ``collection``,
retries and deletion on refusal, expiry, the companion root, lines, rollbacks, back office."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest

from sandbox.bc_emulator import BcEmulator
from tests.integration.bc_subscription_support import Hook, Root, hook_fixture, record_path

pytestmark = pytest.mark.usefixtures("fresh_bc")
__all__ = ["hook_fixture"]


@pytest.fixture
def v2(bc: BcEmulator) -> Root:
    bc.set_subscription_knobs(delay_s=0)
    return Root(bc)


@pytest.fixture
def companion(bc: BcEmulator) -> Root:
    return Root(bc, companion=True)


def settle(bc: BcEmulator) -> None:
    assert bc.wait_notifications_idle(10)


def customer_ids(bc: BcEmulator, n: int) -> list[str]:
    return [row["id"] for row in bc.rows("customers")[:n]]


def rename(root: Root, entity: str, id: str, name: str) -> dict[str, Any]:
    response = root.patch(f"companies({root.bc.company_id})/{entity}({id})", json={"displayName": name},
                          headers={"If-Match": "*"})  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_change_is_notified_with_bcs_entry(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    sub = v2.created(hook.url, "customers")
    [customer] = customer_ids(bc, 1)
    changed = rename(v2, "customers", customer, "Renamed")
    settle(bc)
    assert hook.bodies == [{"value": [{
        "subscriptionId": sub["subscriptionId"], "clientState": "s3cret",
        "expirationDateTime": sub["expirationDateTime"], "resource": record_path(v2, "customers", customer),
        "changeType": "updated", "lastModifiedDateTime": changed["lastModifiedDateTime"],
    }]}]  # fmt: skip
    assert list(hook.bodies[0]["value"][0]) == ["subscriptionId", "clientState", "expirationDateTime",
                                                "resource", "changeType", "lastModifiedDateTime"]  # fmt: skip
    [delivery] = bc.notification_deliveries()
    assert (delivery["url"], delivery["status"], delivery["attempt"], delivery["outcome"]) == (
        hook.url, 200, 1, "succeeded"
    )  # fmt: skip
    assert bc.counters()["total"] == 2  # the subscription and the PATCH; BC's own calls are not counted


def test_created_and_deleted(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    v2.created(hook.url, "items")
    item = bc.insert("items", {"number": "NEW-1", "displayName": "New"})
    settle(bc)
    bc.delete("items", item["id"])
    settle(bc)
    assert [(e["changeType"], e["resource"]) for e in hook.entries()] == [
        ("created", record_path(v2, "items", item["id"])),
        ("deleted", record_path(v2, "items", item["id"])),
    ]


def test_nothing_is_sent_before_the_delay(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    bc.set_subscription_knobs(delay_s=30)  # BC's default
    v2.created(hook.url, "customers")
    rename(v2, "customers", customer_ids(bc, 1)[0], "Later")
    assert not bc.wait_notifications_idle(0.5) and hook.bodies == []
    bc.set_subscription_knobs(delay_s=0)
    settle(bc)
    assert len(hook.entries()) == 1


def test_changes_in_one_window_coalesce(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    v2.created(hook.url, "customers")
    bc.set_subscription_knobs(paused=True)
    first = bc.insert("customers", {"displayName": "One"})
    last = bc.update("customers", first["id"], {"displayName": "One, renamed"})  # created + updated
    second, third = customer_ids(bc, 2)
    rename(v2, "customers", second, "Two")
    rename(v2, "customers", second, "Two again")  # updated + updated
    gone = bc.insert("customers", {"displayName": "Gone"})
    bc.delete("customers", gone["id"])  # created + deleted: never seen, dropped
    rename(v2, "customers", third, "Three")
    bc.delete("customers", third)  # updated + deleted
    bc.set_subscription_knobs(paused=False)
    settle(bc)
    [body] = hook.bodies
    assert [(e["resource"].rsplit("(", 1)[1][:-1], e["changeType"]) for e in body["value"]] == [
        (first["id"], "created"), (second, "updated"), (third, "deleted"),
    ]  # fmt: skip
    assert body["value"][0]["lastModifiedDateTime"] == last["lastModifiedDateTime"]


def test_one_post_per_notification_url(v2: Root, companion: Root, bc: BcEmulator, hook: Hook) -> None:
    other = Hook()
    try:
        subs = [v2.created(hook.url, "customers"), companion.created(hook.url, "integrationCustomers"),
                v2.created(hook.url, "items"), v2.created(other.url, "items")]  # fmt: skip
        bc.set_subscription_knobs(paused=True)
        customer = customer_ids(bc, 1)[0]
        item = bc.rows("items")[0]["id"]
        rename(v2, "customers", customer, "Both roots")
        bc.update("items", item, {"displayName": "Item"})
        bc.set_subscription_knobs(paused=False)
        settle(bc)
        [body] = hook.bodies
        assert {(e["subscriptionId"], e["resource"]) for e in body["value"]} == {
            (subs[0]["subscriptionId"], record_path(v2, "customers", customer)),
            (subs[1]["subscriptionId"], record_path(companion, "integrationCustomers", customer)),
            (subs[2]["subscriptionId"], record_path(v2, "items", item)),
        }
        assert [[e["subscriptionId"] for e in b["value"]] for b in other.bodies] == [
            [subs[3]["subscriptionId"]]
        ]
    finally:
        other.close()


def test_posts_carry_at_most_the_threshold(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    subs = [v2.created(hook.url, "customers"), v2.created(hook.url, "items")]
    bc.set_subscription_knobs(collection_threshold=2, paused=True)
    for id in customer_ids(bc, 2):
        rename(v2, "customers", id, "Chunk")
    for row in bc.rows("items")[:2]:
        bc.update("items", row["id"], {"displayName": "Chunk"})
    bc.set_subscription_knobs(paused=False)
    settle(bc)
    assert sorted([e["subscriptionId"] for e in b["value"]] for b in hook.bodies) == sorted(
        [[s["subscriptionId"]] * 2 for s in subs]
    )


def test_a_collection_above_the_threshold(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    sub = v2.created(hook.url, "customers")
    bc.set_subscription_knobs(collection_threshold=3, paused=True)
    ids = customer_ids(bc, 4)
    for i, id in enumerate(ids):
        rename(v2, "customers", id, f"Bulk {i}")
    bc.set_subscription_knobs(paused=False)
    settle(bc)
    [entry] = hook.entries()
    assert (entry["subscriptionId"], entry["changeType"]) == (sub["subscriptionId"], "collection")
    base = f"api/v2.0/companies({bc.company_id})/customers"
    found = re.fullmatch(
        re.escape(base) + r"\?\$filter=lastModifiedDateTime%20gt%20(\S+Z)", entry["resource"]
    )
    assert found and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", found.group(1))
    rows = v2.value(f"{bc.url}/v2.0/sandbox-tenant/production/{entry['resource']}")
    assert set(ids) <= {r["id"] for r in rows}  # re-querying the filter catches up
    hook.bodies.clear()
    for id in ids[:3]:  # at the threshold: one entry per record
        rename(v2, "customers", id, "Again")
    settle(bc)
    assert [e["changeType"] for e in hook.entries()] == ["updated"] * 3


@pytest.mark.parametrize("statuses", [[503, 429], [408, 500]])
def test_retried_on_408_429_5xx(v2: Root, bc: BcEmulator, hook: Hook, statuses: list[int]) -> None:
    bc.set_subscription_knobs(retry_delays_s=[0.05])
    v2.created(hook.url, "customers")
    hook.statuses.extend(statuses)
    rename(v2, "customers", customer_ids(bc, 1)[0], "Retry")
    settle(bc)
    log = bc.notification_deliveries()
    assert [(d["attempt"], d["status"], d["outcome"]) for d in log] == [
        (1, statuses[0], "retrying"), (2, statuses[1], "retrying"), (3, 200, "succeeded"),
    ]  # fmt: skip
    assert len(hook.bodies) == 3 and hook.bodies[0] == hook.bodies[2] and len(bc.subscription_rows()) == 1


def test_retries_stop_after_max_attempts(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    bc.set_subscription_knobs(retry_delays_s=[0.01, 0.02], max_attempts=3)
    v2.created(hook.url, "customers")
    hook.statuses.extend([500] * 5)
    rename(v2, "customers", customer_ids(bc, 1)[0], "Never")
    settle(bc)
    assert [d["outcome"] for d in bc.notification_deliveries()] == ["retrying", "retrying", "failed"]
    assert len(bc.subscription_rows()) == 1  # still subscribed


@pytest.mark.parametrize("status", [400, 401, 404])
def test_a_refused_notification_deletes_the_subscription(
    v2: Root, bc: BcEmulator, hook: Hook, status: int
) -> None:
    v2.created(hook.url, "customers")
    hook.statuses.append(status)
    customer = customer_ids(bc, 1)[0]
    rename(v2, "customers", customer, "Refused")
    settle(bc)
    assert [(d["status"], d["outcome"]) for d in bc.notification_deliveries()] == [(status, "rejected")]
    assert v2.value("subscriptions") == [] and bc.subscription_rows() == []
    rename(v2, "customers", customer, "Nobody listens")
    settle(bc)
    assert len(hook.bodies) == 1


def test_a_connection_error_is_retried(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    bc.set_subscription_knobs(retry_delays_s=[0.05], max_attempts=2)
    sub = v2.created(hook.url, "customers")
    hook.close()  # BC can't reach it any more
    rename(v2, "customers", customer_ids(bc, 1)[0], "Unreachable")
    settle(bc)
    log = bc.notification_deliveries()
    assert [(d["status"], d["outcome"]) for d in log] == [(None, "retrying"), (None, "failed")]
    assert log[0]["error"] and bc.subscription_rows()[0]["subscriptionId"] == sub["subscriptionId"]


def test_expired_subscriptions_get_nothing(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    sub = v2.created(hook.url, "customers")
    first, second = customer_ids(bc, 2)
    bc.set_subscription_knobs(paused=True)
    rename(v2, "customers", first, "Pending while it expires")
    bc.expire_subscription(sub["subscriptionId"])
    bc.set_subscription_knobs(paused=False)
    rename(v2, "customers", second, "After expiry")
    settle(bc)
    assert hook.bodies == [] and bc.notification_deliveries() == []


def test_companion_subscription_sees_v2_writes(companion: Root, bc: BcEmulator, hook: Hook) -> None:
    bc.set_subscription_knobs(delay_s=0)
    sub = companion.created(hook.url, "integrationCustomers")
    customer = customer_ids(bc, 1)[0]
    bc.update("customers", customer, {"displayName": "Seen by the companion page"})
    settle(bc)
    [entry] = hook.entries()
    assert entry["resource"] == record_path(companion, "integrationCustomers", customer)
    assert entry["resource"].startswith("api/bcsync/integration/v1.0/companies(")
    assert entry["subscriptionId"] == sub["subscriptionId"] and entry["changeType"] == "updated"


def test_a_line_change_notifies_its_document(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    v2.created(hook.url, "salesOrders")
    order = bc.rows("salesOrders")[0]
    line = next(r for r in bc.rows("salesOrderLines") if r["documentId"] == order["id"])
    path = f"companies({bc.company_id})/salesOrders({order['id']})/salesOrderLines({line['id']})"
    assert v2.patch(path, json={"quantity": 7}, headers={"If-Match": "*"}).status_code == 200
    settle(bc)
    assert [(e["resource"], e["changeType"]) for e in hook.entries()] == [
        (record_path(v2, "salesOrders", order["id"]), "updated")
    ]


def test_a_rolled_back_batch_notifies_nothing(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    v2.created(hook.url, "customers")
    base = f"companies({bc.company_id})/customers"
    ops: list[dict[str, Any]] = [
        {"id": "1", "method": "POST", "url": base, "body": {"displayName": "Rolled back"}},
        {"id": "2", "method": "POST", "url": base, "body": {"colour": "red"}},
    ]
    answer = v2.session.post(
        f"{bc.api_url}/$batch", json={"requests": ops}, headers={"Isolation": "snapshot"}
    )
    assert answer.json()["responses"][0]["status"] == 400
    settle(bc)
    assert hook.bodies == []


def test_posting_notifies_companion_subscribers(companion: Root, bc: BcEmulator, hook: Hook) -> None:
    bc.set_subscription_knobs(delay_s=0)
    companion.created(hook.url, "postedSalesInvoices")
    companion.created(hook.url, "salesDocuments")
    lines = [{"type": "Item", "number": "1896-S", "quantity": 2}]
    body = {"documentType": "Order", "sellToCustomerNo": "10000", "lines": lines}
    order = companion.companion.post("salesDocuments", json=body).json()
    bc.release_sales_document(order["id"])
    settle(bc)
    assert [(e["resource"], e["changeType"]) for e in hook.entries()] in (
        [(record_path(companion, "salesDocuments", order["id"]), "created")],
        [(record_path(companion, "salesDocuments", order["id"]), c) for c in ("created", "updated")],
    )
    hook.bodies.clear()
    invoice = bc.post_sales_invoice(order["id"], ship=True)  # fully invoiced: the order is deleted
    settle(bc)
    assert sorted((e["resource"], e["changeType"]) for e in hook.entries()) == sorted([
        (record_path(companion, "postedSalesInvoices", invoice["id"]), "created"),
        (record_path(companion, "salesDocuments", order["id"]), "deleted"),
    ])  # fmt: skip


def test_stop_ends_the_notification_thread(hook: Hook) -> None:
    emulator = BcEmulator()
    emulator.start()
    emulator.set_subscription_knobs(delay_s=0, retry_delays_s=[3600])
    Root(emulator).created(hook.url, "customers")
    hook.statuses.append(503)
    emulator.update("customers", customer_ids(emulator, 1)[0], {"displayName": "Stop"})
    deadline = time.monotonic() + 10
    while not emulator.notification_deliveries() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert emulator.notifications.running
    before = {t for t in threading.enumerate() if t.name == "bc-notifications"}
    started = time.monotonic()
    emulator.stop()  # while a retry waits an hour
    assert time.monotonic() - started < 3 and not emulator.notifications.running
    assert len(before - set(threading.enumerate())) == 1  # its thread ended, the module's runs on
