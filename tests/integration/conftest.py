"""The emulators the integration tests talk to over real HTTP: one per module, reseeded per test.

A module uses them with ``pytestmark = pytest.mark.usefixtures("fresh_bc")`` (or ``fresh_dv``):
each test then starts from the seeded demo data, no knobs (latency, injected faults) and zeroed
request counters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.bc_emulator import BcEmulator
from sandbox.dataverse_emulator import DataverseEmulator
from tests.integration.emulator_clients import BC_TOKENS, dataverse_tokens
from tests.integration.test_dataverse_webhooks_support import Receiver


@pytest.fixture(scope="module")
def bc() -> Iterator[BcEmulator]:
    emulator = BcEmulator(token_verifier=BC_TOKENS.get)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def dv() -> Iterator[DataverseEmulator]:
    tokens: dict[str, dict[str, Any]] = {}
    emulator = DataverseEmulator(token_verifier=tokens.get)
    emulator.start()
    tokens.update(dataverse_tokens(emulator.url))
    yield emulator
    emulator.stop()


def _fresh(emulator: BcEmulator | DataverseEmulator) -> None:
    emulator.seed_demo()
    emulator.clear_knobs()
    emulator.reset_counters()


@pytest.fixture
def fresh_bc(bc: BcEmulator) -> None:
    _fresh(bc)


@pytest.fixture
def fresh_dv(dv: DataverseEmulator) -> None:
    _fresh(dv)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 (what Dataverse's webhook steps call)."""
    hook = Receiver()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()
