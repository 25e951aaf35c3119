"""Mapping runtime settings (``mapping-set``): the port, its in-memory twin and Table Storage.

Table ``<prefix>mappingsettings``: PartitionKey = mapping (through ``key_escape``), RowKey
``settings``; created on first use. Saves are ETag-safe: with the ETag of the row read, an
IfNotModified replace (ConflictError if it changed); without one, insert-if-absent
(AlreadyExistsError if a row appeared meanwhile). An unknown mapping reads as no overrides.
``all()`` reads every mapping's settings in one request: the workers take it once per job run or
queue message (``EffectiveCatalog``), so a change applies to the next one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from sync_core.errors import AlreadyExistsError, ConflictError
from sync_core.mapping.overrides import SCALARS, MappingOverrides
from sync_core.state.azure_common import LazyTable, mapped_errors
from sync_core.state.common import key_escape
from sync_core.state.storage_account import StorageRef
from sync_core.state.tables import check_prefix, table_client

ROW_KEY = "settings"
_LISTS = ("enabled_fields", "disabled_fields")


class MappingSettingsStore(Protocol):
    def get(self, mapping: str) -> MappingOverrides:
        """The stored overrides with their ETag; ``MappingOverrides()`` (etag None) if none."""
        ...

    def all(self) -> Mapping[str, MappingOverrides]:
        """Every mapping that has stored settings, with its overrides (one read)."""
        ...

    def save(self, mapping: str, overrides: MappingOverrides) -> MappingOverrides:
        """Write IfNotModified ``overrides.etag`` (insert-if-absent when None); returns the stored
        overrides with the new ETag. ConflictError when the row changed since it was read."""
        ...


def to_columns(overrides: MappingOverrides) -> dict[str, Any]:
    """Row columns: the scalars that are set, field lists as sorted JSON arrays."""
    columns: dict[str, Any] = {k: getattr(overrides, k) for k in SCALARS if getattr(overrides, k) is not None}
    for name in _LISTS:
        columns[name] = json.dumps(sorted(getattr(overrides, name)))
    return columns


def from_columns(row: dict[str, Any], etag: str | None) -> MappingOverrides:
    def listed(name: str) -> frozenset[str]:
        return frozenset(json.loads(row.get(name) or "[]"))

    return MappingOverrides(
        update_conflict_resolution=row.get("update_conflict_resolution"),
        deletion_conflict_resolution=row.get("deletion_conflict_resolution"),
        synch_only_coupled=row.get("synch_only_coupled"),
        table_filter=row.get("table_filter"),
        integration_table_filter=row.get("integration_table_filter"),
        enabled_fields=listed("enabled_fields"),
        disabled_fields=listed("disabled_fields"),
        etag=etag,
    )


class MemoryMappingSettingsStore:
    """The in-memory twin: same ETag rules, same normalization (via the row columns)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[dict[str, Any], str]] = {}
        self._version = 0

    def get(self, mapping: str) -> MappingOverrides:
        with self._lock:
            stored = self._rows.get(mapping)
        return MappingOverrides() if stored is None else from_columns(*stored)

    def all(self) -> Mapping[str, MappingOverrides]:
        with self._lock:
            rows = dict(self._rows)
        return {mapping: from_columns(*stored) for mapping, stored in rows.items()}

    def save(self, mapping: str, overrides: MappingOverrides) -> MappingOverrides:
        with self._lock:
            current = self._rows.get(mapping)
            if overrides.etag is None and current is not None:
                raise AlreadyExistsError(f"settings of mapping {mapping} were written meanwhile", status=409)
            if overrides.etag is not None and (current is None or current[1] != overrides.etag):
                raise ConflictError(f"settings of mapping {mapping} changed since read", status=412)
            self._version += 1
            etag = f'W/"settings-{self._version}"'
            self._rows[mapping] = (to_columns(overrides), etag)
        return replace(from_columns(*self._rows[mapping]), etag=etag)


class TableMappingSettingsStore:
    """MappingSettingsStore over one table (one row per mapping that has overrides)."""

    def __init__(self, table: TableClient) -> None:
        self._table = LazyTable(table)

    def get(self, mapping: str) -> MappingOverrides:
        with mapped_errors(f"read settings of mapping {mapping}"):
            try:
                row = self._table.client().get_entity(key_escape(mapping), ROW_KEY)
            except ResourceNotFoundError:
                return MappingOverrides()
        return from_columns(dict(row), row.metadata["etag"])

    def all(self) -> Mapping[str, MappingOverrides]:
        with mapped_errors("read the mapping settings"):
            rows = list(
                self._table.client().query_entities(
                    "RowKey eq @rk", parameters={"rk": ROW_KEY}, results_per_page=1000
                )
            )
        return {str(row["mapping"]): from_columns(dict(row), row.metadata["etag"]) for row in rows}

    def save(self, mapping: str, overrides: MappingOverrides) -> MappingOverrides:
        what = f"save settings of mapping {mapping}"
        entity = {"PartitionKey": key_escape(mapping), "RowKey": ROW_KEY, "mapping": mapping}
        entity.update(to_columns(overrides))
        client = self._table.client()
        with mapped_errors(what):
            try:
                if overrides.etag is None:
                    result = client.create_entity(entity)
                else:
                    result = client.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=overrides.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except ResourceExistsError as exc:
                raise AlreadyExistsError(f"{what}: written meanwhile", status=409) from exc
            except (ResourceModifiedError, ResourceNotFoundError) as exc:
                raise ConflictError(f"{what}: changed since read", status=412) from exc
        return replace(from_columns(entity, None), etag=str(result["etag"]))


def mapping_settings_store(conn_str: StorageRef, prefix: str = "bcsync") -> TableMappingSettingsStore:
    """The Table Storage store over ``<prefix>mappingsettings`` (no I/O until first use)."""
    check_prefix(prefix)
    return TableMappingSettingsStore(table_client(conn_str, f"{prefix}mappingsettings"))
