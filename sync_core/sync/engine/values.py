"""The values one record should have on the other side, and how they are written.

``RecordValues.desired`` is the record's transfer: the field mappings (``mapping.transfer``), then
the mapping's hooks (BC's hard-coded rules, ``mapping.hooks``), then the lookups through other
mappings' couplings (``lookups``). ``write_body`` turns desired values into a request body
(Dataverse write names and binds, BC blanks). Hooks that follow a coupling or read a related
Dataverse row get ``coupled_bc`` / ``crm_row``. One instance serves one message (its lookups,
reference rows and write rules are cached for it); ``on_the_fly`` synchronizes a record a document
needs through the engine's ``sync_record`` when the engine lends it.
"""

from __future__ import annotations

from typing import Any

from sync_core.mapping.hooks import HOOKS
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.mapping.rules_common import HookContext
from sync_core.mapping.transfer import map_values, write_names
from sync_core.sync.context import BcReferenceData, SyncContext
from sync_core.sync.engine.lookups import LookupResolver, bind_values
from sync_core.sync.engine.on_the_fly import OnTheFly, SyncRecord
from sync_core.sync.engine.outcome import to_bc_values, to_dataverse_values
from sync_core.sync.engine.rule_registry import WRITE_RULES
from sync_core.sync.engine.write_rules import WriteRule
from sync_core.vocabulary import TO_DATAVERSE, Direction, Record


class RecordValues:
    def __init__(
        self, ctx: SyncContext, sync_record: SyncRecord | None = None, lookups: LookupResolver | None = None
    ) -> None:
        self.ctx = ctx
        self.reference: BcReferenceData = ctx.reference or BcReferenceData(ctx.bc)
        self.lookups = lookups or LookupResolver(ctx)
        self.on_the_fly = OnTheFly(ctx, self.lookups, sync_record)
        self._rules: dict[str, WriteRule] = {}

    def desired(
        self,
        mapping: IntegrationTableMapping,
        direction: Direction,
        source: Record,
        inserting: bool,
        dest: Record | None = None,
    ) -> dict[str, Any]:
        values = map_values(mapping, direction, source.fields, inserting=inserting)
        hook_ctx = HookContext(
            direction,
            inserting,
            source,
            self.reference,
            self.ctx.clock().date(),
            destination=dest,
            coupled_bc=self.coupled_bc,
            crm_row=self.crm_row,
        )
        for name in mapping.hooks:
            values = HOOKS[name](hook_ctx, values)
        return self.lookups.resolve(mapping, direction, values)

    def write_body(
        self, mapping: IntegrationTableMapping, direction: Direction, values: dict, dest: Record | None = None
    ) -> dict:
        body = write_names(mapping, direction, values)
        if direction == TO_DATAVERSE:
            return bind_values(self.ctx, mapping, to_dataverse_values(body))
        return to_bc_values(body, dest.fields if dest else None)

    def coupled_bc(self, mapping_name: str, crm_id: str) -> dict[str, Any] | None:
        """The BC record coupled to a Dataverse id in a mapping, or None."""
        coupling = self.ctx.stores.couplings.get_by_crm(mapping_name, crm_id)
        if coupling is None or coupling.state != "coupled":
            return None
        found = self.ctx.bc.get(self.ctx.mapping(mapping_name).bc_entity, coupling.bc_id)
        return None if found is None else dict(found.fields)

    def crm_row(self, entity: str, crm_id: str) -> dict[str, Any] | None:
        """A Dataverse row by entity set and id, or None."""
        found = self.ctx.dataverse.get(entity, crm_id)
        return None if found is None else dict(found.fields)

    def write_rule(self, mapping: IntegrationTableMapping, direction: Direction) -> WriteRule | None:
        """The mapping's steps around a Dataverse write (``write_rule``), if any: one per mapping and
        message, so what a step found (a linked order) serves the next."""
        if not mapping.write_rule or direction != TO_DATAVERSE:
            return None
        if mapping.name not in self._rules:
            self._rules[mapping.name] = WRITE_RULES[mapping.write_rule](mapping)
        return self._rules[mapping.name]
