"""The function app through the local runner: timers, queue polling with host.json rules, HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import function_app
from sandbox.runner import LocalRunner
from sandbox.stack import SandboxStack
from sync_core.settings import RECORD_QUEUE
from sync_core.state.queues import queue_client

ROOT = Path(__file__).resolve().parent.parent.parent
KEY = "test-function-key"


def _host(**queue_overrides: object) -> dict:
    host = json.loads((ROOT / "host.json").read_text())
    host["extensions"]["queues"].update(queue_overrides)
    return host


@pytest.fixture
def runner(stack: SandboxStack) -> Iterator[LocalRunner]:
    # fast retries for the test: visibility 1 s, two attempts before the poison queue
    local = LocalRunner(
        function_app.app, host_json=_host(visibilityTimeout="00:00:01", maxDequeueCount=2), function_key=KEY
    )
    local.start(http=True, timers=False, queues=False)
    try:
        yield local
    finally:
        local.stop()


def test_timer_queue_processor_through_the_runner(stack: SandboxStack, runner: LocalRunner) -> None:
    runner.fire_timer("sync_currency")
    stats = runner.drain(timeout_s=60)
    assert (stats.processed, stats.failed, stats.poisoned, stats.timed_out) == (5, 0, 0, False)
    codes = {r["isocurrencycode"] for r in stack.dataverse.rows("transactioncurrencies")}
    assert {"EUR", "GBP", "CAD", "DKK"} <= codes and "JPY" not in codes


def test_malformed_message_ends_in_the_poison_queue(stack: SandboxStack, runner: LocalRunner) -> None:
    conn = stack.azurite.connection_string
    queue_client(conn, RECORD_QUEUE).create_queue()
    queue_client(conn, RECORD_QUEUE).send_message('{"mapping": "CURRENCY"}')
    stats = runner.drain(timeout_s=30)
    assert (stats.failed, stats.poisoned) == (2, 1)
    poisoned = list(queue_client(conn, f"{RECORD_QUEUE}-poison").receive_messages())
    assert [m.content for m in poisoned] == ['{"mapping": "CURRENCY"}']


def test_http_routes_through_the_runner(stack: SandboxStack, runner: LocalRunner) -> None:
    health = requests.get(f"{runner.http_url}/api/health", timeout=30)
    assert health.status_code == 401  # function key required
    health = requests.get(f"{runner.http_url}/api/health", headers={"x-functions-key": KEY}, timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    hook = requests.post(f"{runner.http_url}/api/webhooks/dataverse", data=b"{}", timeout=30)
    assert hook.status_code == 401 and "x-webhook-secret" in hook.json()["error"]
    hook = requests.post(
        f"{runner.http_url}/api/webhooks/dataverse",
        data=b"{}",
        headers={"x-webhook-secret": stack.webhook_secret},
        timeout=30,
    )
    assert hook.status_code == 400 and "MessageName" in hook.json()["error"]
