"""Webhook delivery of the Dataverse emulator (api-facts §A.5, §D.2) to a local receiver: headers
and auth, the RemoteExecutionContext, filtering attributes, state updates raised twice, Create /
Delete, unregistered tables, disabled steps and images."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.seed import seed_id
from sync_core.webhooks.dataverse import parse
from tests.integration.emulator_clients import DataverseApi
from tests.integration.test_dataverse_webhooks_support import (
    CANNON,
    SECRET,
    XRM,
    Received,
    Receiver,
    attributes,
    patch,
    register,
    settle,
    target,
)

pytestmark = pytest.mark.usefixtures("fresh_dv")


@pytest.fixture
def api(dv: DataverseEmulator) -> DataverseApi:
    return DataverseApi(dv)


# -- what is posted -----------------------------------------------------------------------------------


def _renamed(api: DataverseApi, dv: DataverseEmulator, receiver: Receiver) -> tuple[str, Received]:
    """A step on Update of account filtered on name; a change of another column, then of the name."""
    step = register(api, dv, receiver.url, "Update", "account", "name")
    patch(api, f"accounts({CANNON})", {"telephone1": "555"})  # not a filtering attribute
    settle(dv)
    assert receiver.received == [] and dv.webhook_deliveries() == []
    patch(api, f"accounts({CANNON})", {"name": "Cannon Group"})
    settle(dv)
    [hit] = receiver.received
    return step, hit


def test_update_posts_dataverse_headers_and_the_auth_header(
    api: DataverseApi, dv: DataverseEmulator, receiver: Receiver
) -> None:
    step, hit = _renamed(api, dv, receiver)
    assert hit.headers["x-webhook-secret"] == SECRET and hit.headers["content-type"] == "application/json"
    assert hit.headers["x-ms-dynamics-organization"] == urlsplit(dv.url).netloc
    assert hit.headers["x-ms-dynamics-entity-name"] == "account"
    assert hit.headers["x-ms-dynamics-request-name"] == "Update"
    assert hit.headers["x-ms-correlation-request-id"] == hit.body["CorrelationId"]
    assert "x-ms-dynamics-msg-size-exceeded" not in hit.headers and hit.query == {}
    event = parse(hit.raw, hit.headers)  # the product's own parser reads it
    assert (event.entity, event.entity_id, event.user_id) == ("account", CANNON, dv.ids["integration_user"])
    [attempt] = dv.webhook_deliveries()
    fields = ("step", "url", "status", "attempt", "outcome", "entity", "id", "message")
    assert [attempt[k] for k in fields] == [
        step, receiver.url, 200, 1, "succeeded", "account", CANNON, "Update"
    ]  # fmt: skip


def test_update_posts_the_remote_execution_context(
    api: DataverseApi, dv: DataverseEmulator, receiver: Receiver
) -> None:
    step, hit = _renamed(api, dv, receiver)
    body = hit.body
    assert (body["MessageName"], body["PrimaryEntityName"], body["PrimaryEntityId"]) == (
        "Update",
        "account",
        CANNON,
    )
    assert body["UserId"] == body["InitiatingUserId"] == dv.ids["integration_user"]
    assert (body["Stage"], body["Mode"], body["Depth"], body["SecondaryEntityName"]) == (40, 1, 1, "none")
    assert (body["OrganizationId"], body["BusinessUnitId"]) == (
        dv.ids["organization"],
        dv.ids["business_unit"],
    )
    assert (body["OwningExtension"]["Id"], body["OwningExtension"]["LogicalName"]) == (
        step, "sdkmessageprocessingstep"
    )  # fmt: skip
    assert body["ParentContext"]["Stage"] == 30 and body["PreEntityImages"] == body["PostEntityImages"] == []
    entity = target(body)
    assert (entity["__type"], entity["LogicalName"], entity["Id"]) == (f"Entity:{XRM}", "account", CANNON)
    fields = attributes(body)
    assert set(fields) == {"name", "accountid", "modifiedon", "modifiedby", "modifiedonbehalfby"}
    assert fields["name"] == "Cannon Group" and fields["modifiedon"].startswith("/Date(")
    assert fields["modifiedby"] == {
        "__type": f"EntityReference:{XRM}",
        "Id": dv.ids["integration_user"],
        "KeyAttributes": [],
        "LogicalName": "systemuser",
        "Name": None,
        "RowVersion": None,
    }


def test_the_user_is_who_made_the_change_and_create_returns_the_id(
    api: DataverseApi, dv: DataverseEmulator, receiver: Receiver
) -> None:
    register(api, dv, receiver.url, "Create", "account")
    register(api, dv, receiver.url, "Update", "account")
    sara = dv.ids["sales_user_1"]
    created = dv.insert(
        "accounts", {"name": "Northwind", "creditlimit": 1000.0, "customertypecode": 3}, by_user=sara
    )
    dv.update("accounts", created["accountid"], {"fax": "1"})  # the default human user
    settle(dv)
    create, update = receiver.bodies()
    assert (create["MessageName"], create["UserId"]) == ("Create", sara)
    assert create["OutputParameters"] == [{"key": "id", "value": created["accountid"]}]
    fields = attributes(create)
    assert fields["name"] == "Northwind" and fields["accountid"] == created["accountid"]
    assert fields["creditlimit"] == {"__type": f"Money:{XRM}", "Value": 1000.0}
    assert fields["customertypecode"] == {"__type": f"OptionSetValue:{XRM}", "Value": 3}
    assert fields["ownerid"]["LogicalName"] == "systemuser" and fields["ownerid"]["Id"] == sara
    assert (update["MessageName"], update["UserId"]) == ("Update", dv.ids["human_user"])


def test_a_state_change_fires_update_with_option_values(
    api: DataverseApi, dv: DataverseEmulator, receiver: Receiver
) -> None:
    register(api, dv, receiver.url, "Update", "salesorder", "statecode,statuscode")
    order = dv.insert("salesorders", {"name": "SO"})["salesorderid"]
    patch(api, f"salesorders({order})", {"name": "SO-1"})
    patch(api, f"salesorders({order})", {"statecode": 1})  # Submitted (statuscode 3 by default)
    settle(dv)
    [body] = receiver.bodies()
    fields = attributes(body)
    assert fields["statecode"] == {"__type": f"OptionSetValue:{XRM}", "Value": 1}
    assert fields["statuscode"] == {"__type": f"OptionSetValue:{XRM}", "Value": 3} and "name" not in fields


def test_state_and_other_columns_in_one_update_fire_twice(
    api: DataverseApi, dv: DataverseEmulator, receiver: Receiver
) -> None:
    register(api, dv, receiver.url, "Update", "account")
    register(api, dv, receiver.url, "Update", "account", "statecode")
    patch(api, f"accounts({CANNON})", {"name": "Closing", "statecode": 1})
    settle(dv)
    parts = [
        (
            b["OwningExtension"]["Name"],
            set(attributes(b)) - {"accountid", "modifiedon", "modifiedby", "modifiedonbehalfby"},
        )
        for b in receiver.bodies()
    ]
    assert parts == [
        ("step Update account", {"name"}),
        ("step Update account", {"statecode", "statuscode"}),
        ("step Update account", {"statecode", "statuscode"}),
    ]
    assert len({b["CorrelationId"] for b in receiver.bodies()}) == 1  # one request


def test_delete_fires_with_an_entity_reference_and_other_tables_do_not_fire(
    api: DataverseApi, dv: DataverseEmulator, receiver: Receiver
) -> None:
    register(api, dv, receiver.url, "Delete", "contact")
    contact = api.post(
        "contacts", json={"lastname": "Gone"}, headers={"Prefer": "return=representation"}
    ).json()
    patch(api, f"accounts({CANNON})", {"name": "x"})  # no step on account
    assert api.delete(f"accounts({seed_id('dv', 'account', 'Fabrikam, Inc.')})").status_code == 204
    settle(dv)
    assert receiver.received == []
    assert api.delete(f"contacts({contact['contactid']})").status_code == 204
    settle(dv)
    [body] = receiver.bodies()
    assert body["MessageName"] == "Delete" and body["PrimaryEntityId"] == contact["contactid"]
    assert target(body) == {
        "__type": f"EntityReference:{XRM}",
        "Id": contact["contactid"],
        "KeyAttributes": [],
        "LogicalName": "contact",
        "Name": None,
        "RowVersion": None,
    }


def test_disabled_steps_and_unfiltered_steps(
    api: DataverseApi, dv: DataverseEmulator, receiver: Receiver
) -> None:
    step = register(api, dv, receiver.url, "Create", None)  # no filter: every table
    api.post("contacts", json={"lastname": "Any"})
    patch(api, f"sdkmessageprocessingsteps({step})", {"statecode": 1, "statuscode": 2})  # Disabled
    api.post("contacts", json={"lastname": "Quiet"})
    settle(dv)
    assert [b["PrimaryEntityName"] for b in receiver.bodies()] == ["contact"]


def test_images_and_webhook_key_auth(api: DataverseApi, dv: DataverseEmulator, receiver: Receiver) -> None:
    step = register(api, dv, receiver.url, "Update", "account", authtype=4, authvalue="function-key")
    for alias, kind in (("pre", 0), ("post", 1)):
        image = {
            "name": alias,
            "entityalias": alias,
            "imagetype": kind,
            "attributes": "name,telephone1",
            "sdkmessageprocessingstepid@odata.bind": f"/sdkmessageprocessingsteps({step})",
        }
        assert api.post("sdkmessageprocessingstepimages", json=image).status_code == 204
    patch(api, f"accounts({CANNON})", {"name": "Renamed"})
    settle(dv)
    [hit] = receiver.received
    assert hit.query == {"code": ["function-key"]} and "x-webhook-secret" not in hit.headers
    images = {
        i["key"]: {a["key"]: a["value"] for a in i["value"]["Attributes"]}
        for i in hit.body["PreEntityImages"]
    }
    posts = {
        i["key"]: {a["key"]: a["value"] for a in i["value"]["Attributes"]}
        for i in hit.body["PostEntityImages"]
    }
    assert images == {"pre": {"name": "The Cannon Group PLC", "telephone1": "+1 425 555 0100"}}
    assert posts == {"post": {"name": "Renamed", "telephone1": "+1 425 555 0100"}}
