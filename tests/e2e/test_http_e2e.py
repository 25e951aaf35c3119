"""HTTP entry points with real HttpRequest objects: webhook auth/parse/enqueue, health."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox.stack import SandboxStack, environment
from sync_core.app import wiring
from tests.e2e.host import deliver_all, http, queued

URL = "http://localhost/api/webhooks/dataverse"
MAPPINGS = str(Path(__file__).parent.parent / "fixtures" / "mappings")


def _context(account_id: str, user_id: str = "00000000-0000-0000-0000-00000000beef", **extra) -> bytes:
    body = {
        "MessageName": "Update",
        "PrimaryEntityName": "account",
        "PrimaryEntityId": account_id,
        "UserId": user_id,
        "CorrelationId": "0b1c2d3e-0000-4000-8000-000000000001",
        "Depth": 1,
        **extra,
    }
    return json.dumps(body).encode()


def _post(stack: SandboxStack, body: bytes, secret: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if secret is not False:
        headers["x-webhook-secret"] = stack.webhook_secret if secret is None else secret
    reply = http("dataverse_webhook", "POST", URL, body, headers)
    return reply.status_code, json.loads(reply.get_body())


def _account(stack: SandboxStack) -> dict:
    return stack.dataverse.rows("accounts")[0]


def test_webhook_refuses_bad_requests_and_enqueues_nothing(stack: SandboxStack) -> None:
    good = _context(_account(stack)["accountid"])
    cases = [
        (good, False, 401, "missing x-webhook-secret"),
        (good, "wrong", 401, "wrong x-webhook-secret"),
        (b"{oops", None, 400, "not valid JSON"),
        (_context("not-a-guid"), None, 400, "PrimaryEntityId must be a GUID"),
        (b"{" + b" " * (1024 * 1024) + b"}", None, 413, "larger than"),
    ]
    for body, secret, status, reason in cases:
        got_status, got = _post(stack, body, secret)
        assert (got_status, reason in got["error"]) == (status, True), got
        assert stack.webhook_secret not in json.dumps(got)
    assert queued(stack.azurite.connection_string) == 0


def test_webhook_for_a_table_no_mapping_brings_to_bc_is_ignored(stack: SandboxStack) -> None:
    status, body = _post(stack, _context(_account(stack)["accountid"], PrimaryEntityName="annotation"))
    assert status == 202 and body["enqueued"] == []
    assert "no mapping synchronizes annotation" in body["ignored"]
    assert queued(stack.azurite.connection_string) == 0


def test_webhook_enqueues_a_record_message_for_the_mapping(stack: SandboxStack) -> None:
    account_id = _account(stack)["accountid"]
    with environment({"SYNC_MAPPINGS_DIR": MAPPINGS}):
        wiring.reset()
        status, body = _post(stack, _context(account_id))
        assert status == 202
        enqueued = {m["mapping"]: m for m in body["enqueued"]}
        assert set(enqueued) == {"CUSTOMER", "TEST-ACCOUNT"}  # every mapping of accounts that goes to BC
        assert all(m["direction"] == "to-bc" and m["source_id"] == account_id for m in enqueued.values())
        delivered = deliver_all(stack.azurite.connection_string)
        assert len(delivered) == 2 and all(json.loads(d)["reason"] == "webhook" for d in delivered)
        # the account is not coupled: BC counts an uncoupled record handed to it as Skipped
        for m in enqueued.values():
            summary = wiring.services().stores.job_log.summary(m["job_id"])
            assert summary is not None and summary.finished and summary.counts["skipped"] == 1
        app_user = wiring.services().dataverse.whoami()
        status, body = _post(stack, _context(account_id, user_id=app_user))
        assert status == 202 and body["ignored"] == "change made by the integration user (echo)"
    wiring.reset()


def test_health_reports_each_check_and_no_secret(stack: SandboxStack) -> None:
    reply = http("health", "GET", "http://localhost/api/health")
    body = json.loads(reply.get_body())
    assert reply.status_code == 200 and body["status"] == "healthy"
    assert set(body["checks"]) == {"settings", "storage", "bc_sign_in", "dataverse_sign_in"}
    with environment({"SYNC_CLIENT_SECRET": "not-the-secret"}):
        wiring.reset()
        reply = http("health", "GET", "http://localhost/api/health")
        body = json.loads(reply.get_body())
        assert reply.status_code == 503 and not body["checks"]["bc_sign_in"]["ok"]
        assert "not-the-secret" not in reply.get_body().decode()
    with environment({"BC_COMPANY_ID": "cronus"}):
        wiring.reset()
        reply = http("health", "GET", "http://localhost/api/health")
        assert reply.status_code == 503 and "BC_COMPANY_ID" in reply.get_body().decode()
    wiring.reset()
