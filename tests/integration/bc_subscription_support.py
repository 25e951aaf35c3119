"""Shared helpers of the BC webhook subscription tests (no tests here): a notification endpoint on
127.0.0.1 and clients of the API roots' ``subscriptions`` sets."""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.bc_emulator import BcEmulator
from tests.integration.emulator_clients import BcApi

V2_API, COMPANION_API = "v2.0", "bcsync/integration/v1.0"


class Hook:
    """What BC calls: answers the handshake (``handshake``: ``"echo"`` the token, ``"wrong"`` body,
    or an HTTP status) and records notification bodies, answered with the queued ``statuses``
    (then 200)."""

    def __init__(self) -> None:
        self.handshake: str | int = "echo"
        self.tokens: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.statuses: deque[int] = deque()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                query = parse_qs(urlsplit(self.path).query)
                if "validationToken" in query:
                    status, body = owner._handshake(query["validationToken"][0], raw)
                else:
                    owner.bodies.append(json.loads(raw))
                    status, body = (owner.statuses.popleft() if owner.statuses else 200), b""
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def _handshake(self, token: str, raw: bytes) -> tuple[int, bytes]:
        assert raw == b"", "the handshake has no body"
        self.tokens.append(token)
        if isinstance(self.handshake, int):
            return self.handshake, b"no"
        return 200, token.encode() if self.handshake == "echo" else b"something else"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/webhooks/bc?code=key"

    def entries(self) -> list[dict[str, Any]]:
        return [entry for body in self.bodies for entry in body["value"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="hook")
def hook_fixture() -> Iterator[Hook]:
    """Import it into a test module to use the ``hook`` fixture."""
    endpoint = Hook()
    yield endpoint
    endpoint.close()


class Root(BcApi):
    """Paths relative to an API root (v2.0, or the companion's with ``companion=True``)."""

    def __init__(self, bc: BcEmulator, *, companion: bool = False) -> None:
        super().__init__(bc)
        self.bc = bc
        self.api = COMPANION_API if companion else V2_API
        self.base = f"{bc.companion_url if companion else bc.api_url}/"

    def resource(self, entity: str) -> str:
        return f"/api/{self.api}/companies({self.bc.company_id})/{entity}"

    def subscribe(self, hook_url: str, entity: str, state: str = "s3cret", **extra: Any) -> requests.Response:
        body = {"notificationUrl": hook_url, "resource": self.resource(entity), "clientState": state}
        return self.post("subscriptions", json={**body, **extra})

    def created(self, hook_url: str, entity: str, state: str = "s3cret") -> dict[str, Any]:
        response = self.subscribe(hook_url, entity, state)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody-home"


def record_path(root: Root, entity: str, id: str) -> str:
    """How a notification names a record: no leading slash."""
    return f"api/{root.api}/companies({root.bc.company_id})/{entity}({id})"
