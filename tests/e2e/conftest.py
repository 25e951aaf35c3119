"""End-to-end fixtures: a whole sandbox stack (own Azurite, authority, emulators) per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.stack import SandboxStack, environment, start_stack
from sync_core import wiring


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
