"""Telemetry end to end (Azurite, the emulators, the real function entry points): a Dataverse change
followed by one correlation id from the webhook through the queue to the BC write, the counters,
one failure line per failed record, and no secret or record value in any log record."""

from __future__ import annotations

import json
import logging

from sandbox.stack import SandboxStack
from sync_core.app import wiring
from sync_core.sync.context import SyncContext
from sync_core.telemetry.metrics import FAILED, LATENCY, SYNCHRONIZED
from tests.e2e.host import deliver_all, http
from tests.e2e.world import bc_row, context, crm_id, prepare
from tests.telemetry_support import app_logs, every_log_record, exported_text, meters

URL = "http://localhost/api/webhooks/dataverse"
SALES_USER = "00000000-0000-0000-0000-00000000beef"  # a person, not the integration user
CORRELATION = "6d1f5e2a-7b3c-4c1d-9e8f-0a1b2c3d4e5f"
TOO_LONG = "Application_StringExceededLength"  # BC's code: phoneNo holds 30 characters


def _coupled_account(stack: SandboxStack) -> tuple[SyncContext, str, str]:
    """Customer 10000 created in Dataverse and coupled (CUSTOMER, with what it depends on)."""
    ctx = context()
    prepare(stack, ctx, customers=("10000",), items=())
    customer_id = bc_row(stack, "integrationCustomers", "10000")["id"]
    return ctx, customer_id, crm_id(ctx, "CUSTOMER", customer_id)


def _webhook(stack: SandboxStack, account_id: str, correlation_id: str | None = None) -> None:
    body = {
        "MessageName": "Update",
        "PrimaryEntityName": "account",
        "PrimaryEntityId": account_id,
        "UserId": SALES_USER,
        "Depth": 1,
    }
    if correlation_id:
        body["CorrelationId"] = correlation_id
    headers = {"Content-Type": "application/json", "x-webhook-secret": stack.webhook_secret}
    reply = http("dataverse_webhook", "POST", URL, json.dumps(body).encode(), headers)
    assert reply.status_code == 202, reply.get_body()


def test_a_dataverse_change_carries_one_correlation_id_from_the_webhook_to_the_bc_write(
    stack: SandboxStack,
) -> None:
    _, customer_id, account_id = _coupled_account(stack)
    stack.dataverse.update("accounts", account_id, {"name": "Cannon Group (renamed)"})
    with app_logs() as logs, meters() as m:
        _webhook(stack, account_id, CORRELATION)
        [body] = deliver_all(stack.azurite.connection_string)
        assert m.total(SYNCHRONIZED, mapping="CUSTOMER", direction="to-bc", outcome="modified") == 1
        [(latency_of, latency)] = m.points(LATENCY)
    assert stack.bc.get("integrationCustomers", customer_id)["name"] == "Cannon Group (renamed)"
    message = json.loads(body)
    assert message["correlation_id"] == CORRELATION and message["enqueued_at"]  # the queue message
    assert latency_of == {"mapping": "CUSTOMER", "direction": "to-bc", "reason": "webhook"}
    assert latency.count == 1 and 0 < latency.sum < 60

    by_logger = {r.name: r for r in logs.records}
    intake = by_logger["sync_core.sync.jobs.webhook_intake"]  # the webhook's job run
    write = by_logger["sync_core.systems.bc"]  # "bc integrationCustomers updated <id>"
    synced = by_logger["sync_core.sync.engine.record"]  # the record's line after the write
    assert all(getattr(r, "correlation_id", None) == CORRELATION for r in logs.records)
    assert (intake.event, intake.job, intake.mapping, intake.count_enqueued) == (
        "job_run",
        "webhook",
        "CUSTOMER",
        1,
    )
    assert customer_id in write.getMessage()
    assert (synced.event, synced.outcome, synced.source_id, synced.destination_id) == (
        "record_synchronized",
        "modified",
        account_id,
        customer_id,
    )
    assert synced.job_id == intake.job_id == message["job_id"] and synced.latency_ms > 0


def test_a_failed_record_is_one_failure_line_with_mapping_source_and_code(stack: SandboxStack) -> None:
    ctx, _, account_id = _coupled_account(stack)
    stack.dataverse.update("accounts", account_id, {"telephone1": "+44 20 7946 0958 ext. 12345 / 67890"})
    with app_logs() as logs, meters() as m:
        _webhook(stack, account_id)  # no CorrelationId from Dataverse: the app makes one
        deliver_all(stack.azurite.connection_string)
        assert m.total(FAILED, mapping="CUSTOMER", direction="to-bc", error_code=TOO_LONG) == 1
        assert m.total(SYNCHRONIZED, mapping="CUSTOMER") == 0
    [intake] = logs.events("job_run")
    [failed] = logs.events("record_failed")
    assert {k: failed[k] for k in ("mapping", "direction", "source_id", "error_code", "http_status")} == {
        "mapping": "CUSTOMER",
        "direction": "to-bc",
        "source_id": account_id,
        "error_code": TOO_LONG,
        "http_status": 400,
    }
    assert failed["correlation_id"] == intake["correlation_id"] and len(failed["correlation_id"]) == 36
    assert failed["job_id"] == intake["job_id"]
    [error] = ctx.stores.sync_errors.list("CUSTOMER")
    assert "7946 0958" in error.message  # BC's message (with the value) is in the sync errors, not the log


def test_no_secret_or_record_value_reaches_a_log_record(stack: SandboxStack) -> None:
    """Every logger at DEBUG (urllib3, azure, msal, the app) through a sign-in, a synchronized change
    and a failed one: no secret, token or value of the record in any message, attribute or trace."""
    _, customer_id, account_id = _coupled_account(stack)
    values = {"name": "Quokka Zanzibar Holdings", "emailaddress1": "quokka.finance@zanzibar.example"}
    values["telephone1"] = "+255 24 7788 9911"
    too_long = "+255 24 7788 9911 ext. 555 / 999 / 777"
    wiring.reset()  # a new worker: the sign-in happens inside the capture
    with every_log_record() as records:
        stack.dataverse.update("accounts", account_id, values)
        _webhook(stack, account_id, CORRELATION)
        deliver_all(stack.azurite.connection_string)
        stack.dataverse.update("accounts", account_id, {"telephone1": too_long})
        _webhook(stack, account_id)
        deliver_all(stack.azurite.connection_string)
    svc = wiring.services()
    assert stack.bc.get("integrationCustomers", customer_id)["email"] == values["emailaddress1"]
    settings = stack.settings()
    storage = dict(p.split("=", 1) for p in settings["AzureWebJobsStorage"].split(";") if "=" in p)
    secrets = {
        "client secret": settings.get("SYNC_CLIENT_SECRET", ""),
        "webhook secret": settings["WEBHOOK_SECRET"],
        "storage key": storage.get("AccountKey", ""),
        "bc token": svc.bc_tokens.token(),
        "dataverse token": svc.dataverse_tokens.token(),
        **{f"account {k}": v for k, v in values.items()},
        "too long phone": too_long,
    }
    product = [r for r in records if not r.name.startswith("sandbox")]  # the emulators are not the app
    assert {r.name.split(".")[0] for r in product} >= {"sync_core", "urllib3", "azure"}
    assert any(r.levelno == logging.DEBUG for r in product)
    leaks = [
        (what, r.name, text[:200])
        for r in product
        for text in exported_text(r)
        for what, secret in secrets.items()
        if secret and secret in text
    ]
    assert leaks == []
