"""Mapping runtime settings laid over the catalog: merge, apply, effective catalog."""

from __future__ import annotations

import pytest

from sync_core.errors import DataError
from sync_core.mapping.catalog import Catalog
from sync_core.mapping.model import FieldMapping, IntegrationTableMapping
from sync_core.mapping.overrides import (
    EffectiveCatalog,
    MappingOverrides,
    apply_overrides,
    merge_overrides,
)
from sync_core.state.mapping_settings import MemoryMappingSettingsStore

MAPPING = IntegrationTableMapping(
    name="CUSTOMER",
    bc_entity="customers",
    crm_entity="accounts",
    crm_key="accountid",
    direction="bidirectional",
    table_filter="blocked eq '_'",
    fields=(
        FieldMapping("name", "displayName"),
        FieldMapping("telephone1", "phoneNumber"),
        FieldMapping("fax", "faxNo", enabled=False),
    ),
)


def test_no_overrides_is_the_catalog_mapping() -> None:
    assert apply_overrides(MAPPING, MappingOverrides()) is MAPPING


def test_scalars_replace_the_catalog_values() -> None:
    overrides = MappingOverrides(
        update_conflict_resolution="get",
        deletion_conflict_resolution="remove-coupling",
        synch_only_coupled=False,
        table_filter="",
        integration_table_filter="statecode eq 0",
    )
    got = apply_overrides(MAPPING, overrides)
    assert (got.update_conflict_resolution, got.deletion_conflict_resolution) == ("get", "remove-coupling")
    assert got.synch_only_coupled is False
    assert got.table_filter == "" and got.integration_table_filter == "statecode eq 0"
    assert got.fields == MAPPING.fields and got.name == MAPPING.name


def test_fields_are_switched_by_dataverse_attribute() -> None:
    overrides = MappingOverrides(enabled_fields=frozenset({"fax"}), disabled_fields=frozenset({"telephone1"}))
    got = apply_overrides(MAPPING, overrides)
    enabled = {f.crm_field: f.enabled for f in got.fields}
    assert enabled == {"name": True, "telephone1": False, "fax": True}
    assert [f.crm_field for f in got.field_mappings("to-dataverse")] == ["name", "fax"]


def test_an_unknown_attribute_is_named() -> None:
    with pytest.raises(DataError, match=r"no field mapping for Dataverse attribute.*websiteurl"):
        apply_overrides(MAPPING, MappingOverrides(disabled_fields=frozenset({"websiteurl"})))


def test_merge_keeps_what_is_not_named_and_switches_fields() -> None:
    current = MappingOverrides(synch_only_coupled=False, disabled_fields=frozenset({"name"}), etag='W/"1"')
    merged = merge_overrides(current, enable=["name"], disable=["fax"], table_filter="x eq 1")
    assert merged.synch_only_coupled is False and merged.table_filter == "x eq 1"
    assert merged.enabled_fields == {"name"} and merged.disabled_fields == {"fax"}
    assert merged.etag == 'W/"1"'  # the save is conditional on what was read
    assert merge_overrides(merged, synch_only_coupled=None) == merged  # None keeps the value


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"enable": ["fax"], "disable": ["fax"]}, "both enabled and disabled"),
        ({"update_conflict_resolution": "bc-wins"}, "update-conflict-resolution must be one of"),
        ({"deletion_conflict_resolution": "delete"}, "deletion-conflict-resolution must be one of"),
        ({"schedule": "5"}, "unknown mapping setting"),
    ],
)
def test_merge_refuses_bad_changes(kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        merge_overrides(MappingOverrides(), **kwargs)


def test_as_dict_shows_only_what_is_set() -> None:
    overrides = MappingOverrides(synch_only_coupled=False, disabled_fields=frozenset({"b", "a"}))
    assert overrides.as_dict() == {"synch_only_coupled": False, "disabled_fields": ["a", "b"]}
    assert MappingOverrides().as_dict() == {}


class CountingStore(MemoryMappingSettingsStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def all(self):  # type: ignore[no-untyped-def]
        self.reads += 1
        return super().all()


def test_effective_catalog_reads_every_setting_once_and_a_new_one_sees_changes() -> None:
    store = CountingStore()
    catalog = EffectiveCatalog(Catalog([MAPPING]), store)
    assert store.reads == 0  # nothing read until a mapping is asked for
    assert catalog.get("CUSTOMER").synch_only_coupled is True
    store.save("CUSTOMER", MappingOverrides(synch_only_coupled=False))
    assert catalog.get("CUSTOMER").synch_only_coupled is True  # one job's or message's view
    assert store.reads == 1
    fresh = EffectiveCatalog(Catalog([MAPPING]), store)  # the next job or message
    assert fresh.get("CUSTOMER").synch_only_coupled is False
    assert [m.synch_only_coupled for m in fresh] == [False]
    assert fresh.names() == ["CUSTOMER"] and store.reads == 2
