"""Pure field transfer: source values -> desired destination values -> the changed ones."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sync_core.mapping.model import FieldMapping, IntegrationTableMapping
from sync_core.mapping.transforms import resolve, values_equal
from sync_core.vocabulary import Direction, eq


def _source_value(f: FieldMapping, direction: Direction, source: Mapping[str, Any]) -> Any:
    if direction == "to-dataverse":
        return f.constant if not f.bc_field else source.get(f.bc_field)
    return source.get(f.crm_field)


def destination_name(f: FieldMapping, direction: Direction) -> str:
    return f.crm_field if direction == "to-dataverse" else f.bc_field


def map_values(
    mapping: IntegrationTableMapping,
    direction: Direction,
    source: Mapping[str, Any],
    *,
    inserting: bool,
) -> dict[str, Any]:
    """Desired destination values (by destination read name) from a source row."""
    out: dict[str, Any] = {}
    for f in mapping.field_mappings(direction):
        if f.on_insert_only and not inserting:
            continue
        if direction == "to-bc" and not f.bc_field:
            continue  # a constant only flows to Dataverse
        out[destination_name(f, direction)] = resolve(f.transform)(_source_value(f, direction, source))
    return out


def changed_values(desired: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """Only the fields whose value differs from the destination's (BC writes no unchanged field)."""
    return {k: v for k, v in desired.items() if not values_equal(current.get(k), v)}


def writable_values(
    mapping: IntegrationTableMapping,
    values: Mapping[str, Any],
    creating: bool,
    direction: Direction = "to-dataverse",
) -> dict[str, Any]:
    """The Dataverse values a create (or an update) may send, by ``crm_access``.

    A create leaves out the "modify" (update-only) fields, an update the "insert" (create-only)
    ones; values no field mapping declares (a hook's) and values going to BC are kept.
    """
    if direction != "to-dataverse":
        return dict(values)
    withheld = {
        f.crm_field for f in mapping.fields if not (f.sent_on_create if creating else f.sent_on_update)
    }
    return {k: v for k, v in values.items() if k not in withheld}


def after_insert_values(mapping: IntegrationTableMapping, values: Mapping[str, Any]) -> dict[str, Any]:
    """The "modify" (update-only) values a create leaves out: written right after it (BC §6.1)."""
    later = {f.crm_field for f in mapping.fields if not f.sent_on_create}
    return {k: v for k, v in values.items() if k in later}


def write_names(
    mapping: IntegrationTableMapping, direction: Direction, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Rename read names to write names (``_x_value`` -> ``x@odata.bind``) for Dataverse writes."""
    if direction != "to-dataverse":
        return dict(values)
    renames = {f.crm_field: f.write_name for f in mapping.fields}
    return {renames.get(k, k): v for k, v in values.items()}


def match_filter(mapping: IntegrationTableMapping, desired: Mapping[str, Any]) -> str | None:
    """OData filter finding a Dataverse row with the same match-field values, or None."""
    parts = []
    for f in mapping.match_fields:
        value = desired.get(f.crm_field)
        if value in (None, ""):
            return None
        if f.lookup:  # a Dataverse id: a GUID literal, not a string
            value = uuid.UUID(str(value))
        parts.append(eq(f.crm_field, value))
    return " and ".join(parts) or None
