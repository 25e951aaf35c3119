"""Shared helpers of the webhook delivery tests (no tests here): a webhook receiver on 127.0.0.1
and a way to register an endpoint with one step through the Web API."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.seed import seed_id
from tests.integration.emulator_clients import DataverseApi

SECRET = "s3cret-value"
XRM = "http://schemas.microsoft.com/xrm/2011/Contracts"
CANNON = seed_id("dv", "account", "The Cannon Group PLC")


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes


class Receiver:
    """A webhook endpoint on 127.0.0.1 answering the queued statuses (then 200), after ``delay_s``."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: deque[int] = deque()
        self.delay_s = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                owner.received.append(
                    Received(parts.path, parse_qs(parts.query), headers, json.loads(raw), raw)
                )
                time.sleep(owner.delay_s)
                status = owner.statuses.popleft() if owner.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/webhooks/dataverse"

    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.received]


def register(
    api: DataverseApi,
    dv: DataverseEmulator,
    url: str,
    message: str,
    table: str | None,
    filtering: str = "",
    **endpoint: Any,
) -> str:
    """A webhook endpoint (HttpHeader auth unless overridden) and one async step; the step id."""
    body = {
        "name": f"hook {message} {table}",
        "url": url,
        "contract": 8,
        "authtype": 5,
        "authvalue": f'<settings><setting name="x-webhook-secret" value="{SECRET}" /></settings>',
        **endpoint,
    }
    created = api.post("serviceendpoints", json=body, headers={"Prefer": "return=representation"})
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["serviceendpointid"]
    step = {
        "name": f"step {message} {table}",
        "stage": 40,
        "mode": 1,
        "rank": 1,
        "supporteddeployment": 0,
        "asyncautodelete": True,
        "filteringattributes": filtering,
        "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint_id})",
        "sdkmessageid@odata.bind": f"/sdkmessages({dv.sdk_message_id(message)})",
    }
    if table is not None:
        step["sdkmessagefilterid@odata.bind"] = (
            f"/sdkmessagefilters({dv.sdk_message_filter_id(message, table)})"
        )
    response = api.post("sdkmessageprocessingsteps", json=step, headers={"Prefer": "return=representation"})
    assert response.status_code == 201, response.text
    return str(response.json()["sdkmessageprocessingstepid"])


def target(body: dict[str, Any]) -> Any:
    return next(p["value"] for p in body["InputParameters"] if p["key"] == "Target")


def attributes(body: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: a["value"] for a in target(body)["Attributes"]}


def settle(dv: DataverseEmulator) -> None:
    assert dv.wait_webhooks_idle(10)


def patch(api: DataverseApi, url: str, body: dict[str, Any]) -> None:
    response = api.patch(url, json=body, headers={"If-Match": "*"})
    assert response.status_code == 204, response.text
