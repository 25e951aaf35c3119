"""Lookups and option mappings resolved through couplings (BC §4.8).

A lookup field carries a BC code (``currencyCode``, ``salespersonCode``) on the BC side and the
coupled row's id on the Dataverse side (``_transactioncurrencyid_value``). BC -> Dataverse: the
code names a BC record (``<bc_code_field> eq '<code>'`` in the lookup mapping's BC entity) whose
coupling gives the Dataverse id; Dataverse -> BC: the id's coupling gives the BC record, whose
code is written. An option-mapped field does the same through an option mapping's couplings
(BC code row <-> option value). Blank stays blank; an uncoupled value fails the record with BC's
message, unless the field is "Clear Value on Failed Sync".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sync_core.errors import MappingError
from sync_core.mapping.model import FieldMapping, IntegrationTableMapping
from sync_core.mapping.transfer import destination_name
from sync_core.sync.context import SyncContext
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import Direction, eq


def field_label(api_name: str) -> str:
    """``salespersonCode`` -> ``Salesperson Code`` (BC's caption style for messages)."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", api_name).split()
    # BC keeps "of" lower-case inside a caption ("Base Unit of Measure", "Unit of Measure Code")
    # and abbreviates number as "No." ("Item No.", "Contact No.")
    return " ".join(
        w.lower() if i and w.lower() == "of" else "No." if w == "No" else w[:1].upper() + w[1:]
        for i, w in enumerate(words)
    )


class LookupResolver:
    """Resolves the lookup and option fields of one record's desired values (cached per instance:
    one message, or one full-sync chunk whose records share it)."""

    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self._bc_ids: dict[tuple[str, str], str | None] = {}
        self._base_units: dict[str, str] = {}
        self._lcy: dict[str, str] = {}

    def resolve(
        self, mapping: IntegrationTableMapping, direction: Direction, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        out = dict(values)
        for f in mapping.field_mappings(direction):
            name = destination_name(f, direction)
            if name not in out or not (f.lookup or f.option_map):
                continue
            resolved = self._one(f, direction, out[name])
            if resolved in (None, "") and f.not_null:
                del out[name]  # BC "Not Null": a blank is never written
            else:
                out[name] = resolved
        return out

    def _one(self, f: FieldMapping, direction: Direction, value: Any) -> Any:
        target = self.ctx.catalog.get(f.lookup or f.option_map)
        if direction == "to-dataverse":
            crm_id = self._crm_id(f, target, value)
            if crm_id is None or not (f.option_map or f.base_unit):
                return crm_id
            return self._base_unit(f, crm_id, str(value)) if f.base_unit else int(crm_id)
        return self._bc_code(f, target, value)

    def bc_code(self, f: FieldMapping, value: Any) -> str:
        """The BC code of a Dataverse lookup id or option value, through ``f``'s mapping's couplings."""
        return self._bc_code(f, self.ctx.catalog.get(f.lookup or f.option_map), value)

    def _bc_id(self, target: IntegrationTableMapping, code: str) -> str | None:
        key = (target.name, code)
        if key not in self._bc_ids:
            expr = eq(target.bc_code_field, code)
            rows = list(self.ctx.bc.list_rows(target.bc_entity, expr, ("id",)))
            self._bc_ids[key] = str(rows[0]["id"]) if rows else None
        return self._bc_ids[key]

    def coupled_crm_id(self, target: IntegrationTableMapping, code: str) -> str | None:
        """The Dataverse id coupled to the BC record ``code`` names in ``target``, or None."""
        bc_id = self._bc_id(target, code)
        coupling = self.ctx.stores.couplings.get_by_bc(target.name, bc_id) if bc_id else None
        return coupling.crm_id if coupling is not None and coupling.state == "coupled" else None

    def _crm_id(self, f: FieldMapping, target: IntegrationTableMapping, code: Any) -> str | None:
        code = "" if code is None else str(code).strip()
        if not code:
            return self.lcy_currency() if target.blank_code_is_lcy and f.lookup else None
        crm_id = self.coupled_crm_id(target, code)
        if crm_id is not None:
            return crm_id
        if f.clear_on_failed:
            return None
        raise MappingError(
            f"{field_label(f.bc_field)} {code} must be coupled to a record in Dataverse.",
            field=f.crm_field,
            remedy=f"Couple it or synchronize the {target.name} mapping first "
            f'(python -m sync_core run "{target.name}"), then retry the record.',
        )

    def _bc_code(self, f: FieldMapping, target: IntegrationTableMapping, value: Any) -> str:
        if value in (None, ""):
            return ""
        crm_id = str(value)
        coupling = self.ctx.stores.couplings.get_by_crm(target.name, crm_id)
        if coupling is None or coupling.state != "coupled":
            if target.blank_code_is_lcy and self._is_lcy_currency(target, crm_id):
                return ""  # the LCY currency in Dataverse is BC's blank currency code
            if f.clear_on_failed:
                return ""
            raise MappingError(
                f"The {target.crm_logical_name or target.crm_entity} {crm_id} in {f.crm_field} must be "
                "coupled to a record in Business Central.",
                field=f.bc_field,
                remedy=f"Couple it or synchronize the {target.name} mapping first, then retry the record.",
            )
        row = self.ctx.bc.get(target.bc_entity, coupling.bc_id)
        if row is None:
            raise MappingError(
                f"{field_label(f.bc_field)}: the coupled {target.name} record no longer exists in "
                "Business Central.",
                field=f.bc_field,
                remedy=f'Uncouple it (python -m sync_core uncouple "{target.name}" --crm-id {crm_id}).',
            )
        return str(row.fields.get(target.bc_code_field, ""))

    def _base_unit(self, f: FieldMapping, schedule_id: str, code: str) -> str:
        """BC §3.3: the unit of a ``NAV <code>`` schedule is its only unit, the base unit, quantity 1."""
        if schedule_id not in self._base_units:
            expr = f"_uomscheduleid_value eq {schedule_id} and isschedulebaseuom eq true"
            found = list(self.ctx.dataverse.iter_modified(ModifiedQuery("uoms", filter=expr, page_size=2)))
            if len(found) != 1 or float(found[0].fields.get("quantity") or 0) != 1.0:
                raise MappingError(
                    f"The unit group coupled to unit of measure {code} has no base unit with quantity 1 "
                    "in Dataverse.",
                    field=f.crm_field,
                    remedy=f"Give the unit group NAV {code} one base unit with quantity 1 (or synchronize "
                    f'the {f.lookup} mapping: python -m sync_core run "{f.lookup}"), then retry.',
                )
            self._base_units[schedule_id] = found[0].id
        return self._base_units[schedule_id]

    def lcy_currency(self) -> str | None:
        """BC's blank currency: the Dataverse row of the ``blank_code_is_lcy`` mapping with the LCY code."""
        lcy = self.ctx.reference.lcy_code() if self.ctx.reference else ""
        target = self.ctx.catalog.lcy_mapping()
        if not lcy or target is None:
            return None
        if lcy in self._lcy:
            return self._lcy[lcy]
        query = ModifiedQuery(target.crm_entity, filter=eq(target.crm_code_field, lcy))
        found = next(iter(self.ctx.dataverse.iter_modified(query)), None)
        if found is None:
            raise MappingError(
                f"The local currency {lcy} does not exist in Dataverse.",
                field=target.crm_key,
                remedy=f"Create the currency {lcy} in Dataverse (it is the organization's base currency "
                "in most setups), then retry.",
            )
        self._lcy[lcy] = found.id
        return found.id

    def _is_lcy_currency(self, target: IntegrationTableMapping, crm_id: str) -> bool:
        row = self.ctx.dataverse.get(target.crm_entity, crm_id)
        lcy = self.ctx.reference.lcy_code() if self.ctx.reference else ""
        return row is not None and str(row.fields.get(target.crm_code_field, "")).upper() == lcy.upper()


def bind_values(
    ctx: SyncContext, mapping: IntegrationTableMapping, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Dataverse write body: lookup ids as ``x@odata.bind: /<entityset>(<id>)`` (None clears)."""
    out = dict(values)
    for f in mapping.fields:
        if f.lookup and f.crm_write and f.crm_write in out and out[f.crm_write] not in (None, ""):
            entity_set = "uoms" if f.base_unit else ctx.catalog.get(f.lookup).crm_entity
            out[f.crm_write] = f"/{entity_set}({out[f.crm_write]})"
    return out
