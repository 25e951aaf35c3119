"""Session-wide fixtures. Helpers live in ``sandbox/azurite.py``; keep this file small."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.azurite import Azurite, unique_name
from sync_core.state.stores import StateStores, memory_stores, table_stores


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One Azurite for the whole session, started only when a test asks for it."""
    server = Azurite().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def storage_conn(azurite: Azurite) -> str:
    return azurite.connection_string


@pytest.fixture
def table_prefix() -> str:
    """A unique alphanumeric table prefix: each test gets its own tables."""
    return unique_name("t")


@pytest.fixture(params=["memory", pytest.param("tables", marks=pytest.mark.azurite)])
def stores(request: pytest.FixtureRequest, table_prefix: str) -> StateStores:
    """The state stores, once in memory and once in Table Storage (Azurite)."""
    if request.param == "memory":
        return memory_stores()
    return table_stores(request.getfixturevalue("storage_conn"), table_prefix)
