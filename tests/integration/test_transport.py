"""ODataClient over real HTTP against a small scripted server on 127.0.0.1.

Each test scripts the answers; the client's sleep and clock are injected so retries are instant
and the waits can be asserted.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from sync_core.errors import ConflictError, DataError, NotFoundError, PermanentError, TransientError
from sync_core.odata.client import ODataClient
from sync_core.odata.retry import RetryPolicy


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, dict[str, str], Any]
Script = Callable[[Seen], Answer]


class ScriptedServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.seen: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
                outer.seen.append(seen)
                status, headers, body = outer.script(seen)
                data = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *a: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Clock:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def serve() -> Iterator[Callable[[Script], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        servers.append(ScriptedServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_client(
    url: str, clock: Clock, *, system: str = "bc", retry: RetryPolicy | None = None, read: float = 5.0
) -> ODataClient:
    session = requests.Session()
    session.trust_env = False
    return ODataClient(
        session,
        url + "/api/v2.0",
        system=system,  # type: ignore[arg-type]
        retry=retry or RetryPolicy(),
        timeout=(2.0, read),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )


def sequence(*answers: Answer) -> Script:
    """Answer with each in turn, repeating the last one."""
    remaining = list(answers)

    def script(_: Seen) -> Answer:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return script


OK: Answer = (200, {}, {"value": []})


def test_paging_follows_next_link_and_sends_maxpagesize_every_time(serve, clock) -> None:
    def script(seen: Seen) -> Answer:
        base = f"{server.url}/api/v2.0/companies(c1)/customers"
        if "$skiptoken" not in seen.path:
            return 200, {}, {"value": [{"id": 1}, {"id": 2}], "@odata.nextLink": f"{base}?$skiptoken=%27a%27"}
        if "%27a%27" in seen.path:
            return 200, {}, {"value": [{"id": 3}], "@odata.nextLink": f"{base}?$skiptoken=%27b%27"}
        return 200, {}, {"value": [{"id": 4}]}

    server = serve(script)
    client = make_client(server.url, clock)
    params = {"$filter": "lastModifiedDateTime gt 2024-05-01T00:00:00.000Z and name eq 'A B'"}
    rows = list(client.iter_rows("companies(c1)/customers", params, page_size=2))
    assert [r["id"] for r in rows] == [1, 2, 3, 4]
    assert len(server.seen) == 3
    assert all(s.headers["Prefer"] == "odata.maxpagesize=2" for s in server.seen)
    assert server.seen[0].path == (
        "/api/v2.0/companies(c1)/customers?$filter=lastModifiedDateTime%20gt%20"
        "2024-05-01T00:00:00.000Z%20and%20name%20eq%20'A%20B'"
    )
    assert server.seen[1].path == "/api/v2.0/companies(c1)/customers?$skiptoken=%27a%27"  # verbatim
    assert server.seen[2].path.endswith("$skiptoken=%27b%27")


def test_paging_loop_guard(serve, clock) -> None:
    def script(seen: Seen) -> Answer:
        link = f"{server.url}/api/v2.0/items?$skiptoken=" + ("2" if "=1" in seen.path else "1")
        return 200, {}, {"value": [{"id": seen.path}], "@odata.nextLink": link}

    server = serve(script)
    client = make_client(server.url, clock)
    with pytest.raises(PermanentError, match="paging loop"):
        list(client.iter_pages("items", page_size=10))
    assert len(server.seen) == 3  # items, ?1, ?2 -> ?1 again is refused


def test_page_count_guard(serve, clock) -> None:
    counter = iter(range(10**6))
    server = serve(
        lambda s: (200, {}, {"value": [], "@odata.nextLink": f"{server.url}/api/v2.0/x?p={next(counter)}"})
    )
    client = make_client(server.url, clock)
    client._max_pages = 5
    with pytest.raises(PermanentError, match="5 pages"):
        list(client.iter_pages("x"))


def test_429_with_retry_after_is_waited_out(serve, clock) -> None:
    throttled = (429, {"Retry-After": "3"}, {"error": {"code": "0x80072322", "message": "slow down"}})
    server = serve(sequence(throttled, (200, {}, {"UserId": "u1"})))
    client = make_client(server.url, clock, system="dataverse")
    assert client.get("WhoAmI") == {"UserId": "u1"}
    assert clock.sleeps == [3.0]
    assert len(server.seen) == 2
    headers = server.seen[0].headers
    assert headers["OData-MaxVersion"] == "4.0" and headers["OData-Version"] == "4.0"
    assert headers["Accept"] == "application/json"


def test_503_burst_then_success(serve, clock) -> None:
    unavailable = (503, {}, b"<html>busy</html>")
    server = serve(sequence(unavailable, unavailable, unavailable, OK))
    client = make_client(server.url, clock, retry=RetryPolicy(base_delay=0.5, max_delay=4))
    assert client.get("items") == {"value": []}
    assert len(server.seen) == 4 and len(clock.sleeps) == 3
    assert all(0.0 < s <= 4 for s in clock.sleeps)


def test_budget_exhaustion_raises_transient(serve, clock) -> None:
    server = serve(sequence((503, {}, {"error": {"code": "", "message": "down"}})))
    policy = RetryPolicy(max_attempts=100, max_total_seconds=5, base_delay=1, max_delay=2)
    client = make_client(server.url, clock, retry=policy)
    with pytest.raises(TransientError) as caught:
        client.get("items")
    assert caught.value.status == 503
    assert sum(clock.sleeps) == pytest.approx(5.0)
    assert len(server.seen) == len(clock.sleeps) + 1


def test_retry_after_beyond_budget_stops_at_once(serve, clock) -> None:
    server = serve(sequence((429, {"Retry-After": "120"}, {"error": {"code": "", "message": "x"}})))
    client = make_client(server.url, clock, retry=RetryPolicy(max_total_seconds=60))
    with pytest.raises(TransientError) as caught:
        client.get("items")
    assert caught.value.retry_after == 120.0  # type: ignore[attr-defined]
    assert clock.sleeps == [] and len(server.seen) == 1


def test_412_and_409_are_conflicts_and_not_retried(serve, clock) -> None:
    server = serve(sequence((412, {}, {"error": {"code": "0x80060882", "message": "version mismatch"}})))
    client = make_client(server.url, clock, system="dataverse")
    with pytest.raises(ConflictError):
        client.patch("accounts(1)", {"name": "x"}, etag='W/"1"')
    server = serve(
        sequence((409, {}, {"error": {"code": "Request_EntityChanged", "message": "Another user"}}))
    )
    client = make_client(server.url, clock)
    with pytest.raises(ConflictError) as caught:
        client.patch("companies(c)/customers(1)", {"displayName": "x"}, etag='W/"JzQ0Oyc="')
    assert caught.value.code == "Request_EntityChanged"
    assert len(server.seen) == 1 and clock.sleeps == []


def test_400_is_data_error_with_code(serve, clock) -> None:
    error_body = {"error": {"code": "Application_StringExceededLength", "message": "Name is too long"}}
    server = serve(sequence((400, {}, error_body)))
    client = make_client(server.url, clock)
    with pytest.raises(DataError) as caught:
        client.post("companies(c)/customers", {"displayName": "x" * 200})
    assert caught.value.code == "Application_StringExceededLength"
    assert "Name is too long" in str(caught.value)
    assert "xxxx" not in str(caught.value)  # the request body is never in the message
    assert server.seen[0].headers["Content-Type"] == "application/json"


def test_404_is_not_found(serve, clock) -> None:
    server = serve(sequence((404, {}, {"error": {"code": "BadRequest_NotFound", "message": "no"}})))
    with pytest.raises(NotFoundError):
        make_client(server.url, clock).get("companies(c)/customers(1)")


def test_read_timeout_is_retried_then_transient(serve, clock) -> None:
    def slow(_: Seen) -> Answer:
        time.sleep(1.0)
        return OK

    server = serve(slow)
    client = make_client(server.url, clock, retry=RetryPolicy(max_attempts=3), read=0.2)
    with pytest.raises(TransientError, match="ReadTimeout"):
        client.get("items")
    deadline = time.monotonic() + 2
    while len(server.seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(server.seen) == 3 and len(clock.sleeps) == 2


def test_post_that_may_have_been_processed_is_not_resent(serve, clock) -> None:
    def slow(_: Seen) -> Answer:
        time.sleep(0.6)
        return (201, {}, {"id": "x"})

    server = serve(slow)
    client = make_client(server.url, clock, retry=RetryPolicy(max_attempts=3), read=0.2)
    with pytest.raises(TransientError, match="ReadTimeout"):
        client.post("items", {"number": "1"})
    time.sleep(0.8)
    assert len(server.seen) == 1 and clock.sleeps == []  # a resend could create a second row
    with pytest.raises(TransientError):
        client.post("items", {"id": "chosen-key"}, idempotent=True)
    deadline = time.monotonic() + 3
    while len(server.seen) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(server.seen) == 4  # with a client-chosen key a resend is safe: retried


def test_connection_refused_is_transient(clock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}", clock, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(TransientError, match="ConnectionError"):
        client.get("items")
    assert len(clock.sleeps) == 1


def test_patch_sends_if_match_and_delete_defaults_to_star(serve, clock) -> None:
    server = serve(sequence((200, {}, {"id": "1", "@odata.etag": 'W/"2"'}), (204, {}, None)))
    client = make_client(server.url, clock)
    answer = client.patch("companies(c)/customers(1)", {"displayName": "New"}, etag='W/"1"')
    assert answer.etag == 'W/"2"'
    client.delete("companies(c)/customers(1)")
    patch, delete = server.seen
    assert patch.method == "PATCH" and patch.headers["If-Match"] == 'W/"1"'
    assert json.loads(patch.body) == {"displayName": "New"}
    assert delete.method == "DELETE" and delete.headers["If-Match"] == "*"
    with pytest.raises(ValueError):
        client.patch("companies(c)/customers(1)", {}, etag="")
