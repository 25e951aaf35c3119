"""End-to-end fixtures: a whole sandbox stack (own Azurite, authority, emulators) per test."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import function_app
from sandbox.odata.protocol import Request, Response
from sandbox.runner import LocalRunner
from sandbox.stack import SandboxStack, environment, start_stack
from sync_core.app import wiring

ROOT = Path(__file__).resolve().parent.parent.parent


@contextlib.contextmanager
def serving(running: SandboxStack) -> Iterator[SandboxStack]:
    """``running`` with the app's settings in the environment and fresh worker services; stopped after."""
    try:
        with environment(running.settings()):
            wiring.reset()
            yield running
    finally:
        wiring.reset()
        running.stop()


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    """A fresh stack with the app's settings in the environment and fresh worker services."""
    with serving(start_stack()) as running:
        yield running


@pytest.fixture
def runner(stack: SandboxStack) -> Iterator[LocalRunner]:
    """The function app served by the local runner (HTTP routes and queue polling; no timer)."""
    host = json.loads((ROOT / "host.json").read_text())
    local = LocalRunner(function_app.app, host_json=host)
    local.start(http=True, timers=False, queues=True)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def dv_writes(stack: SandboxStack, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any]]:
    """Every POST / PATCH the Dataverse emulator receives: (method, entity set, JSON body)."""
    writes: list[tuple[str, str, Any]] = []
    route = stack.dataverse.route

    def logged(req: Request) -> Response:
        if req.method in ("POST", "PATCH"):
            writes.append((req.method, stack.dataverse.entity_of(req) or "", json.loads(req.body or b"null")))
        return route(req)

    monkeypatch.setattr(stack.dataverse, "route", logged)
    return writes
