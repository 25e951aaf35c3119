"""Updating the coupled counterpart of a record (BC §4.1, §4.3, §4.4).

Only the fields whose value differs are written; a two-sided change of a bidirectional field is a
conflict (failed, unless the mapping's update-conflict resolution or the operator's direction
chooses the winner: then the write is forced and the stamps are back-dated so the other direction
still sees the other side's change). A coupled counterpart that no longer exists follows the
mapping's deletion-conflict resolution; "restore" is the caller's to do (``RestoreDestination``),
since it inserts the record again. A row the mapping's write rule says is read-only (a paid
invoice) is left alone: the record is skipped, nothing is written or failed.
"""

from __future__ import annotations

from sync_core.errors import MappingError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.mapping.transfer import changed_values, writable_values
from sync_core.state.ports import Coupling
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.bookkeeping import record_success
from sync_core.sync.engine.outcome import FORCE_REASONS, SAME_TIMESTAMP, Outcome, to_bc_values
from sync_core.sync.engine.values import RecordValues
from sync_core.sync.engine.write_rules import ReadOnlyRow
from sync_core.sync.messages import RecordMessage
from sync_core.vocabulary import TO_BC, TO_DATAVERSE, Direction, Record

CONFLICT_WINNER: dict[str, Direction] = {"send": TO_DATAVERSE, "get": TO_BC}


class RestoreDestination(Exception):
    """The coupled counterpart was deleted and the mapping restores it: the coupling is removed
    and the record is to be inserted again."""


class Updater:
    def __init__(self, ctx: SyncContext, values: RecordValues) -> None:
        self.ctx = ctx
        self.values = values

    def update(
        self,
        mapping: IntegrationTableMapping,
        msg: RecordMessage,
        source: Record,
        coupling: Coupling,
        dest: Record | None = None,
    ) -> Outcome:
        sink = self.ctx.sink(msg.direction)
        entity = mapping.destination_entity(msg.direction)
        dest = dest or sink.get(entity, coupling.destination_id(msg.direction))
        if dest is None:
            return self._coupled_to_deleted(mapping, coupling)
        changes = self._changes(mapping, msg, source, dest)
        forced = False  # a conflict resolved by force for this side (BC §4.3): stamps back-dated
        if changes and self._dest_changed(coupling, msg.direction, dest):
            verdict = self._conflict(mapping, msg, changes)
            if isinstance(verdict, Outcome):
                return verdict
            forced = verdict
        if not changes:
            record_success(self.ctx.stores.couplings, coupling, msg, source, dest)
            return Outcome("unchanged", destination_id=dest.id)
        body = self.values.write_body(mapping, msg.direction, changes, dest)
        rule = self.values.write_rule(mapping, msg.direction)
        if rule is not None:
            try:
                dest = rule.before_update(self.ctx, mapping.crm_entity, dest)
            except ReadOnlyRow as exc:  # BC: e.g. a paid invoice is never written again
                return Outcome("skipped", str(exc), dest.id)
        written = sink.update(entity, dest.id, body, etag=dest.etag or "*")
        if rule is not None:
            written = rule.after_write(self.ctx, mapping.crm_entity, source, written, frozenset(changes))
        record_success(self.ctx.stores.couplings, coupling, msg, source, written, forced=forced)
        return Outcome("modified", f"changed {', '.join(sorted(changes))}", dest.id)

    def _changes(
        self, mapping: IntegrationTableMapping, msg: RecordMessage, source: Record, dest: Record
    ) -> dict:
        """The desired values that differ from the destination's (BC writes no unchanged field)."""
        desired = self.values.desired(mapping, msg.direction, source, False, dest)
        desired = writable_values(mapping, desired, creating=False, direction=msg.direction)
        if msg.direction == TO_BC:
            desired = to_bc_values(desired, dest.fields)
        return changed_values(desired, dest.fields)

    @staticmethod
    def _dest_changed(coupling: Coupling, direction: Direction, dest: Record) -> bool:
        last = coupling.last_destination_modified_on(direction)
        return last is not None and dest.modified_on > last + SAME_TIMESTAMP

    @staticmethod
    def _conflict(mapping: IntegrationTableMapping, msg: RecordMessage, changes: dict) -> Outcome | bool:
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
        winner = CONFLICT_WINNER.get(mapping.update_conflict_resolution)
        if winner == msg.direction:
            return True  # this side wins: force-modify
        if winner is not None:
            return Outcome(
                "skipped", "changed on both sides; the other side wins (update-conflict resolution)"
            )
        f, entity = bidirectional[0], mapping.destination_entity(msg.direction)
        raise MappingError(
            f"Cannot update a record in the {entity} table. The mapping between "
            f"{f.bc_field} field on the {mapping.bc_entity} table and the {f.crm_field} field on the "
            f"{mapping.crm_entity} table is bi-directional, and one or both values have changed since "
            "the last synchronization.",
            field=f.crm_field,
            remedy=f'Choose the winner: python -m sync_core sync-now "{mapping.name}" --direction ... '
            "or set the mapping's update-conflict resolution (mapping-set).",
        )

    def _coupled_to_deleted(self, mapping: IntegrationTableMapping, coupling: Coupling) -> Outcome:
        resolution = mapping.deletion_conflict_resolution
        if resolution == "remove-coupling":  # BC: coupling deleted, nothing fails, nothing re-created
            self.ctx.stores.couplings.delete(coupling)
            return Outcome("uncoupled", "the coupled record was deleted; coupling removed")
        if resolution == "restore":
            self.ctx.stores.couplings.delete(coupling)
            raise RestoreDestination(mapping.name)
        raise MappingError(
            f"The {mapping.name} record cannot be updated because it is coupled to a deleted record.",
            remedy=f'Uncouple it (python -m sync_core uncouple "{mapping.name}" ...) or set the '
            "mapping's deletion-conflict resolution to restore or remove-coupling.",
        )
