"""MappingSettingsStore contract: absent reads as no overrides, insert-if-absent, IfNotModified."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sync_core.errors import AlreadyExistsError, ConflictError
from sync_core.mapping.overrides import MappingOverrides
from sync_core.state.mapping_settings import (
    MappingSettingsStore,
    MemoryMappingSettingsStore,
    mapping_settings_store,
)

MAPPING = "UNIT OF MEASURE"
FULL = MappingOverrides(
    update_conflict_resolution="send",
    deletion_conflict_resolution="restore",
    synch_only_coupled=False,
    table_filter="blocked eq '_'",
    integration_table_filter="",
    enabled_fields=frozenset({"fax", "telephone2"}),
    disabled_fields=frozenset({"name"}),
)


@pytest.fixture(params=["memory", pytest.param("tables", marks=pytest.mark.azurite)])
def store(request: pytest.FixtureRequest, table_prefix: str) -> MappingSettingsStore:
    if request.param == "memory":
        return MemoryMappingSettingsStore()
    return mapping_settings_store(request.getfixturevalue("storage_conn"), table_prefix)


def test_unknown_mapping_has_no_overrides_and_no_etag(store: MappingSettingsStore) -> None:
    got = store.get(MAPPING)
    assert got == MappingOverrides() and got.etag is None and got.is_empty()


def test_first_save_inserts_and_reads_back_every_setting(store: MappingSettingsStore) -> None:
    saved = store.save(MAPPING, FULL)
    assert saved == FULL and saved.etag
    got = store.get(MAPPING)
    assert got == FULL and got.etag == saved.etag
    assert got.integration_table_filter == ""  # an empty filter is kept (it clears the catalog's)
    assert store.get("CUSTOMER") == MappingOverrides()


def test_save_with_the_read_etag_replaces(store: MappingSettingsStore) -> None:
    first = store.save(MAPPING, FULL)
    second = store.save(MAPPING, replace(first, synch_only_coupled=None, disabled_fields=frozenset()))
    assert second.etag != first.etag
    got = store.get(MAPPING)
    assert got.synch_only_coupled is None and got.disabled_fields == frozenset()
    assert got.update_conflict_resolution == "send"


def test_stale_etag_raises_conflict(store: MappingSettingsStore) -> None:
    first = store.save(MAPPING, FULL)
    newer = store.save(MAPPING, replace(first, table_filter="x eq 1"))
    with pytest.raises(ConflictError):
        store.save(MAPPING, replace(first, table_filter="x eq 2"))
    assert store.get(MAPPING) == newer


def test_concurrent_first_insert_raises_already_exists(store: MappingSettingsStore) -> None:
    winner = store.save(MAPPING, MappingOverrides(synch_only_coupled=True))
    with pytest.raises(AlreadyExistsError):
        store.save(MAPPING, MappingOverrides(synch_only_coupled=False))
    assert store.get(MAPPING) == winner


def test_special_characters_in_mapping_names(store: MappingSettingsStore) -> None:
    for name in ("SALES/ORDER#1?", "ITEM-PRODUCT", "100%"):
        store.save(name, MappingOverrides(table_filter=name))
    for name in ("SALES/ORDER#1?", "ITEM-PRODUCT", "100%"):
        assert store.get(name).table_filter == name


def test_all_reads_every_mapping_with_settings_in_one_call(store: MappingSettingsStore) -> None:
    assert dict(store.all()) == {}  # nothing stored yet (no table yet, too)
    saved = store.save(MAPPING, FULL)
    other = store.save("SALES/ORDER #1", MappingOverrides(synch_only_coupled=True))
    got = store.all()
    assert set(got) == {MAPPING, "SALES/ORDER #1"}
    assert got[MAPPING] == FULL and got[MAPPING].etag == saved.etag
    assert got["SALES/ORDER #1"] == other and got["SALES/ORDER #1"].etag == other.etag
