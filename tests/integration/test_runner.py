"""The local runner (sandbox/runner.py) against real Azurite queues and a real HTTP socket."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from sandbox.azurite import unique_name
from sandbox.runner import LocalRunner, main
from sandbox.runner_http import compile_route
from sandbox.runner_timers import schedule_of
from tests.fixtures import runner_app

pytestmark = pytest.mark.azurite

HOST_JSON = Path(__file__).resolve().parents[1] / "fixtures" / "runner_host.json"
KEY = "test-key-123"


@pytest.fixture
def conn(storage_conn: str) -> str:
    """The session Azurite's connection string (tests/conftest.py)."""
    return storage_conn


@pytest.fixture
def make_runner(conn: str) -> Iterator[Callable[..., LocalRunner]]:
    runner_app.reset()
    runners: list[LocalRunner] = []

    def _make(host_json: Any = HOST_JSON, **env: str) -> LocalRunner:
        environ = {
            "AzureWebJobsStorage": conn,
            "RUNNER_TEST_SCHEDULE": "*/1 * * * * *",
            "RUNNER_TEST_QUEUE": unique_name("rq"),
            **env,
        }
        runner = LocalRunner(runner_app.app, host_json=host_json, environ=environ, function_key=KEY)
        runners.append(runner)
        return runner

    yield _make
    for runner in reversed(runners):
        runner.stop()


def _queue(conn: str, name: str, encode: bool = True) -> QueueClient:
    policy = TextBase64EncodePolicy() if encode else None
    client = QueueClient.from_connection_string(conn, name, message_encode_policy=policy)
    return client


def _count(conn: str, name: str) -> int:
    props = QueueClient.from_connection_string(conn, name).get_queue_properties()
    return int(props.approximate_message_count or 0)


def test_discovers_functions_and_resolves_queue_names(make_runner: Callable[..., LocalRunner]):
    runner = make_runner(RUNNER_TEST_QUEUE="orders")
    kinds = {name: info.kind for name, info in runner.functions.items()}
    assert kinds == {
        "tick": "timer",
        "consume": "queue",
        "get_item": "http",
        "ping": "http",
        "enqueue": "http",
        "crash": "http",
    }
    assert runner.queue_names() == ["orders"]
    assert runner.functions["get_item"].trigger["route"] == "items/{id}"


def test_fire_timer_passes_a_real_timer_request(make_runner: Callable[..., LocalRunner]):
    runner = make_runner()
    runner.fire_timer("tick", past_due=True)
    [timer] = runner_app.CALLS["timer"]
    assert isinstance(timer, TimerRequest)
    assert timer.past_due is True
    assert timer.schedule_status["Next"]
    with pytest.raises(KeyError):
        runner.fire_timer("consume")


def test_schedule_comes_from_the_app_setting(make_runner: Callable[..., LocalRunner]):
    runner = make_runner(RUNNER_TEST_SCHEDULE="0 */5 * * * *")
    assert schedule_of(runner.functions["tick"]) == "0 */5 * * * *"
    with pytest.raises(KeyError, match="RUNNER_TEST_SCHEDULE"):
        schedule_of(runner.functions["tick"], environ={})
    with pytest.raises(ValueError, match="6-field"):
        schedule_of(runner.functions["tick"], environ={"RUNNER_TEST_SCHEDULE": "*/5 * * * *"})


def test_timers_fire_on_schedule(make_runner: Callable[..., LocalRunner]):
    runner = make_runner(RUNNER_TEST_SCHEDULE="* * * * * *")  # every second
    runner.start(http=False, timers=True, queues=False)
    deadline = time.monotonic() + 5
    while len(runner_app.CALLS["timer"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(runner_app.CALLS["timer"]) >= 2
    assert all(isinstance(t, TimerRequest) for t in runner_app.CALLS["timer"])


def test_queue_message_is_decoded_processed_and_deleted(conn: str, make_runner: Callable[..., LocalRunner]):
    runner = make_runner()
    [queue] = runner.queue_names()
    runner.drain(timeout_s=5, idle_s=0)  # creates the queue
    sent = _queue(conn, queue).send_message("hello runner")
    stats = runner.drain(timeout_s=20, idle_s=0.2)
    assert (stats.processed, stats.failed, stats.poisoned, stats.timed_out) == (1, 0, 0, False)
    [msg] = runner_app.CALLS["queue"]
    assert msg.get_body() == b"hello runner"
    assert (msg.id, msg.dequeue_count) == (sent.id, 1)
    assert msg.insertion_time is not None and msg.pop_receipt
    assert _count(conn, queue) == 0


def test_failing_message_is_retried_then_poisoned_with_original_content(
    conn: str, make_runner: Callable[..., LocalRunner]
):
    runner = make_runner()
    [queue] = runner.queue_names()
    runner.drain(timeout_s=5, idle_s=0)
    _queue(conn, queue).send_message("boom")
    stats = runner.drain(timeout_s=30, idle_s=0.2)
    assert (stats.processed, stats.failed, stats.poisoned) == (0, 2, 1)
    assert [m.dequeue_count for m in runner_app.CALLS["queue"]] == [1, 2]
    assert _count(conn, queue) == 0
    poison = QueueClient.from_connection_string(conn, f"{queue}-poison")
    [moved] = poison.peek_messages(max_messages=5)
    assert moved.content == base64.b64encode(b"boom").decode()


def test_plain_encoding_and_invalid_base64(conn: str, make_runner: Callable[..., LocalRunner]):
    plain = {"extensions": {"queues": {"messageEncoding": "none", "maxDequeueCount": 1}}}
    runner = make_runner(host_json=plain)
    [queue] = runner.queue_names()
    runner.drain(timeout_s=5, idle_s=0)
    _queue(conn, queue, encode=False).send_message("plain text")
    assert runner.drain(timeout_s=20, idle_s=0.2).processed == 1
    assert runner_app.CALLS["queue"][0].get_body() == b"plain text"

    strict = make_runner(host_json={"extensions": {"queues": {"maxDequeueCount": 1}}})
    [queue] = strict.queue_names()
    strict.drain(timeout_s=5, idle_s=0)
    _queue(conn, queue, encode=False).send_message("not base64!")
    stats = strict.drain(timeout_s=20, idle_s=0.2)
    assert (stats.failed, stats.poisoned) == (1, 1)
    poison = QueueClient.from_connection_string(conn, f"{queue}-poison")
    assert [m.content for m in poison.peek_messages()] == ["not base64!"]


def _http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies for 127.0.0.1
    return session


def test_http_routes_auth_and_methods(make_runner: Callable[..., LocalRunner]):
    runner = make_runner()
    runner.start(http=True, timers=False, queues=False)
    base, http = runner.http_url, _http()
    ok = http.get(f"{base}/api/items/42?q=x", headers={"x-functions-key": KEY})
    assert ok.status_code == 200
    assert ok.headers["Content-Type"].startswith("application/json")
    assert ok.json() == {"id": "42", "q": "x", "method": "GET"}
    assert runner_app.CALLS["http"][0].route_params == {"id": "42"}
    assert http.post(f"{base}/api/items/7?code={KEY}", data=b"{}").json()["method"] == "POST"
    assert http.get(f"{base}/api/items/42").status_code == 401
    assert http.get(f"{base}/api/items/42", headers={"x-functions-key": "bad"}).status_code == 401
    wrong = http.delete(f"{base}/api/items/42", headers={"x-functions-key": KEY})
    assert wrong.status_code == 405
    assert http.get(f"{base}/api/nowhere", headers={"x-functions-key": KEY}).status_code == 404
    assert http.get(f"{base}/items/42", headers={"x-functions-key": KEY}).status_code == 404
    assert http.get(f"{base}/api/public/ping").text == "pong"
    crash = http.get(f"{base}/api/crash")
    assert crash.status_code == 500 and "secret" not in crash.text


def test_http_queue_output_then_background_polling(conn: str, make_runner: Callable[..., LocalRunner]):
    runner = make_runner()
    runner.start(http=True, timers=False, queues=True)
    reply = _http().post(f"{runner.http_url}/api/enqueue?code={KEY}", data=b"via output")
    assert reply.status_code == 202
    stats = runner.drain(timeout_s=20, idle_s=0.3)
    assert (stats.processed, stats.timed_out) == (1, False)
    assert runner_app.CALLS["queue"][0].get_body() == b"via output"


def test_cli_fires_once_and_drains(
    conn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    runner_app.reset()
    queue = unique_name("rq")
    monkeypatch.setenv("AzureWebJobsStorage", conn)
    monkeypatch.setenv("RUNNER_TEST_SCHEDULE", "0 0 * * * *")
    monkeypatch.setenv("RUNNER_TEST_QUEUE", queue)
    QueueClient.from_connection_string(conn, queue).create_queue()
    _queue(conn, queue).send_message("from cli")
    args = ["--app", "tests.fixtures.runner_app:app", "--host-json", str(HOST_JSON)]
    code = main([*args, "--settings", "/nonexistent", "--once", "tick", "--drain"])
    assert code == 0
    assert "fired=1 timer_failures=0 processed=1 failed=0 poisoned=0" in capsys.readouterr().out
    assert len(runner_app.CALLS["timer"]) == 1


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("items/{id}", "ITEMS/5", {"id": "5"}),
        ("items/{id:int}", "items/x", None),
        ("items/{id?}", "items", {"id": None}),
        ("files/{*rest}", "files/a/b.txt", {"rest": "a/b.txt"}),
        ("dv/webhook", "dv/webhook", {}),
    ],
)
def test_route_templates(template: str, path: str, expected: dict[str, Any] | None):
    match = compile_route(template).fullmatch(path)
    assert (match.groupdict() if match else None) == expected
