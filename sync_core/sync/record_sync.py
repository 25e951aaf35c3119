"""Record sync: one source record -> decide insert / update / unchanged / skip -> write -> couple.

Idempotent under at-least-once delivery: an insert first claims the coupling with the Dataverse id
it will use (insert-if-absent), so a redelivered or concurrent message finds the claim and either
completes it (the row exists under that id) or waits; it never creates a second row.
Transient errors propagate (the queue redelivers); permanent ones are recorded and swallowed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from sync_core.errors import (
    AlreadyExistsError,
    ConflictError,
    DataError,
    MappingError,
    PermanentError,
    TransientError,
)
from sync_core.mapping.hooks import HOOKS, HookContext
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.mapping.transfer import changed_values, map_values, match_filter, write_names
from sync_core.state.ports import Coupling, Direction, RecordOutcome
from sync_core.sync.context import BcReferenceData, SyncContext
from sync_core.sync.failures import record_failure, record_success
from sync_core.sync.messages import RecordMessage
from sync_core.systems.ports import ModifiedQuery, Record

log = logging.getLogger(__name__)

CLAIM_STALE_AFTER = timedelta(minutes=2)
SAME_TIMESTAMP = timedelta(milliseconds=10)  # BC: timestamps within 10 ms count as equal
MAX_REDECIDE = 3


@dataclass(frozen=True)
class Outcome:
    outcome: RecordOutcome
    message: str = ""
    destination_id: str = ""


def entity_of(mapping: IntegrationTableMapping, side: Direction) -> str:
    """Entity set of the destination of ``side``."""
    return mapping.crm_entity if side == "to-dataverse" else mapping.bc_entity


class RecordSynchronizer:
    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self.reference: BcReferenceData = ctx.reference or BcReferenceData(ctx.bc)

    def process(self, msg: RecordMessage) -> Outcome:
        mapping = self.ctx.catalog.get(msg.mapping)
        try:
            outcome = self._process(mapping, msg)
        except PermanentError as exc:
            outcome = self._failed(mapping, msg, exc)
        job_id = msg.job_id or f"adhoc-{self.ctx.clock():%Y%m%d}"
        self.ctx.stores.job_log.record_outcome(job_id, msg.source_id, outcome.outcome, outcome.message)
        log.info(
            "%s %s %s: %s%s",
            mapping.name,
            msg.direction,
            msg.source_id,
            outcome.outcome,
            f" ({outcome.message})" if outcome.outcome != "inserted" and outcome.message else "",
        )
        return outcome

    def _process(self, mapping: IntegrationTableMapping, msg: RecordMessage) -> Outcome:
        if not mapping.allows(msg.direction):
            raise DataError(
                f"The integration table mapping {mapping.name} is not configured for "
                f"{msg.direction} synchronization."
            )
        for _ in range(MAX_REDECIDE):
            try:
                return self._decide(mapping, msg)
            except ConflictError as exc:  # a row or coupling changed under us: re-read, re-decide
                log.info("%s %s: conflict (%s), re-deciding", mapping.name, msg.source_id, exc)
        raise TransientError(f"{mapping.name} {msg.source_id}: kept changing while synchronizing")

    def _coupling(self, mapping: IntegrationTableMapping, msg: RecordMessage) -> Coupling | None:
        store = self.ctx.stores.couplings
        if msg.direction == "to-dataverse":
            return store.get_by_bc(mapping.name, msg.source_id)
        return store.get_by_crm(mapping.name, msg.source_id)

    def _decide(self, mapping: IntegrationTableMapping, msg: RecordMessage) -> Outcome:
        coupling = self._coupling(mapping, msg)
        if coupling is not None and coupling.skipped and msg.reason != "restore":
            return Outcome("skipped", "the coupled record is marked Skipped")
        source_entity = entity_of(mapping, "to-bc" if msg.direction == "to-dataverse" else "to-dataverse")
        source = self.ctx.source(msg.direction).get(source_entity, msg.source_id)
        if source is None:
            return Outcome("skipped", "the source record no longer exists")
        if coupling is None:
            return self._uncoupled(mapping, msg, source)
        if coupling.state == "claimed":
            return self._resume_claim(mapping, msg, source, coupling)
        if self._unchanged_since_sync(coupling, msg, source):
            return Outcome("unchanged", destination_id=self._dest_id(coupling, msg.direction))
        return self._update(mapping, msg, source, coupling)

    @staticmethod
    def _dest_id(coupling: Coupling, direction: Direction) -> str:
        return coupling.crm_id if direction == "to-dataverse" else coupling.bc_id

    @staticmethod
    def _unchanged_since_sync(coupling: Coupling, msg: RecordMessage, source: Record) -> bool:
        last = coupling.bc_modified_on if msg.direction == "to-dataverse" else coupling.crm_modified_on
        status = coupling.status(msg.direction)
        if last is None or status.result == "failure" or msg.reason in ("command", "restore"):
            return False
        return source.modified_on <= last + SAME_TIMESTAMP

    def _desired(
        self, mapping: IntegrationTableMapping, direction: Direction, source: Record, inserting: bool
    ) -> dict:
        values = map_values(mapping, direction, source.fields, inserting=inserting)
        now = self.ctx.clock()
        hook_ctx = HookContext(direction, inserting, source, self.reference, now.date())
        for name in mapping.hooks:
            values = HOOKS[name](hook_ctx, values)
        return values

    # -- insert ---------------------------------------------------------------------------------

    def _uncoupled(self, mapping: IntegrationTableMapping, msg: RecordMessage, source: Record) -> Outcome:
        if msg.direction != "to-dataverse":
            return Outcome(
                "skipped",
                "the record is not coupled (creating it in Business Central "
                "is not available for this mapping)",
            )
        desired = self._desired(mapping, msg.direction, source, inserting=True)
        match = self._find_match(mapping, desired)
        if match is not None:
            coupling = self._claim(mapping, source.id, match.id, state="coupled")
            return self._update(mapping, msg, source, coupling, dest=match)
        may_create = not mapping.synch_only_coupled or mapping.create_new_if_no_match
        if not may_create and msg.reason not in ("full-sync", "command"):
            return Outcome("skipped", "the record is not coupled")
        coupling = self._claim(mapping, source.id, str(uuid.uuid4()), state="claimed")
        return self._create(mapping, msg, source, coupling, desired)

    def _find_match(self, mapping: IntegrationTableMapping, desired: dict) -> Record | None:
        expr = match_filter(mapping, desired)
        if expr is None:
            return None
        query = ModifiedQuery(entity=mapping.crm_entity, filter=expr, page_size=10)
        found = list(self.ctx.dataverse.iter_modified(query))
        if len(found) > 1:
            raise MappingError(
                f"{len(found)} rows in {mapping.crm_entity} match {expr}; cannot choose one.",
                field=mapping.match_fields[0].crm_field,
                remedy="Couple the record by hand (python -m sync_core couple) or make the "
                "match field unique in Dataverse.",
            )
        return found[0] if found else None

    def _claim(self, mapping: IntegrationTableMapping, bc_id: str, crm_id: str, *, state: str) -> Coupling:
        claim = Coupling(mapping.name, bc_id, crm_id, state=state, claimed_at=self.ctx.clock())  # type: ignore[arg-type]
        try:
            return self.ctx.stores.couplings.claim(claim)
        except AlreadyExistsError:
            if self.ctx.stores.couplings.get_by_bc(mapping.name, bc_id) is not None:
                raise ConflictError("coupled meanwhile by another worker") from None
            raise MappingError(
                f"The Dataverse row {crm_id} is already coupled to another record.",
                field=mapping.match_fields[0].crm_field if mapping.match_fields else "",
                remedy="Uncouple the other record first, or couple this one by hand.",
            ) from None

    def _resume_claim(
        self, mapping: IntegrationTableMapping, msg: RecordMessage, source: Record, coupling: Coupling
    ) -> Outcome:
        """A claim without a completed create: finish it if it is stale, else let its owner."""
        age = self.ctx.clock() - (coupling.claimed_at or self.ctx.clock())
        if age < CLAIM_STALE_AFTER:
            raise TransientError(f"{mapping.name} {source.id} is being created by another worker")
        existing = self.ctx.dataverse.get(mapping.crm_entity, coupling.crm_id)
        if existing is not None:
            coupled = self._save_synced(replace(coupling, state="coupled"), msg, source, existing)
            return self._update(mapping, msg, source, coupled, dest=existing)
        desired = self._desired(mapping, msg.direction, source, inserting=True)
        return self._create(mapping, msg, source, coupling, desired)

    def _create(
        self,
        mapping: IntegrationTableMapping,
        msg: RecordMessage,
        source: Record,
        coupling: Coupling,
        desired: dict,
    ) -> Outcome:
        body = write_names(mapping, msg.direction, desired)
        try:
            created = self.ctx.dataverse.create(mapping.crm_entity, body, record_id=coupling.crm_id)
        except AlreadyExistsError:
            created = self.ctx.dataverse.get(mapping.crm_entity, coupling.crm_id)
            if created is None:  # a unique key other than ours: not a redelivery of our create
                self.ctx.stores.couplings.delete(coupling)
                raise
        self._save_synced(replace(coupling, state="coupled"), msg, source, created)
        return Outcome("inserted", destination_id=created.id)

    # -- update ---------------------------------------------------------------------------------

    def _update(
        self,
        mapping: IntegrationTableMapping,
        msg: RecordMessage,
        source: Record,
        coupling: Coupling,
        dest: Record | None = None,
    ) -> Outcome:
        dest_id = self._dest_id(coupling, msg.direction)
        sink = self.ctx.sink(msg.direction)
        dest = dest or sink.get(entity_of(mapping, msg.direction), dest_id)
        if dest is None:
            return self._coupled_to_deleted(mapping, msg, source, coupling)
        desired = self._desired(mapping, msg.direction, source, inserting=False)
        changes = changed_values(desired, dest.fields)
        if not changes:
            self._save_synced(coupling, msg, source, dest)
            return Outcome("unchanged", destination_id=dest.id)
        body = write_names(mapping, msg.direction, changes)
        written = sink.update(entity_of(mapping, msg.direction), dest.id, body, etag=dest.etag or "*")
        self._save_synced(coupling, msg, source, written)
        return Outcome("modified", f"changed {', '.join(sorted(changes))}", dest.id)

    def _coupled_to_deleted(
        self, mapping: IntegrationTableMapping, msg: RecordMessage, source: Record, coupling: Coupling
    ) -> Outcome:
        resolution = mapping.deletion_conflict_resolution
        if resolution == "remove-coupling":
            self.ctx.stores.couplings.delete(coupling)
            return Outcome("skipped", "the coupled record was deleted; coupling removed")
        if resolution == "restore" and msg.direction == "to-dataverse":
            self.ctx.stores.couplings.delete(coupling)
            return self._uncoupled(mapping, replace(msg, reason="command"), source)
        raise MappingError(
            f"The {mapping.name} record cannot be updated because it is coupled to a deleted record.",
            remedy=f'Uncouple it (python -m sync_core uncouple "{mapping.name}" ...) or set '
            "the mapping's deletion-conflict resolution to restore or remove-coupling.",
        )

    def _save_synced(self, coupling: Coupling, msg: RecordMessage, source: Record, dest: Record) -> Coupling:
        return record_success(self.ctx.stores.couplings, coupling, msg, source, dest)

    def _failed(self, mapping: IntegrationTableMapping, msg: RecordMessage, exc: PermanentError) -> Outcome:
        skipped = record_failure(self.ctx, mapping, msg, exc)
        return Outcome("skipped" if skipped else "failed", exc.message)
