"""Webhook delivery of the Dataverse emulator (api-facts §D.2, §D.3): retries and timeouts, size
trimming, batches, quote actions, commit order, pausing, the admin routes and the worker's life."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import requests

from sandbox.dataverse_emulator import DataverseEmulator
from sync_core.webhooks.dataverse import parse
from tests.integration.emulator_clients import DataverseApi, multipart_batch
from tests.integration.test_dataverse_webhooks_support import (
    CANNON,
    XRM,
    Receiver,
    attributes,
    patch,
    register,
    settle,
)

pytestmark = pytest.mark.usefixtures("fresh_dv")


@pytest.fixture
def api(dv: DataverseEmulator) -> DataverseApi:
    return DataverseApi(dv)


# -- retries, timeouts, size --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "attempts", "outcomes"),
    [
        ([503, 200], 2, ["retrying", "succeeded"]),
        ([502, 504], 2, ["retrying", "failed"]),
        ([500], 1, ["failed"]),
        ([404], 1, ["failed"]),
    ],
)
def test_only_502_503_504_get_exactly_one_more_attempt(
    api: DataverseApi,
    dv: DataverseEmulator,
    receiver: Receiver,
    statuses: list[int],
    attempts: int,
    outcomes: list[str],
) -> None:
    register(api, dv, receiver.url, "Update", "account")
    receiver.statuses.extend(statuses)
    patch(api, f"accounts({CANNON})", {"name": "Retry"})
    settle(dv)
    assert len(receiver.received) == attempts
    log = dv.webhook_deliveries()
    assert [(d["attempt"], d["status"], d["outcome"]) for d in log] == list(
        zip(range(1, attempts + 1), statuses[:attempts], outcomes, strict=True)
    )
    assert receiver.bodies()[0] == receiver.bodies()[-1]  # the same context again


def test_a_timeout_is_retried_once(api: DataverseApi, dv: DataverseEmulator, receiver: Receiver) -> None:
    register(api, dv, receiver.url, "Update", "account")
    assert dv.set_webhook_knobs(timeout_s=0.3)["timeout_s"] == 0.3
    receiver.delay_s = 1.0
    patch(api, f"accounts({CANNON})", {"name": "Slow"})
    settle(dv)
    log = dv.webhook_deliveries()
    assert [(d["attempt"], d["status"], d["error"], d["outcome"]) for d in log] == [
        (1, None, "timeout", "retrying"),
        (2, None, "timeout", "failed"),
    ]
    assert len(receiver.received) == 2


def test_a_refused_connection_is_recorded_as_failed(api: DataverseApi, dv: DataverseEmulator) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    register(api, dv, url, "Update", "account")
    patch(api, f"accounts({CANNON})", {"name": "Nobody home"})
    settle(dv)
    [attempt] = dv.webhook_deliveries()
    assert attempt["status"] is None and attempt["outcome"] == "failed" and attempt["error"]


def test_a_payload_over_256_kb_is_trimmed_and_flagged(
    api: DataverseApi, dv: DataverseEmulator, receiver: Receiver
) -> None:
    register(api, dv, receiver.url, "Create", "annotation")
    note = {"subject": "small", "objectid_account@odata.bind": f"/accounts({CANNON})"}
    assert api.post("annotations", json=note).status_code == 204
    big = {**note, "subject": "big", "isdocument": True, "documentbody": "QUJD" * 70_000}  # 280 KB
    assert api.post("annotations", json=big).status_code == 204
    settle(dv)
    small, large = receiver.received
    assert "x-ms-dynamics-msg-size-exceeded" not in small.headers and "InputParameters" in small.body
    assert large.headers["x-ms-dynamics-msg-size-exceeded"] and len(large.raw) < 256 * 1024
    for key in ("ParentContext", "InputParameters", "PreEntityImages", "PostEntityImages"):
        assert key not in large.body and key in small.body
    assert large.body["PrimaryEntityName"] == "annotation" and large.body["MessageName"] == "Create"
    assert parse(large.raw, large.headers).size_exceeded
    assert [d["size_exceeded"] for d in dv.webhook_deliveries()] == [False, True]


# -- batches, actions, ordering, pausing, admin -----------------------------------------------------------


def _batch(api: DataverseApi, bodies: list[dict[str, Any]]) -> requests.Response:
    """One change set creating an account per body."""
    post = "POST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n"
    content_type, body = multipart_batch([], [post + json.dumps(b) for b in bodies])
    return api.post("$batch", data=body, headers={"Content-Type": content_type})


def test_batch_changesets_deliver_in_commit_order_and_rolled_back_ones_raise_nothing(
    api: DataverseApi, dv: DataverseEmulator, receiver: Receiver
) -> None:
    register(api, dv, receiver.url, "Create", "account")
    assert _batch(api, [{"name": "First"}, {"name": "Second"}]).status_code == 200
    failed = _batch(api, [{"name": "Ghost"}, {"name": "Bad", "nosuch": 1}])
    assert failed.status_code == 400 and "0x80060888" in failed.text
    assert _batch(api, [{"name": "Third"}]).status_code == 200
    settle(dv)
    bodies = receiver.bodies()
    assert [attributes(b)["name"] for b in bodies] == ["First", "Second", "Third"]
    assert bodies[0]["CorrelationId"] == bodies[1]["CorrelationId"] != bodies[2]["CorrelationId"]
    assert "Ghost" not in {r["name"] for r in dv.rows("accounts")}


def test_quote_actions_raise_update_and_create(
    api: DataverseApi, dv: DataverseEmulator, receiver: Receiver
) -> None:
    register(api, dv, receiver.url, "Update", "quote", "statecode,statuscode")
    register(api, dv, receiver.url, "Create", "salesorder")
    quote = dv.insert("quotes", {"name": "Q"})["quoteid"]
    patch(api, f"quotes({quote})", {"statecode": 1, "statuscode": 2})  # activate
    close = {"subject": "won", "quoteid@odata.bind": f"/quotes({quote})"}
    assert api.post("WinQuote", json={"QuoteClose": close, "Status": 4}).status_code == 204
    order = api.post(
        "ConvertQuoteToSalesOrder", json={"QuoteId": quote, "ColumnSet": {"AllColumns": True}}
    ).json()
    settle(dv)
    seen = [
        (b["MessageName"], b["PrimaryEntityName"], attributes(b).get("statecode")) for b in receiver.bodies()
    ]
    option = {"__type": f"OptionSetValue:{XRM}"}
    assert seen == [
        ("Update", "quote", {**option, "Value": 1}),
        ("Update", "quote", {**option, "Value": 2}),
        ("Create", "salesorder", {**option, "Value": 0}),
    ]
    assert attributes(receiver.bodies()[2])["quoteid"]["Id"] == quote
    assert receiver.bodies()[2]["PrimaryEntityId"] == order["salesorderid"]


def test_deliveries_are_asynchronous_in_commit_order_and_can_be_paused(
    api: DataverseApi, dv: DataverseEmulator, receiver: Receiver
) -> None:
    register(api, dv, receiver.url, "Update", "account")
    dv.pause_webhooks()
    for name in ("one", "two", "three"):
        patch(api, f"accounts({CANNON})", {"name": name})
    assert not dv.wait_webhooks_idle(0.3) and receiver.received == []  # the requests did not wait
    dv.resume_webhooks()
    settle(dv)
    assert [attributes(b)["name"] for b in receiver.bodies()] == ["one", "two", "three"]
    assert [d["sequence"] for d in dv.webhook_deliveries()] == [1, 2, 3]


def test_admin_routes(api: DataverseApi, dv: DataverseEmulator, receiver: Receiver) -> None:
    register(api, dv, receiver.url, "Update", "account")
    admin = f"{dv.url}/_admin"
    assert requests.post(f"{admin}/webhooks/pause", timeout=10).json()["paused"] is True
    patch(api, f"accounts({CANNON})", {"name": "admin"})
    assert requests.post(f"{admin}/webhooks/wait-idle?timeout=0.2", timeout=10).json() == {"idle": False}
    knobs = requests.post(
        f"{admin}/webhooks/knobs", json={"paused": False, "timeout_s": 5}, timeout=10
    ).json()
    assert knobs["paused"] is False and knobs["timeout_s"] == 5
    assert requests.post(f"{admin}/webhooks/wait-idle?timeout=10", timeout=15).json() == {"idle": True}
    listed = requests.get(f"{admin}/webhook-deliveries", timeout=10).json()["value"]
    assert listed == dv.webhook_deliveries() and [d["outcome"] for d in listed] == ["succeeded"]
    assert requests.post(f"{admin}/webhook-deliveries/clear", timeout=10).status_code == 204
    assert dv.webhook_deliveries() == []
    dv.seed_demo()  # a reseed forgets registrations, queue and record
    assert dv.rows("sdkmessageprocessingsteps") == [] and dv.webhooks.worker.knobs()["timeout_s"] == 60.0


def test_stopping_the_emulator_stops_the_worker() -> None:
    emulator = DataverseEmulator()
    emulator.start()
    assert emulator.webhooks.worker.running
    emulator.stop()
    assert not emulator.webhooks.worker.running
    emulator.start()  # and it starts again
    try:
        assert emulator.webhooks.worker.running
    finally:
        emulator.stop()
