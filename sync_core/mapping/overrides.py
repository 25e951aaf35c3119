"""A mapping's runtime settings (``mapping-set``), kept in storage and laid over the catalog.

Pure: the overrides are plain values, ``apply_overrides`` returns the effective mapping, and
``EffectiveCatalog`` shows a catalog with each mapping's overrides applied, as one read of every
mapping's settings (through any object with ``all() -> {mapping: MappingOverrides}``) found them.
A field mapping is named by its Dataverse attribute (``crm_field``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, get_args

from sync_core.errors import DataError
from sync_core.mapping.catalog import Catalog
from sync_core.mapping.model import (
    DeletionConflictResolution,
    IntegrationTableMapping,
    UpdateConflictResolution,
)

SCALARS = (
    "update_conflict_resolution",
    "deletion_conflict_resolution",
    "synch_only_coupled",
    "table_filter",
    "integration_table_filter",
)


@dataclass(frozen=True)
class MappingOverrides:
    """What an operator changed; ``None`` (or an empty set) keeps the catalog's value.

    ``etag`` is the stored row's, for an IfNotModified save; it takes no part in equality.
    """

    update_conflict_resolution: UpdateConflictResolution | None = None
    deletion_conflict_resolution: DeletionConflictResolution | None = None
    synch_only_coupled: bool | None = None
    table_filter: str | None = None
    integration_table_filter: str | None = None
    enabled_fields: frozenset[str] = frozenset()
    disabled_fields: frozenset[str] = frozenset()
    etag: str | None = field(default=None, compare=False)

    def is_empty(self) -> bool:
        return self == MappingOverrides()

    def as_dict(self) -> dict[str, Any]:
        """The settings that are set, JSON-friendly (sorted field lists)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in SCALARS if getattr(self, k) is not None}
        for name in ("enabled_fields", "disabled_fields"):
            if getattr(self, name):
                out[name] = sorted(getattr(self, name))
        return out


def check_choices(overrides: MappingOverrides) -> None:
    """DataError when a conflict resolution is not one of BC's values."""
    for name, literal in (
        ("update_conflict_resolution", UpdateConflictResolution),
        ("deletion_conflict_resolution", DeletionConflictResolution),
    ):
        value = getattr(overrides, name)
        if value is not None and value not in get_args(literal):
            raise DataError(f"{name.replace('_', '-')} must be one of {', '.join(get_args(literal))}")


def merge_overrides(
    current: MappingOverrides,
    *,
    enable: Iterable[str] = (),
    disable: Iterable[str] = (),
    **scalars: Any,
) -> MappingOverrides:
    """``current`` with the given scalar settings replaced and the named fields switched.

    A field named in both ``enable`` and ``disable`` is a DataError. The result keeps the
    current ETag (the save is conditional on it).
    """
    unknown = sorted(set(scalars) - set(SCALARS))
    if unknown:
        raise DataError(f"unknown mapping setting(s) {', '.join(unknown)}")
    on, off = frozenset(enable), frozenset(disable)
    both = sorted(on & off)
    if both:
        raise DataError(f"field(s) {', '.join(both)} cannot be both enabled and disabled")
    changes = {k: v for k, v in scalars.items() if v is not None}
    merged = replace(
        current,
        **changes,
        enabled_fields=(current.enabled_fields - off) | on,
        disabled_fields=(current.disabled_fields - on) | off,
    )
    check_choices(merged)
    return merged


def apply_overrides(mapping: IntegrationTableMapping, overrides: MappingOverrides) -> IntegrationTableMapping:
    """The effective mapping. An attribute no field mapping names is a DataError naming it."""
    known = {f.crm_field for f in mapping.fields}
    unknown = sorted((overrides.enabled_fields | overrides.disabled_fields) - known)
    if unknown:
        raise DataError(
            f"mapping {mapping.name} has no field mapping for Dataverse attribute(s) "
            f"{', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    check_choices(overrides)
    if overrides.is_empty():
        return mapping
    scalars = {k: getattr(overrides, k) for k in SCALARS if getattr(overrides, k) is not None}
    switched = tuple(
        replace(f, enabled=True)
        if f.crm_field in overrides.enabled_fields
        else replace(f, enabled=False)
        if f.crm_field in overrides.disabled_fields
        else f
        for f in mapping.fields
    )
    return replace(mapping, **scalars, fields=switched)


class OverridesSource(Protocol):
    def all(self) -> Mapping[str, MappingOverrides]: ...


class EffectiveCatalog(Catalog):
    """A catalog whose mappings carry their runtime settings, as stored when first asked.

    Every mapping's settings are read in one call, on the first ``get`` or iteration, and kept for
    the life of this object. Build one per job run or queue message (``Services.sync_context``
    does): what ``mapping-set`` changed applies from the next one on, in every worker, at the cost
    of one storage read per job or message.
    """

    def __init__(self, base: Catalog, settings: OverridesSource) -> None:
        super().__init__(base)
        self.base = base
        self.settings = settings
        self._effective: dict[str, IntegrationTableMapping] | None = None
        self._stored: Mapping[str, MappingOverrides] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> IntegrationTableMapping:
        mapping = self.base.get(name)
        with self._lock:
            if self._effective is None:
                self._stored, self._effective = self.settings.all(), {}
            effective = self._effective.get(mapping.name)
            if effective is None:
                overrides = self._stored.get(mapping.name, MappingOverrides())
                effective = self._effective[mapping.name] = apply_overrides(mapping, overrides)
        return effective

    def __iter__(self) -> Iterator[IntegrationTableMapping]:
        return iter([self.get(name) for name in self.names()])
