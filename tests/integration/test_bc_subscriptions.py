"""BC webhook subscriptions in the BC emulator (api-facts §E.7) over real HTTP: create with the
handshake, unsupported resources, list and get per root, renew with If-Match, expiry, delete.
Notifications are in ``test_bc_subscriptions_notifications.py``."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import pytest
import requests

from sandbox.bc_emulator import BcEmulator
from tests.integration.bc_subscription_support import Hook, Root, closed_port_url, hook_fixture
from tests.integration.emulator_clients import error

pytestmark = pytest.mark.usefixtures("fresh_bc")
__all__ = ["hook_fixture"]
FIELDS = {"@odata.context", "@odata.etag", "subscriptionId", "notificationUrl", "resource", "timestamp",
          "userId", "lastModifiedDateTime", "clientState", "expirationDateTime", "systemCreatedAt",
          "systemCreatedBy", "systemModifiedAt", "systemModifiedBy"}  # fmt: skip


@pytest.fixture
def v2(bc: BcEmulator) -> Root:
    return Root(bc)


@pytest.fixture
def companion(bc: BcEmulator) -> Root:
    return Root(bc, companion=True)


def seconds_until(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() - time.time()


# -- create ---------------------------------------------------------------------------------------------


def test_create_validates_the_url_then_answers_201(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    response = v2.subscribe(hook.url, "customers", "my-state")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == FIELDS and re.fullmatch(r"[0-9a-f]{32}", body["subscriptionId"])
    assert (body["notificationUrl"], body["resource"], body["clientState"]) == (
        hook.url, v2.resource("customers"), "my-state"
    )  # fmt: skip
    assert abs(seconds_until(body["expirationDateTime"]) - 3 * 86400) < 10  # 3 days
    assert response.headers["ETag"] == body["@odata.etag"]
    assert response.headers["Location"].endswith(f"/api/v2.0/subscriptions('{body['subscriptionId']}')")
    [handshake] = bc.subscription_handshakes()
    assert hook.tokens == [handshake["token"]] and handshake["passed"]
    assert bc.counters()["total"] == 1  # the handshake is a call BC makes, not a request it serves


@pytest.mark.parametrize("answer", ["wrong", 500, 404, "unreachable"])
def test_a_failed_handshake_creates_nothing(v2: Root, bc: BcEmulator, hook: Hook, answer: str | int) -> None:
    hook.handshake = answer
    url = closed_port_url() if answer == "unreachable" else hook.url
    response = v2.subscribe(url, "customers")
    assert error(response) == (400, "BadRequest")
    assert response.json()["error"]["message"].startswith("The subscription could not be validated")
    assert v2.value("subscriptions") == [] and bc.subscription_rows() == []


@pytest.mark.parametrize(
    "resource",
    [
        "/api/v2.0/companies({company})/contacts",
        "/api/v2.0/companies({company})/salespeoplePurchasers",
        "/api/v2.0/companies({company})/salesOrderLines",
        "/api/v2.0/companies({company})/customerFinancialDetails",
        "/api/v2.0/companies({company})/integrationCustomers",  # a companion set at the v2.0 root
        "/api/bcsync/integration/v1.0/companies({company})/integrationCustomers",
        "/api/v2.0/companies({company})/customers({company})",  # one record
        "/api/v2.0/companies({company})/customers?$filter=number eq '10000'",
        "/api/v2.0/companies(11111111-2222-3333-4444-555555555555)/customers",
        "/api/v2.0/customers",
        "/v2.0/other-tenant/production/api/v2.0/companies({company})/customers",
        "",
    ],
)
def test_unsupported_resources_are_refused(v2: Root, bc: BcEmulator, hook: Hook, resource: str) -> None:
    response = v2.subscribe(hook.url, "customers", resource=resource.format(company=bc.company_id))
    assert error(response) == (400, "BadRequest"), response.text
    assert hook.tokens == [] and bc.subscription_rows() == []


def test_resources_relative_or_absolute(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    company = bc.company_id
    for resource in (
        f"companies({company})/items",
        f"api/v2.0/companies({{{company.upper()}}})/vendors",
        f"{bc.api_url}/companies({company})/salesOrders",
    ):
        response = v2.subscribe(hook.url, "x", resource=resource)
        assert response.status_code == 201, response.text
        assert response.json()["resource"] == resource


def test_bad_bodies(v2: Root, hook: Hook) -> None:
    assert error(v2.subscribe(hook.url, "customers", colour="red")) == (400, "BadRequest")
    assert error(v2.subscribe("ftp://example.com/x", "customers")) == (400, "BadRequest")
    assert error(v2.subscribe(hook.url, "customers", clientState="x" * 2049)) == (
        400, "Application_StringExceededLength"
    )  # fmt: skip
    assert error(v2.post("subscriptions", json={"resource": v2.resource("customers")})) == (400, "BadRequest")
    ignored = v2.subscribe(
        hook.url, "customers", subscriptionId="mine", expirationDateTime="2099-01-01T00:00:00Z"
    )
    assert ignored.status_code == 201 and ignored.json()["subscriptionId"] != "mine"  # read-only: ignored
    assert hook.tokens and len(hook.tokens) == 1


def test_the_environment_limit(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    bc.set_subscription_knobs(max_subscriptions=1)
    v2.created(hook.url, "customers")
    assert error(v2.subscribe(hook.url, "items")) == (400, "BadRequest")


def test_not_inside_batch(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    body = {"notificationUrl": hook.url, "resource": v2.resource("customers")}
    ops: list[dict[str, Any]] = [{"id": "1", "method": "POST", "url": "subscriptions", "body": body}]
    response = v2.session.post(f"{bc.api_url}/$batch", json={"requests": ops})
    assert response.json()["responses"][0]["status"] == 400 and hook.tokens == []


# -- list and get ---------------------------------------------------------------------------------------


def test_each_root_lists_and_gets_its_own(v2: Root, companion: Root, hook: Hook) -> None:
    mine = v2.created(hook.url, "customers")
    theirs = companion.created(hook.url, "integrationCustomers")
    assert [s["subscriptionId"] for s in v2.value("subscriptions")] == [mine["subscriptionId"]]
    assert [s["subscriptionId"] for s in companion.value("subscriptions")] == [theirs["subscriptionId"]]
    got = v2.get(f"subscriptions('{mine['subscriptionId']}')")
    assert got.status_code == 200 and got.headers["ETag"] == mine["@odata.etag"]
    assert {k: v for k, v in got.json().items() if k != "@odata.context"} == {
        k: v for k, v in mine.items() if k != "@odata.context"
    }
    assert error(companion.get(f"subscriptions('{mine['subscriptionId']}')")) == (
        404,
        "Internal_RecordNotFound",
    )
    selected = v2.value("subscriptions?$filter=clientState eq 's3cret'&$select=subscriptionId,resource")
    assert selected == [
        {
            "@odata.etag": mine["@odata.etag"],
            "subscriptionId": mine["subscriptionId"],
            "resource": mine["resource"],
        }
    ]


# -- renew ----------------------------------------------------------------------------------------------


def test_renew_needs_if_match_and_a_new_handshake(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    bc.set_subscription_knobs(expiry_s=60)
    sub = v2.created(hook.url, "customers")
    path = f"subscriptions('{sub['subscriptionId']}')"
    body = {"notificationUrl": hook.url, "resource": sub["resource"], "clientState": "renewed"}
    assert error(v2.patch(path, json=body)) == (412, "BadRequest_InvalidToken")
    stale = 'W/"JzMyOzk5OTk5OTk5OTk5OTswMDsn"'
    assert error(v2.patch(path, json=body, headers={"If-Match": stale})) == (412, "Request_EntityChanged")
    bc.set_subscription_knobs(expiry_s=3 * 86400)
    renewed = v2.patch(path, json=body, headers={"If-Match": sub["@odata.etag"]})
    assert renewed.status_code == 200, renewed.text
    new = renewed.json()
    assert (
        seconds_until(new["expirationDateTime"]) > 3 * 86400 - 10 > seconds_until(sub["expirationDateTime"])
    )
    assert new["clientState"] == "renewed" and new["@odata.etag"] != sub["@odata.etag"]
    assert renewed.headers["ETag"] == new["@odata.etag"] and len(hook.tokens) == 2
    assert error(v2.patch(path, json=body, headers={"If-Match": sub["@odata.etag"]}))[0] == 412


def test_renew_fails_with_the_handshake(v2: Root, hook: Hook) -> None:
    sub = v2.created(hook.url, "customers")
    path = f"subscriptions('{sub['subscriptionId']}')"
    hook.handshake = "wrong"
    answer = v2.patch(path, json={"clientState": "x"}, headers={"If-Match": sub["@odata.etag"]})
    assert error(answer) == (400, "BadRequest")
    after = v2.get(path).json()
    assert (after["@odata.etag"], after["clientState"]) == (sub["@odata.etag"], sub["clientState"])


def test_an_expired_subscription_is_gone(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    sub = v2.created(hook.url, "customers")
    path = f"subscriptions('{sub['subscriptionId']}')"
    expired = bc.expire_subscription(sub["subscriptionId"])
    assert seconds_until(expired["expirationDateTime"]) < 0
    assert v2.value("subscriptions") == [] and error(v2.get(path))[0] == 404
    renew = v2.patch(path, json={}, headers={"If-Match": expired["@odata.etag"]})
    assert error(renew) == (404, "Internal_RecordNotFound") and bc.subscription_rows() == []
    again = v2.created(hook.url, "customers")  # subscribe again
    soon = bc.expire_subscription(again["subscriptionId"], in_seconds=3600)
    assert 3590 < seconds_until(soon["expirationDateTime"]) <= 3600 and len(v2.value("subscriptions")) == 1


# -- delete ---------------------------------------------------------------------------------------------


def test_delete(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    sub = v2.created(hook.url, "customers")
    path = f"subscriptions('{sub['subscriptionId']}')"
    stale = 'W/"JzMyOzk5OTk5OTk5OTk5OTswMDsn"'
    assert error(v2.delete(path, headers={"If-Match": stale}))[0] == 412
    assert v2.delete(path).status_code == 204
    assert error(v2.get(path))[0] == 404 and error(v2.delete(path))[0] == 404
    assert bc.counters()["by_entity"]["subscriptions"] == {"POST": 1, "DELETE": 3, "GET": 1}


def test_admin_routes(v2: Root, bc: BcEmulator, hook: Hook) -> None:
    knobs = requests.post(f"{bc.url}/_admin/subscriptions/knobs", json={"delay_s": 0, "retry_delays_s": [1]})
    assert knobs.status_code == 200 and knobs.json()["delay_s"] == 0 and knobs.json()["retry_delays_s"] == [1]
    assert requests.post(f"{bc.url}/_admin/subscriptions/knobs", json={"nope": 1}).status_code == 400
    sub = v2.created(hook.url, "customers")
    listed = requests.get(f"{bc.url}/_admin/subscriptions").json()["value"]
    assert [s["subscriptionId"] for s in listed] == [sub["subscriptionId"]]
    expired = requests.post(f"{bc.url}/_admin/subscriptions/{sub['subscriptionId']}/expire")
    assert expired.status_code == 200 and v2.value("subscriptions") == []
    other = v2.created(hook.url, "items")
    assert requests.delete(f"{bc.url}/_admin/subscriptions/{other['subscriptionId']}").status_code == 204
    assert v2.value("subscriptions") == []
    idle = requests.post(f"{bc.url}/_admin/subscriptions/wait-idle?timeout=2").json()
    assert idle == {"idle": True}
    assert requests.get(f"{bc.url}/_admin/notification-deliveries").json() == {"value": []}
