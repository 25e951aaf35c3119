"""Loading the integration table mappings from TOML files, validated at load.

The default catalog is the ``*.toml`` files beside this module; ``load_catalog(extra_dirs)`` adds
(or overrides, by mapping name) files from other folders, so a deployment can change or extend
mappings without touching engine code. Every problem is a ``CatalogError`` naming the file and
the entry.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, get_args

from sync_core.errors import ConfigError
from sync_core.mapping.hooks import HOOKS
from sync_core.mapping.model import (
    WRITE_RULE_LOOKUPS,
    WRITE_RULES,
    CrmAccess,
    DeletionConflictResolution,
    FieldMapping,
    IntegrationTableMapping,
    MappingDirection,
    MappingKind,
    RecommendationRule,
    UncoupledLineProducts,
    UpdateConflictResolution,
)
from sync_core.mapping.transforms import resolve

CATALOG_DIR = Path(__file__).parent

_MAPPING_KEYS = {
    "name",
    "bc_entity",
    "crm_entity",
    "crm_key",
    "crm_logical_name",
    "direction",
    "fields",
    "table_filter",
    "integration_table_filter",
    "synch_only_coupled",
    "create_new_if_no_match",
    "dependencies",
    "hooks",
    "interval_minutes",
    "inactivity_timeout_minutes",
    "update_conflict_resolution",
    "deletion_conflict_resolution",
    "kind",
    "bc_code_field",
    "parent",
    "scheduled",
    "in_full_sync",
    "uncoupled_with",
    "write_rule",
    "resync_with",
    "recommendation_rule",
    "review_priority",
    "blank_code_is_lcy",
    "bc_navigation",
    "line_products",
    "uncoupled_line_products",
}
_FIELD_KEYS = {
    "crm_field",
    "bc_field",
    "direction",
    "transform",
    "constant",
    "enabled",
    "on_insert_only",
    "match",
    "crm_write",
    "lookup",
    "option_map",
    "clear_on_failed",
    "not_null",
    "base_unit",
    "crm_access",
}


class CatalogError(ConfigError):
    """A mapping file is invalid; the message says which file and which entry."""


class Catalog:
    def __init__(self, mappings: Iterable[IntegrationTableMapping]) -> None:
        self._by_name = {m.name: m for m in mappings}

    def get(self, name: str) -> IntegrationTableMapping:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name))
            raise CatalogError(f"unknown mapping {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self) -> Iterator[IntegrationTableMapping]:
        return iter(sorted(self._by_name.values(), key=lambda m: m.name))

    def lcy_mapping(self) -> IntegrationTableMapping | None:
        """The mapping whose blank BC code is the local currency (``blank_code_is_lcy``), if any."""
        return next((m for m in self if m.blank_code_is_lcy), None)

    def for_crm_entity(self, logical_name: str) -> list[IntegrationTableMapping]:
        return [m for m in self if logical_name in (m.crm_logical_name, m.crm_entity)]


def _check_keys(where: str, data: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _choice(where: str, value: Any, literal: Any, key: str) -> Any:
    options = get_args(literal)
    if value not in options:
        named = ", ".join(o for o in options if o) + (" (or empty)" if "" in options else "")
        raise CatalogError(f"{where}: {key} must be one of {named}, not {value!r}")
    return value


def _field(where: str, data: Mapping[str, Any], mapping_direction: str) -> FieldMapping:
    _check_keys(where, data, _FIELD_KEYS)
    if not data.get("crm_field"):
        raise CatalogError(f"{where}: crm_field is required")
    if not data.get("bc_field") and "constant" not in data:
        raise CatalogError(f"{where}: either bc_field or constant is required")
    direction = _choice(where, data.get("direction", mapping_direction), MappingDirection, "direction")
    if mapping_direction != "bidirectional" and direction != mapping_direction:
        raise CatalogError(
            f"{where}: direction {direction} contradicts the mapping's direction {mapping_direction}"
        )
    try:
        resolve(data.get("transform", ""))
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    _check_crm_access(where, data, direction)
    return FieldMapping(**{**data, "direction": direction})


def _check_crm_access(where: str, data: Mapping[str, Any], direction: str) -> None:
    """``crm_access`` is BC's ExternalAccess: only for a value written to Dataverse."""
    access = data.get("crm_access", "")
    if access not in get_args(CrmAccess):
        raise CatalogError(
            f"{where}: crm_access must be one of full, insert, modify (or empty), not {access!r}"
        )
    if access in ("", "full"):
        return
    if direction == "to-bc":
        raise CatalogError(f"{where}: crm_access {access} needs a field that is written to Dataverse")
    if access == "modify" and data.get("on_insert_only"):
        raise CatalogError(f"{where}: crm_access modify contradicts on_insert_only (never sent on create)")


def _check_choices(where: str, data: Mapping[str, Any]) -> None:
    _choice(where, data.get("kind", "table"), MappingKind, "kind")
    for key, literal in (
        ("update_conflict_resolution", UpdateConflictResolution),
        ("deletion_conflict_resolution", DeletionConflictResolution),
    ):
        _choice(where, data.get(key, "none"), literal, key)


def _mapping(path: Path, data: Mapping[str, Any]) -> IntegrationTableMapping:
    where = f"{path.name}"
    _check_keys(where, data, _MAPPING_KEYS)
    for key in ("name", "bc_entity", "crm_entity", "crm_key", "direction"):
        if not data.get(key):
            raise CatalogError(f"{where}: {key} is required")
    where = f"{path.name} [{data['name']}]"
    direction = _choice(where, data["direction"], MappingDirection, "direction")
    _check_choices(where, data)
    fields = tuple(_field(f"{where} fields[{i}]", f, direction) for i, f in enumerate(data.get("fields", [])))
    if not fields:
        raise CatalogError(f"{where}: a mapping needs at least one field mapping")
    seen: set[str] = set()
    for i, f in enumerate(fields):
        if f.crm_field in seen:
            raise CatalogError(f"{where} fields[{i}]: crm_field {f.crm_field} is mapped twice")
        seen.add(f.crm_field)
    if data.get("write_rule", "") not in ("", *WRITE_RULES):
        raise CatalogError(
            f"{where}: unknown write_rule {data['write_rule']!r} (known: {', '.join(WRITE_RULES)})"
        )
    unknown_hooks = [h for h in data.get("hooks", []) if h not in HOOKS]
    if unknown_hooks:
        raise CatalogError(f"{where}: unknown hook(s) {', '.join(unknown_hooks)}")
    values = {**data, "fields": fields, "direction": direction, "source_file": str(path)}
    for key in ("dependencies", "hooks", "uncoupled_with", "resync_with"):
        values[key] = tuple(data.get(key, ()))
    if values["uncoupled_with"] and len(values["uncoupled_with"]) != 2:
        raise CatalogError(f"{where}: uncoupled_with must be [parent mapping, Dataverse attribute]")
    if values["resync_with"] and len(values["resync_with"]) != 2:
        raise CatalogError(f"{where}: resync_with must be [parent mapping, BC field]")
    values["line_products"] = _declared_rules(where, data)
    return IntegrationTableMapping(**values)


def _declared_rules(where: str, data: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The full synchronization rules and line rules a mapping declares; returns its line products."""
    _choice(where, data.get("recommendation_rule", ""), RecommendationRule, "recommendation_rule")
    priority = data.get("review_priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
        raise CatalogError(f"{where}: review_priority must be a whole number >= 0, not {priority!r}")
    products = data.get("line_products", {})
    if not isinstance(products, Mapping) or not all(isinstance(v, str) for v in products.values()):
        raise CatalogError(f"{where}: line_products must be a table of BC line type = mapping name")
    if (products or data.get("bc_navigation")) and not data.get("parent"):
        raise CatalogError(f"{where}: line_products and bc_navigation are for a child mapping (parent)")
    uncoupled = data.get("uncoupled_line_products", "fail")
    _choice(where, uncoupled, UncoupledLineProducts, "uncoupled_line_products")
    if uncoupled != "fail" and not products:
        raise CatalogError(f"{where}: uncoupled_line_products needs line_products")
    return tuple(sorted(products.items()))


def _read(path: Path) -> IntegrationTableMapping:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path.name}: not valid TOML: {exc}") from None
    return _mapping(path, data)


def load_catalog(extra_dirs: Iterable[Path] = (), *, include_defaults: bool = True) -> Catalog:
    dirs = ([CATALOG_DIR] if include_defaults else []) + [Path(d) for d in extra_dirs]
    mappings: dict[str, IntegrationTableMapping] = {}
    for directory in dirs:
        for path in sorted(directory.glob("*.toml")):
            mapping = _read(path)
            mappings[mapping.name] = mapping
    for mapping in mappings.values():
        _check_references(mapping, mappings)
    _check_lcy(mappings.values())
    return Catalog(mappings.values())


def _check_lcy(mappings: Iterable[IntegrationTableMapping]) -> None:
    """At most one mapping names the local currency, and it maps its code to Dataverse."""
    declared = [m for m in mappings if m.blank_code_is_lcy]
    if len(declared) > 1:
        names = ", ".join(m.name for m in declared)
        raise CatalogError(f"blank_code_is_lcy is declared by {names}: one at most")
    for m in declared:
        if not m.crm_code_field:
            raise CatalogError(
                f"{Path(m.source_file).name} [{m.name}]: blank_code_is_lcy needs a bc_code_field mapped "
                "to a Dataverse attribute"
            )


def _check_references(
    mapping: IntegrationTableMapping, mappings: Mapping[str, IntegrationTableMapping]
) -> None:
    """Dependencies, parents, lookups and option maps must name mappings that can serve them."""
    where = f"{Path(mapping.source_file).name} [{mapping.name}]"
    parents = [mapping.parent] if mapping.parent else []
    products = [name for _, name in mapping.line_products]
    named = (
        *mapping.dependencies,
        *parents,
        *mapping.uncoupled_with[:1],
        *mapping.resync_with[:1],
        *products,
    )
    missing = [d for d in named if d not in mappings]
    if missing:
        raise CatalogError(f"{where}: dependency on unknown mapping(s) {', '.join(missing)}")
    for attribute in WRITE_RULE_LOOKUPS.get(mapping.write_rule, ()):
        if not any(f.crm_field == attribute and f.lookup for f in mapping.fields):
            raise CatalogError(
                f"{where}: write_rule {mapping.write_rule} needs {attribute} mapped through a lookup"
            )
    for line_type, name in mapping.line_products:
        if not mappings[name].bc_code_field:
            raise CatalogError(f"{where}: line_products {line_type} must name a mapping with a bc_code_field")
    for i, f in enumerate(mapping.fields):
        if f.lookup and (f.lookup not in mappings or not mappings[f.lookup].bc_code_field):
            raise CatalogError(
                f"{where} fields[{i}]: lookup {f.lookup!r} must name a mapping with a bc_code_field"
            )
        if f.base_unit and (
            f.direction != "to-dataverse" or not f.lookup or mappings[f.lookup].crm_entity != "uomschedules"
        ):
            raise CatalogError(
                f"{where} fields[{i}]: base_unit needs direction to-dataverse and a lookup through a "
                "mapping to uomschedules"
            )
        if f.option_map and (f.option_map not in mappings or mappings[f.option_map].kind != "option"):
            raise CatalogError(
                f"{where} fields[{i}]: option_map {f.option_map!r} must name an option mapping"
            )


@functools.cache
def default_catalog() -> Catalog:
    return load_catalog()
