"""Webhook registration tables of the Dataverse emulator over real HTTP (api-facts §D.1, §I):
serviceendpoints (write-only authvalue), seeded read-only sdkmessages / sdkmessagefilters,
sdkmessageprocessingsteps and their images."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.dataverse_schema import ENTITIES
from tests.integration.emulator_clients import DataverseApi, error

pytestmark = pytest.mark.usefixtures("fresh_dv")
SECRET = '<settings><setting name="x-webhook-secret" value="s3cret" /></settings>'
REPRESENT = {"Prefer": "return=representation"}


@pytest.fixture
def api(dv: DataverseEmulator) -> DataverseApi:
    return DataverseApi(dv)


def _endpoint(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "bcsync",
        "url": "http://127.0.0.1:7071/api/webhooks/dataverse",
        "contract": 8,
        "authtype": 5,
        "authvalue": SECRET,
    }
    return {**body, **overrides}


def _step(dv: DataverseEmulator, endpoint: str, message: str, table: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": f"bcsync: {message} of {table}",
        "stage": 40,
        "mode": 1,
        "rank": 1,
        "supporteddeployment": 0,
        "asyncautodelete": True,
        "filteringattributes": "statecode,statuscode",
        "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint})",
        "sdkmessageid@odata.bind": f"/sdkmessages({dv.sdk_message_id(message)})",
        "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({dv.sdk_message_filter_id(message, table)})",
    }
    return {**body, **overrides}


def test_sdk_messages_and_filters_are_seeded_and_read_only(api: DataverseApi, dv: DataverseEmulator) -> None:
    [update] = api.value("sdkmessages?$filter=name eq 'Update'&$select=sdkmessageid,name")
    assert update["sdkmessageid"] == dv.sdk_message_id("Update")
    names = {m["name"] for m in api.value("sdkmessages?$select=name")}
    assert {"Create", "Update", "Delete", "SetState", "WinQuote", "ConvertQuoteToSalesOrder"} <= names
    query = (
        f"sdkmessagefilters?$filter=_sdkmessageid_value eq {update['sdkmessageid']}"
        " and primaryobjecttypecode eq 'salesorder'"
    )
    [order_filter] = api.value(query)
    assert order_filter["sdkmessagefilterid"] == dv.sdk_message_filter_id("Update", "salesorder")
    assert order_filter["secondaryobjecttypecode"] == "none" and order_filter["iscustomprocessingstepallowed"]
    every = api.value(f"sdkmessagefilters?$filter=_sdkmessageid_value eq {update['sdkmessageid']}")
    assert {f["primaryobjecttypecode"] for f in every} == {e.logical for e in ENTITIES.values()}
    refused = [
        api.post("sdkmessages", json={"name": "Mine"}),
        api.patch(f"sdkmessages({update['sdkmessageid']})", json={"name": "x"}, headers={"If-Match": "*"}),
        api.delete(f"sdkmessagefilters({order_filter['sdkmessagefilterid']})"),
    ]
    assert [error(r) for r in refused] == [(400, "0x80040203")] * 3
    assert api.value("sdkmessages?$filter=name eq 'Update'")[0]["name"] == "Update"


def test_authvalue_is_write_only(api: DataverseApi, dv: DataverseEmulator) -> None:
    created = api.post("serviceendpoints", json=_endpoint(), headers=REPRESENT)
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert "authvalue" not in endpoint and endpoint["contract"] == 8 and endpoint["authtype"] == 5
    url = f"serviceendpoints({endpoint['serviceendpointid']})"
    assert "authvalue" not in api.get(url).json()
    [listed] = api.value("serviceendpoints?$filter=contract eq 8&$select=serviceendpointid,name,authtype,url")
    assert listed["name"] == "bcsync" and "authvalue" not in listed
    assert error(api.get(f"{url}?$select=authvalue")) == (400, "0x80060888")
    assert error(api.get("serviceendpoints?$filter=authvalue eq 'x'")) == (400, "0x80060888")
    assert all("authvalue" not in row for row in dv.rows("serviceendpoints"))
    new_secret = SECRET.replace("s3cret", "rotated")
    assert api.patch(url, json={"authvalue": new_secret}, headers={"If-Match": "*"}).status_code == 204
    assert "rotated" not in api.get(url).text


@pytest.mark.parametrize(
    "overrides",
    [
        {"contract": 1},
        {"url": None},
        {"url": "https://example.com/hook"},
        {"authtype": 2},
        {"authvalue": None},
        {"authvalue": "<settings><nothing /></settings>"},
        {"authvalue": "x-webhook-secret: plain"},
    ],
)
def test_service_endpoint_rules(api: DataverseApi, dv: DataverseEmulator, overrides: dict[str, Any]) -> None:
    response = api.post("serviceendpoints", json=_endpoint(**overrides))
    assert error(response)[0] == 400, overrides
    assert dv.rows("serviceendpoints") == []


def test_webhook_key_and_query_string_endpoints_are_accepted(api: DataverseApi) -> None:
    key = api.post("serviceendpoints", json=_endpoint(name="key", authtype=4, authvalue="function-key"))
    query = _endpoint(
        name="qs", authtype=6, authvalue='<settings><setting name="code" value="k" /></settings>'
    )
    assert key.status_code == 204 and api.post("serviceendpoints", json=query).status_code == 204
    assert len(api.value("serviceendpoints?$filter=contract eq 8")) == 2


def test_steps_are_registered_queried_updated_and_deleted(api: DataverseApi, dv: DataverseEmulator) -> None:
    endpoint = api.post("serviceendpoints", json=_endpoint(), headers=REPRESENT).json()["serviceendpointid"]
    created = api.post(
        "sdkmessageprocessingsteps", json=_step(dv, endpoint, "Update", "salesorder"), headers=REPRESENT
    )
    assert created.status_code == 201, created.text
    step = created.json()
    assert step["_eventhandler_value"] == endpoint
    assert step["_sdkmessageid_value"] == dv.sdk_message_id("Update")
    assert step["_sdkmessagefilterid_value"] == dv.sdk_message_filter_id("Update", "salesorder")
    assert (step["statecode"], step["statuscode"], step["stage"], step["mode"]) == (0, 1, 40, 1)
    found = api.value(f"sdkmessageprocessingsteps?$filter=_eventhandler_value eq {endpoint}&$select=name")
    assert [s["name"] for s in found] == ["bcsync: Update of salesorder"]
    url = f"sdkmessageprocessingsteps({step['sdkmessageprocessingstepid']})"
    patched = api.patch(url, json={"filteringattributes": "statecode"}, headers={"If-Match": "*"})
    assert patched.status_code == 204 and api.get(url).json()["filteringattributes"] == "statecode"
    assert api.delete(url).status_code == 204 and api.get(url).status_code == 404
    again = api.post(
        "sdkmessageprocessingsteps", json=_step(dv, endpoint, "Create", "quote"), headers=REPRESENT
    )
    assert again.status_code == 201
    assert api.delete(f"serviceendpoints({endpoint})").status_code == 204
    assert dv.rows("sdkmessageprocessingsteps") == []  # the endpoint's steps went with it


def test_step_rules(api: DataverseApi, dv: DataverseEmulator) -> None:
    endpoint = api.post("serviceendpoints", json=_endpoint(), headers=REPRESENT).json()["serviceendpointid"]
    other_message = _step(dv, endpoint, "Update", "account")
    other_message["sdkmessagefilterid@odata.bind"] = (
        f"/sdkmessagefilters({dv.sdk_message_filter_id('Create', 'account')})"
    )
    bad = [
        other_message,
        _step(dv, endpoint, "Update", "account", mode=0),
        _step(dv, endpoint, "Update", "account", stage=20),
        _step(dv, endpoint, "Update", "serviceendpoint"),
        {
            k: v
            for k, v in _step(dv, endpoint, "Update", "account").items()
            if not k.startswith("eventhandler")
        },
    ]
    for body in bad:
        assert error(api.post("sdkmessageprocessingsteps", json=body))[0] == 400, body
    assert dv.rows("sdkmessageprocessingsteps") == []


def test_step_images(api: DataverseApi, dv: DataverseEmulator) -> None:
    endpoint = api.post("serviceendpoints", json=_endpoint(), headers=REPRESENT).json()["serviceendpointid"]
    step = api.post(
        "sdkmessageprocessingsteps", json=_step(dv, endpoint, "Update", "account"), headers=REPRESENT
    )
    step_id = step.json()["sdkmessageprocessingstepid"]
    image = {
        "name": "post",
        "entityalias": "post",
        "imagetype": 1,
        "messagepropertyname": "Target",
        "attributes": "name",
        "sdkmessageprocessingstepid@odata.bind": f"/sdkmessageprocessingsteps({step_id})",
    }
    assert api.post("sdkmessageprocessingstepimages", json=image).status_code == 204
    assert error(api.post("sdkmessageprocessingstepimages", json={**image, "imagetype": 7}))[0] == 400
    listed = api.value(
        f"sdkmessageprocessingsteps({step_id})/sdkmessageprocessingstepid_sdkmessageprocessingstepimage"
    )
    assert [i["entityalias"] for i in listed] == ["post"]
    assert api.delete(f"sdkmessageprocessingsteps({step_id})").status_code == 204
    assert dv.rows("sdkmessageprocessingstepimages") == []
