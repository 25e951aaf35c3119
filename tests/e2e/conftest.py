"""End-to-end fixtures: a whole sandbox stack (own Azurite, authority, emulators) per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.odata.protocol import Request, Response
from sandbox.stack import SandboxStack, environment, start_stack
from sync_core.app import wiring


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    """A fresh stack with the app's settings in the environment and fresh worker services."""
    running = start_stack()
    try:
        with environment(running.settings()):
            wiring.reset()
            yield running
    finally:
        wiring.reset()
        running.stop()


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
