"""The Dataverse emulator's multipart ``$batch``, knobs, counters and admin routes."""

from __future__ import annotations

import pytest
import requests

from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.odata.server import Fault
from tests.integration.emulator_clients import DataverseApi, multipart_batch

pytestmark = pytest.mark.usefixtures("fresh_dv")


@pytest.fixture
def api(dv: DataverseEmulator) -> DataverseApi:
    return DataverseApi(dv)


# -- $batch ----------------------------------------------------------------------------------------


def _post_part(url: str, body: str) -> str:
    return f"POST {url} HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{body}"


def test_batch_changeset_with_content_id_references(api: DataverseApi, dv: DataverseEmulator) -> None:
    changeset = [
        _post_part("/api/data/v9.2/accounts", '{"name": "Batch Co"}'),
        _post_part(
            "/api/data/v9.2/contacts", '{"lastname": "Ref", "parentcustomerid_account@odata.bind": "$1"}'
        ),
        'PATCH $1 HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: *\r\n\r\n{"telephone1": "42"}',
    ]
    content_type, body = multipart_batch(
        ["GET accounts?$select=name&$top=1 HTTP/1.1\r\nAccept: application/json\r\n"], changeset
    )
    response = api.post("$batch", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    text = response.text
    assert "changesetresponse_" in text and text.count("HTTP/1.1 204") == 3 and "HTTP/1.1 200" in text
    account = next(r for r in dv.rows("accounts") if r["name"] == "Batch Co")
    contact = next(r for r in dv.rows("contacts") if r["lastname"] == "Ref")
    assert contact["_parentcustomerid_value"] == account["accountid"] and account["telephone1"] == "42"
    counters = dv.counters()
    assert counters["by_method"]["BATCH"] == 1 and counters["by_method"]["POST"] == 2
    assert counters["writes"] == 3 and counters["total"] == 1
    parts = sum(n for method, n in counters["by_method"].items() if method != "BATCH")
    assert counters["operations"] == parts >= 4  # quota units: each part of the batch counts once


def test_batch_changeset_rolls_back_on_failure(api: DataverseApi, dv: DataverseEmulator) -> None:
    before = len(dv.rows("accounts"))
    changeset = [
        _post_part("/api/data/v9.2/accounts", '{"name": "Ghost"}'),
        _post_part("/api/data/v9.2/accounts", '{"name": "Bad", "nosuch": 1}'),
    ]
    content_type, body = multipart_batch([], changeset)
    response = api.post("$batch", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 400 and "HTTP/1.1 400" in response.text
    assert "0x80060888" in response.text and len(dv.rows("accounts")) == before


def test_batch_continue_on_error(api: DataverseApi, dv: DataverseEmulator) -> None:
    parts = [
        _post_part("accounts", '{"name": "One"}'),
        _post_part("accounts", '{"bad": 1}'),
        _post_part("accounts", '{"name": "Three"}'),
    ]
    content_type, body = multipart_batch(parts)
    stop = api.post("$batch", data=body, headers={"Content-Type": content_type})
    assert stop.status_code == 400 and "Three" not in {r["name"] for r in dv.rows("accounts")}
    dv.seed_demo()
    go_on = api.post(
        "$batch",
        data=body,
        headers={
            "Content-Type": content_type,
            "Prefer": "odata.continue-on-error",
        },
    )
    assert go_on.status_code == 200 and go_on.text.count("HTTP/1.1 204") == 2
    assert {"One", "Three"} <= {r["name"] for r in dv.rows("accounts")}


def test_batch_limit(api: DataverseApi) -> None:
    content_type, body = multipart_batch([_post_part("accounts", '{"name": "x"}')] * 1001)
    assert (
        api.post(
            "$batch",
            data=body,
            headers={"Content-Type": content_type},
        ).status_code
        == 400
    )


# -- knobs, counters, admin -------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(api: DataverseApi, dv: DataverseEmulator) -> None:
    dv.set_knobs(rate_limit=(3, 60.0))
    assert [api.get("accounts").status_code for _ in range(3)] == [200, 200, 200]
    throttled = api.get("accounts")
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["error"] == {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    }
    dv.set_knobs(rate_limit=(1, 60.0), retry_after=7)
    api.get("accounts")
    assert api.get("accounts").headers["Retry-After"] == "7"
    dv.clear_knobs()
    assert api.get("accounts").status_code == 200


def test_faults_are_consumed_per_matching_request(api: DataverseApi, dv: DataverseEmulator) -> None:
    dv.set_knobs(faults=[Fault(status=503, count=2, method="GET", entity="accounts", retry_after=2)])
    assert api.get("contacts").status_code == 200
    first = api.get("accounts")
    assert first.status_code == 503 and first.headers["Retry-After"] == "2"
    assert first.json()["error"]["code"]
    assert api.get("accounts").status_code == 503
    assert api.get("accounts").status_code == 200
    dv.set_knobs(faults=[Fault(status=504, count=1, delay_s=0.3)])
    with pytest.raises(requests.Timeout):
        api.get("accounts", timeout=0.1)


def test_counters_and_admin_routes(api: DataverseApi, dv: DataverseEmulator) -> None:
    api.get("accounts")
    api.post("accounts", json={"name": "Counted"})
    admin = dv.url + "/_admin"
    counters = requests.get(admin + "/counters").json()
    assert counters["total"] == 2 and counters["writes"] == 1
    assert counters["by_entity"]["accounts"] == {"GET": 1, "POST": 1}
    created = requests.post(admin + "/records/accounts", json={"name": "Admin Co"}).json()
    patched = requests.patch(admin + f"/records/accounts/{created['accountid']}", json={"fax": "7"}).json()
    assert patched["fax"] == "7" and patched["_modifiedby_value"] == dv.ids["human_user"]
    assert any(r["name"] == "Admin Co" for r in requests.get(admin + "/records/accounts").json()["value"])
    assert requests.delete(admin + f"/records/accounts/{created['accountid']}").status_code == 204
    knobs = requests.post(admin + "/knobs", json={"latency_ms": 5, "faults": [{"status": 500, "count": 1}]})
    assert knobs.json()["faults"][0]["status"] == 500
    assert api.get("accounts").status_code == 500
    assert requests.post(admin + "/counters/reset").status_code == 204
    assert requests.post(admin + "/seed").status_code == 204
    assert dv.counters()["total"] == 0 and not any(r["name"] == "Counted" for r in dv.rows("accounts"))
