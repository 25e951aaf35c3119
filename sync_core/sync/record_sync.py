"""Record sync: one source record -> decide insert / update / unchanged / skip -> write -> couple.

Idempotent under at-least-once delivery: an insert first claims the coupling (insert-if-absent),
so a redelivered or concurrent message finds the claim and either completes it or waits; it never
creates a second row (see ``record_insert``). Transient errors propagate (the queue redelivers);
permanent ones are recorded with mapping, record, field and remedy, and swallowed.

Reasons (``RecordMessage.reason``): scheduled ones (modified, retry, webhook) follow the mapping's
rules; ``full-sync`` inserts uncoupled records; ``command`` (sync-now, create-in-...) and
``restore`` also force the write: no unchanged shortcut, and on a conflict their direction wins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sync_core.errors import ConflictError, DataError, MappingError, PermanentError, TransientError
from sync_core.mapping.hooks import HOOKS
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.mapping.rules_common import HookContext, IgnoredRecord
from sync_core.mapping.transfer import changed_values, map_values, writable_values, write_names
from sync_core.state.ports import Coupling, RecordOutcome
from sync_core.sync.child_lines import ChildLineSync, refuse_alone
from sync_core.sync.context import BcReferenceData, SyncContext
from sync_core.sync.failures import record_failure, record_success
from sync_core.sync.lookups import LookupResolver, bind_values
from sync_core.sync.messages import RecordMessage
from sync_core.sync.resync import resync_dependents
from sync_core.sync.write_rules import WRITE_RULES, WriteRule
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import Direction, Record

log = logging.getLogger(__name__)

SAME_TIMESTAMP = timedelta(milliseconds=10)  # BC: timestamps within 10 ms count as equal
MAX_REDECIDE = 3
FORCE_REASONS = frozenset({"command", "restore"})
INSERT_REASONS = frozenset({"full-sync", "command", "restore"})


@dataclass(frozen=True)
class Outcome:
    outcome: RecordOutcome
    message: str = ""
    destination_id: str = ""


BC_BLANK_DATE = "0001-01-01"


def to_dataverse_values(values: dict[str, Any]) -> dict[str, Any]:
    """BC's blank date is Dataverse's null."""
    return {k: (None if v == BC_BLANK_DATE else v) for k, v in values.items()}


def to_bc_values(values: dict[str, Any], current: Any = None) -> dict[str, Any]:
    """Dataverse null is BC's blank: 0 / false / "" by the field's current type; omitted on insert."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is not None:
            out[key] = value
        elif current is not None:
            existing = current.get(key)
            out[key] = False if isinstance(existing, bool) else 0 if isinstance(existing, int | float) else ""
    return out


def other(direction: Direction) -> Direction:
    return "to-bc" if direction == "to-dataverse" else "to-dataverse"


def entity_of(mapping: IntegrationTableMapping, side: Direction) -> str:
    """Entity set of the destination of ``side``."""
    return mapping.crm_entity if side == "to-dataverse" else mapping.bc_entity


class RecordSynchronizer:
    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self.reference: BcReferenceData = ctx.reference or BcReferenceData(ctx.bc)
        self.lookups = LookupResolver(ctx)
        self.children = ChildLineSync(self)

    def process(self, msg: RecordMessage) -> Outcome:
        mapping = self.ctx.mapping(msg.mapping)
        try:
            outcome = self._process(mapping, msg)
            if msg.direction == "to-dataverse":
                resync_dependents(self.ctx, mapping, msg.source_id, outcome.outcome)
        except IgnoredRecord as exc:  # BC's post-filter: never synchronized, not an error to fix
            outcome = Outcome("skipped", exc.message)
        except PermanentError as exc:
            outcome = self._failed(mapping, msg, exc)
        job_id = msg.job_id or f"adhoc-{self.ctx.clock():%Y%m%d}"
        self.ctx.stores.job_log.record_outcome(job_id, msg.source_id, outcome.outcome, outcome.message)
        detail = f" ({outcome.message})" if outcome.message and outcome.outcome != "inserted" else ""
        log.info("%s %s %s: %s%s", mapping.name, msg.direction, msg.source_id, outcome.outcome, detail)
        return outcome

    def _process(self, mapping: IntegrationTableMapping, msg: RecordMessage) -> Outcome:
        refuse_alone(self.ctx.catalog, mapping)
        if not mapping.allows(msg.direction):
            raise DataError(
                f"The integration table mapping {mapping.name} is not configured for "
                f"{msg.direction} synchronization."
            )
        if not mapping.field_mappings(msg.direction):
            raise DataError(
                f"There are no field mapping rows for the integration table mapping {mapping.name}."
            )
        for _ in range(MAX_REDECIDE):
            try:
                return self.children.after_parent(mapping, msg, self._decide(mapping, msg))
            except ConflictError as exc:  # a row or coupling changed under us: re-read, re-decide
                log.info("%s %s: conflict (%s), re-deciding", mapping.name, msg.source_id, exc)
        raise TransientError(f"{mapping.name} {msg.source_id}: kept changing while synchronizing")

    def coupling_of(self, mapping: IntegrationTableMapping, msg: RecordMessage) -> Coupling | None:
        store = self.ctx.stores.couplings
        if msg.direction == "to-dataverse":
            return store.get_by_bc(mapping.name, msg.source_id)
        return store.get_by_crm(mapping.name, msg.source_id)

    def _decide(self, mapping: IntegrationTableMapping, msg: RecordMessage) -> Outcome:
        from sync_core.sync import record_insert

        if mapping.kind == "option":
            from sync_core.sync import option_sync

            return option_sync.sync_option_record(self, mapping, msg)

        coupling = self.coupling_of(mapping, msg)
        if coupling is not None and coupling.skipped:
            if msg.reason != "restore":
                return Outcome("skipped", "the coupled record is marked Skipped")
            coupling = self.ctx.stores.couplings.save(replace(coupling, skipped=False))
        source = self._source(mapping, msg)
        if source is None:
            return Outcome("skipped", "the source record no longer exists or is outside the mapping's filter")
        if coupling is None:
            return record_insert.insert_uncoupled(self, mapping, msg, source)
        if coupling.state == "claimed":
            return record_insert.resume_claim(self, mapping, msg, source, coupling)
        if self._unchanged_since_sync(coupling, msg, source):
            return Outcome("unchanged", destination_id=self.dest_id(coupling, msg.direction))
        return self.update(mapping, msg, source, coupling)

    def _source(self, mapping: IntegrationTableMapping, msg: RecordMessage) -> Record | None:
        """The source record; a webhook's record must also pass the mapping's filter (jobs filter already)."""
        entity = entity_of(mapping, other(msg.direction))
        table_filter = (
            mapping.table_filter if msg.direction == "to-dataverse" else mapping.integration_table_filter
        )
        if msg.reason != "webhook" or not table_filter:
            return self.ctx.source(msg.direction).get(entity, msg.source_id)
        key = "id" if msg.direction == "to-dataverse" else mapping.crm_key
        query = ModifiedQuery(entity, filter=f"{key} eq {msg.source_id} and ({table_filter})", page_size=2)
        return next(iter(self.ctx.source(msg.direction).iter_modified(query)), None)

    @staticmethod
    def dest_id(coupling: Coupling, direction: Direction) -> str:
        return coupling.crm_id if direction == "to-dataverse" else coupling.bc_id

    @staticmethod
    def _unchanged_since_sync(coupling: Coupling, msg: RecordMessage, source: Record) -> bool:
        last = coupling.bc_modified_on if msg.direction == "to-dataverse" else coupling.crm_modified_on
        status = coupling.status(msg.direction)
        if last is None or status.result == "failure" or msg.reason in FORCE_REASONS:
            return False
        return source.modified_on <= last + SAME_TIMESTAMP

    def desired(
        self,
        mapping: IntegrationTableMapping,
        direction: Direction,
        source: Record,
        inserting: bool,
        dest: Record | None = None,
    ) -> dict[str, Any]:
        values = map_values(mapping, direction, source.fields, inserting=inserting)
        today = self.ctx.clock().date()
        hook_ctx = HookContext(
            direction,
            inserting,
            source,
            self.reference,
            today,
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
        if direction == "to-dataverse":
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

    @staticmethod
    def write_rule(mapping: IntegrationTableMapping, direction: Direction) -> WriteRule | None:
        """The mapping's steps around a Dataverse write (``write_rule``), if any."""
        if not mapping.write_rule or direction != "to-dataverse":
            return None
        return WRITE_RULES[mapping.write_rule]()

    # -- update ---------------------------------------------------------------------------------

    def update(
        self,
        mapping: IntegrationTableMapping,
        msg: RecordMessage,
        source: Record,
        coupling: Coupling,
        dest: Record | None = None,
    ) -> Outcome:
        sink = self.ctx.sink(msg.direction)
        dest = dest or sink.get(entity_of(mapping, msg.direction), self.dest_id(coupling, msg.direction))
        if dest is None:
            return self._coupled_to_deleted(mapping, msg, source, coupling)
        desired = self.desired(mapping, msg.direction, source, False, dest)
        desired = writable_values(mapping, desired, creating=False, direction=msg.direction)
        if msg.direction == "to-bc":
            desired = to_bc_values(desired, dest.fields)
        changes = changed_values(desired, dest.fields)
        forced = False  # a conflict resolved by force for this side (BC §4.3): stamps back-dated
        if changes and self._dest_changed(coupling, msg.direction, dest):
            verdict = self._conflict(mapping, msg, changes)
            if isinstance(verdict, Outcome):
                return verdict
            forced = verdict
        if not changes:
            record_success(self.ctx.stores.couplings, coupling, msg, source, dest)
            return Outcome("unchanged", destination_id=dest.id)
        body = self.write_body(mapping, msg.direction, changes, dest)
        rule = self.write_rule(mapping, msg.direction)
        if rule is not None:
            dest = rule.before_update(self.ctx, mapping.crm_entity, dest)
        written = sink.update(entity_of(mapping, msg.direction), dest.id, body, etag=dest.etag or "*")
        if rule is not None:
            written = rule.after_write(self.ctx, mapping.crm_entity, source, written, frozenset(changes))
        record_success(self.ctx.stores.couplings, coupling, msg, source, written, forced=forced)
        return Outcome("modified", f"changed {', '.join(sorted(changes))}", dest.id)

    @staticmethod
    def _dest_changed(coupling: Coupling, direction: Direction, dest: Record) -> bool:
        last = coupling.crm_modified_on if direction == "to-dataverse" else coupling.bc_modified_on
        return last is not None and dest.modified_on > last + SAME_TIMESTAMP

    def _conflict(
        self, mapping: IntegrationTableMapping, msg: RecordMessage, changes: dict
    ) -> Outcome | bool:
        """Both sides changed (BC §4.3): the outcome that ends it, or whether this write overrides
        the other side's change (a force-modify: the operator's direction or the resolution's)."""
        if mapping.direction != "bidirectional":
            return False
        bidirectional = [
            f
            for f in mapping.field_mappings(msg.direction)
            if f.direction == "bidirectional" and (f.crm_field in changes or f.bc_field in changes)
        ]
        if not bidirectional:
            return False  # only unidirectional fields differ: no conflict
        if msg.reason in FORCE_REASONS:
            return True  # sync-now / restore: the chosen direction wins
        winner = {"send": "to-dataverse", "get": "to-bc"}.get(mapping.update_conflict_resolution)
        if winner == msg.direction:
            return True  # this side wins: force-modify
        if winner is not None:
            return Outcome(
                "skipped", "changed on both sides; the other side wins (update-conflict resolution)"
            )
        f = bidirectional[0]
        raise MappingError(
            f"Cannot update a record in the {entity_of(mapping, msg.direction)} table. The mapping between "
            f"{f.bc_field} field on the {mapping.bc_entity} table and the {f.crm_field} field on the "
            f"{mapping.crm_entity} table is bi-directional, and one or both values have changed since "
            "the last synchronization.",
            field=f.crm_field,
            remedy=f'Choose the winner: python -m sync_core sync-now "{mapping.name}" --direction ... '
            "or set the mapping's update-conflict resolution (mapping-set).",
        )

    def _coupled_to_deleted(
        self, mapping: IntegrationTableMapping, msg: RecordMessage, source: Record, coupling: Coupling
    ) -> Outcome:
        from sync_core.sync import record_insert

        resolution = mapping.deletion_conflict_resolution
        if resolution == "remove-coupling":  # BC: coupling deleted, nothing fails, nothing re-created
            self.ctx.stores.couplings.delete(coupling)
            return Outcome("uncoupled", "the coupled record was deleted; coupling removed")
        if resolution == "restore":
            self.ctx.stores.couplings.delete(coupling)
            return record_insert.insert_uncoupled(self, mapping, replace(msg, reason="command"), source)
        raise MappingError(
            f"The {mapping.name} record cannot be updated because it is coupled to a deleted record.",
            remedy=f'Uncouple it (python -m sync_core uncouple "{mapping.name}" ...) or set the '
            "mapping's deletion-conflict resolution to restore or remove-coupling.",
        )

    def _failed(self, mapping: IntegrationTableMapping, msg: RecordMessage, exc: PermanentError) -> Outcome:
        skipped = record_failure(self.ctx, mapping, msg, exc)
        return Outcome("skipped" if skipped else "failed", exc.message)
