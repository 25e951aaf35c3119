"""The BC emulator's JSON ``$batch``, knobs (rate limit, faults, latency), counters and admin routes."""

from __future__ import annotations

import time

import pytest
import requests

from sandbox.bc_emulator import BcEmulator
from sandbox.odata.server import Fault
from sandbox.seed import seed_id
from tests.integration.emulator_clients import BcApi, error

pytestmark = pytest.mark.usefixtures("fresh_bc")


@pytest.fixture
def api(bc: BcEmulator) -> BcApi:
    return BcApi(bc)


# -- $batch ----------------------------------------------------------------------------------------


def _batch(api: BcApi, bc: BcEmulator, requests_: list[dict], atomic: bool) -> requests.Response:
    headers = {"Isolation": "snapshot"} if atomic else {}
    return api.session.post(f"{bc.api_url}/$batch", json={"requests": requests_}, headers=headers)


def _ops(bc: BcEmulator) -> list[dict]:
    base = f"companies({bc.company_id})"
    item = seed_id("bc", "item", "1906-S")
    return [
        {
            "id": "1",
            "method": "POST",
            "url": f"{base}/customers",
            "body": {"displayName": "Batch A"},
            "headers": {"Content-Type": "application/json"},
        },
        {
            "id": "2",
            "method": "PATCH",
            "url": f"{base}/items({item})",
            "body": {"unitPrice": 1.5},
            "headers": {"If-Match": "*"},
        },
        {"id": "3", "method": "POST", "url": f"{base}/customers", "body": {"displayName": "B", "nope": 1}},
        {"id": "4", "method": "GET", "url": f"{base}/currencies?$select=code"},
    ]


def test_json_batch_without_isolation_keeps_successes(api: BcApi, bc: BcEmulator) -> None:
    response = _batch(api, bc, _ops(bc), atomic=False)
    assert response.status_code == 200
    statuses = {r["id"]: r["status"] for r in response.json()["responses"]}
    assert statuses == {"1": 201, "2": 200, "3": 400, "4": 200}
    assert any(c["displayName"] == "Batch A" for c in api.value("customers"))
    counters = bc.counters()
    assert counters["by_method"]["BATCH"] == 1 and counters["writes"] == 3
    parts = sum(n for method, n in counters["by_method"].items() if method != "BATCH")
    assert counters["operations"] == parts == counters["total"] - 1 + 4  # the 4 operations inside
    assert counters["by_entity"]["customers"]["POST"] == 2


def test_json_batch_with_snapshot_isolation_rolls_back(api: BcApi, bc: BcEmulator) -> None:
    response = _batch(api, bc, _ops(bc), atomic=True)
    assert response.status_code == 200
    answers = response.json()["responses"]
    assert [(a["id"], a["status"]) for a in answers] == [("3", 400)]
    assert not any(c["displayName"] == "Batch A" for c in api.value("customers"))
    assert api.get(f"items({seed_id('bc', 'item', '1906-S')})").json()["unitPrice"] == 281.4
    ok = _batch(api, bc, [op for op in _ops(bc) if op["id"] != "3"], atomic=True)
    assert [a["status"] for a in ok.json()["responses"]] == [201, 200, 200]
    assert (
        api.session.post(
            f"{bc.companion_url}/$batch",
            json={
                "requests": [
                    {"id": "x", "method": "GET", "url": f"companies({bc.company_id})/shippingAgents"}
                ]
            },
        ).json()["responses"][0]["status"]
        == 200
    )
    too_many = _batch(api, bc, [_ops(bc)[3]] * 101, atomic=False)
    assert too_many.status_code == 400


# -- knobs, counters, admin -------------------------------------------------------------------------


def test_rate_limit_is_per_user(api: BcApi, bc: BcEmulator) -> None:
    bc.set_knobs(rate_limit=(2, 30.0))
    assert [api.get("currencies").status_code for _ in range(2)] == [200, 200]
    throttled = api.get("currencies")
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["error"]["code"] == "Application_TooManyRequests"
    assert BcApi(bc, "other").get("currencies").status_code == 200
    bc.clear_knobs()
    assert api.get("currencies").status_code == 200


def test_faults_latency_and_counters(api: BcApi, bc: BcEmulator) -> None:
    bc.set_knobs(
        faults=[
            Fault(status=503, count=1, method="PATCH", retry_after=3),
            Fault(status=500, count=1, entity="items"),
        ]
    )
    assert error(api.get("items")) == (500, "Internal_ServerError")
    assert api.get("items").status_code == 200
    item = seed_id("bc", "item", "1900-S")
    failed = api.patch(f"items({item})", json={"unitPrice": 1.0}, headers={"If-Match": "*"})
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "3"
    bc.set_knobs(latency_ms=150)
    started = time.monotonic()
    api.get("currencies")
    assert time.monotonic() - started >= 0.15
    counters = bc.counters()
    assert counters["total"] == 4 and counters["writes"] == 1
    assert counters["by_entity"]["items"] == {"GET": 2, "PATCH": 1}
    bc.reset_counters()
    assert bc.counters()["total"] == 0


def test_admin_routes(bc: BcEmulator) -> None:
    admin = bc.url + "/_admin"
    created = requests.post(
        admin + "/records/integrationItems", json={"number": "ADM-1", "description": "Admin"}
    )
    assert created.status_code == 201
    item = created.json()
    assert (
        requests.patch(admin + f"/records/items/{item['id']}", json={"inventory": 7}).json()["inventory"] == 7
    )
    assert any(r["number"] == "ADM-1" for r in requests.get(admin + "/records/items").json()["value"])
    assert requests.delete(admin + f"/records/items/{item['id']}").status_code == 204
    requests.post(admin + "/knobs", json={"rate_limit": [1, 60]})
    assert bc.knobs()["rate_limit"] == (1, 60.0)
    assert requests.post(admin + "/knobs/clear").status_code == 200 and bc.knobs()["rate_limit"] is None
    assert requests.get(admin + "/counters").json()["total"] == 0
    assert requests.post(admin + "/seed").status_code == 204
