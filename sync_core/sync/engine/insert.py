"""Inserting the counterpart of an uncoupled record, without ever creating two.

To Dataverse: the coupling is claimed with the id the new row will get (insert-if-absent of both
lookups), then the row is created with that id; a redelivery finds the claim and either waits
(fresh claim) or completes it (stale: the row exists under that id, or is created with it).
To BC (ids are BC's): the claim is keyed ``pending-<crm id>``; once BC answers, the claim is moved
to the new BC id in one transaction. A claim left stale by a worker that died after BC created
the record is completed by finding that record through the mapping's match fields. An existing
counterpart with the same match-field values is coupled and updated instead (``Updater``).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from sync_core.errors import AlreadyExistsError, ConflictError, MappingError, PermanentError, TransientError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.mapping.transfer import after_insert_values, changed_values, match_filter, writable_values
from sync_core.state.ports import Coupling, CouplingState
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.bookkeeping import record_success
from sync_core.sync.engine.child_lines import ChildLineSync
from sync_core.sync.engine.outcome import INSERT_REASONS, Outcome
from sync_core.sync.engine.update import Updater
from sync_core.sync.engine.values import RecordValues
from sync_core.sync.messages import RecordMessage
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import TO_DATAVERSE, Record, bc_then_crm, eq, other

CLAIM_STALE_AFTER = timedelta(minutes=2)
PENDING = "pending-"


class ClaimHeld(TransientError):
    """The record's coupling is claimed by a create still in progress (or not stale yet)."""


class Inserter:
    def __init__(
        self, ctx: SyncContext, values: RecordValues, updater: Updater, children: ChildLineSync
    ) -> None:
        self.ctx = ctx
        self.values = values
        self.updater = updater
        self.children = children

    def insert_uncoupled(
        self, mapping: IntegrationTableMapping, msg: RecordMessage, source: Record
    ) -> Outcome:
        may_create = (
            not mapping.synch_only_coupled or mapping.create_new_if_no_match or msg.reason in INSERT_REASONS
        )
        rule = self.values.write_rule(mapping, msg.direction)
        if rule is not None and may_create:  # BC's checks before an insert; what it refers to
            rule.prepare_insert(self.ctx, source, self.values.on_the_fly)
        desired = self.values.desired(mapping, msg.direction, source, inserting=True)
        match = self._find_match(mapping, msg, desired)
        if match is not None:
            bc_id, crm_id = bc_then_crm(msg.direction, source.id, match.id)
            coupling = self._claim(mapping, bc_id, crm_id, state="coupled")
            return self.updater.update(mapping, msg, source, coupling, dest=match)
        if not may_create:
            return Outcome("skipped", "the record is not coupled (synch only coupled records)")
        if msg.direction == TO_DATAVERSE:
            self.children.before_insert(mapping, source)  # §6.1: every line must resolve first
            coupling = self._claim(mapping, source.id, str(uuid.uuid4()), state="claimed")
            return self._create_in_dataverse(mapping, msg, source, coupling, desired)
        coupling = self._claim(mapping, f"{PENDING}{source.id}", source.id, state="claimed")
        return self._create_in_bc(mapping, msg, source, coupling, desired)

    def resume_claim(
        self, mapping: IntegrationTableMapping, msg: RecordMessage, source: Record, coupling: Coupling
    ) -> Outcome:
        """A claim without a completed create: finish it if it is stale, else leave it to its owner."""
        age = self.ctx.clock() - (coupling.claimed_at or self.ctx.clock())
        if age < CLAIM_STALE_AFTER:
            raise ClaimHeld(f"{mapping.name} {source.id} is being created by another worker")
        desired = self.values.desired(mapping, msg.direction, source, inserting=True)
        store = self.ctx.stores.couplings
        if msg.direction == TO_DATAVERSE:
            existing = self.ctx.dataverse.get(mapping.crm_entity, coupling.crm_id)
            if existing is None:
                return self._create_in_dataverse(mapping, msg, source, coupling, desired)
            coupled = record_success(store, replace(coupling, state="coupled"), msg, source, existing)
            return _as_inserted(self.updater.update(mapping, msg, source, coupled, dest=existing))
        existing = self._find_match(mapping, msg, desired)
        if existing is None:
            return self._create_in_bc(mapping, msg, source, coupling, desired)
        moved = store.rekey_bc(replace(coupling, state="coupled"), existing.id)
        return _as_inserted(self.updater.update(mapping, msg, source, moved, dest=existing))

    # -- finding and claiming ---------------------------------------------------------------------

    def _find_match(
        self, mapping: IntegrationTableMapping, msg: RecordMessage, desired: dict
    ) -> Record | None:
        """An existing destination with the same match-field values (currency by ISO code, ...)."""
        if msg.direction == TO_DATAVERSE:
            expr, entity = match_filter(mapping, desired), mapping.crm_entity
        else:
            expr, entity = _bc_match_filter(mapping, desired), mapping.bc_entity
        system = self.ctx.source(other(msg.direction))  # the destination, read as a source
        if expr is None:
            return None
        found = list(system.iter_modified(ModifiedQuery(entity=entity, filter=expr, page_size=10)))
        if len(found) > 1:
            raise MappingError(
                f"{len(found)} rows in {entity} match {expr}; cannot choose one.",
                field=mapping.match_fields[0].crm_field,
                remedy="Couple the record by hand (python -m sync_core couple) or make the match "
                "field unique.",
            )
        return found[0] if found else None

    def _claim(
        self, mapping: IntegrationTableMapping, bc_id: str, crm_id: str, *, state: CouplingState
    ) -> Coupling:
        claim = Coupling(mapping.name, bc_id, crm_id, state=state, claimed_at=self.ctx.clock())
        store = self.ctx.stores.couplings
        try:
            return store.claim(claim)
        except AlreadyExistsError:
            stored = store.get_by_bc(mapping.name, bc_id)
            if (
                state == "claimed"
                and stored is not None
                and stored.state == state
                and stored.crm_id == crm_id
            ):
                return stored  # our own: the claim's transaction was sent again after it ran
            if stored is not None:  # this record: claimed meanwhile
                raise ConflictError("coupled meanwhile by another worker") from None
            raise MappingError(
                "The matching record is already coupled to another record.",
                field=mapping.match_fields[0].crm_field if mapping.match_fields else "",
                remedy="Uncouple the other record first, or couple this one by hand.",
            ) from None

    # -- creating ---------------------------------------------------------------------------------

    def _create_in_dataverse(
        self,
        mapping: IntegrationTableMapping,
        msg: RecordMessage,
        source: Record,
        coupling: Coupling,
        desired: dict,
    ) -> Outcome:
        body = self.values.write_body(
            mapping, msg.direction, writable_values(mapping, desired, creating=True)
        )
        rule = self.values.write_rule(mapping, msg.direction)
        if rule is not None:
            body = rule.before_insert(self.ctx, mapping.crm_entity, body, source)
        try:
            created = self.ctx.dataverse.create(mapping.crm_entity, body, record_id=coupling.crm_id)
        except AlreadyExistsError:
            existing = self.ctx.dataverse.get(mapping.crm_entity, coupling.crm_id)
            if existing is None:  # a unique key other than ours: not a redelivery of our create
                self.ctx.stores.couplings.delete(coupling)
                raise
            created = existing
        except PermanentError:  # refused: nothing was created, free the claim (a timeout keeps it)
            self.ctx.stores.couplings.delete(coupling)
            raise
        created = self._write_after_insert(mapping, desired, created)  # while the row is still editable
        if rule is not None:
            created = rule.after_write(self.ctx, mapping.crm_entity, source, created, None)
        return self._inserted(replace(coupling, state="coupled"), msg, source, created)

    def _write_after_insert(self, mapping: IntegrationTableMapping, desired: dict, created: Record) -> Record:
        """BC §6.1 "after insert": the update-only (``crm_access = "modify"``) values the create left
        out, in one PATCH when any differs from the new row (a redelivered create gets them too)."""
        changes = changed_values(after_insert_values(mapping, desired), created.fields)
        if not changes:
            return created
        body = self.values.write_body(mapping, TO_DATAVERSE, changes, created)
        return self.ctx.dataverse.update(mapping.crm_entity, created.id, body, etag=created.etag or "*")

    def _create_in_bc(
        self,
        mapping: IntegrationTableMapping,
        msg: RecordMessage,
        source: Record,
        coupling: Coupling,
        desired: dict,
    ) -> Outcome:
        store = self.ctx.stores.couplings
        try:
            created = self.ctx.bc.create(
                mapping.bc_entity, self.values.write_body(mapping, msg.direction, desired)
            )
        except PermanentError:  # refused: nothing was created, free the claim
            store.delete(coupling)
            raise
        except ConflictError as exc:  # a key (a number BC gives out) was taken meanwhile: try again later
            store.delete(coupling)
            raise TransientError(
                f"{mapping.name}: {exc.message}; the record will be created on a retry"
            ) from exc
        # a transient error keeps the claim: BC may have created the record; resume_claim finds it
        return self._inserted(
            store.rekey_bc(replace(coupling, state="coupled"), created.id), msg, source, created
        )

    def _inserted(self, coupling: Coupling, msg: RecordMessage, source: Record, created: Record) -> Outcome:
        record_success(self.ctx.stores.couplings, coupling, msg, source, created)
        return Outcome("inserted", destination_id=created.id)


def _as_inserted(outcome: Outcome) -> Outcome:
    """A claim completed late (its create was cut short) is still the record's insert: BC's job
    log counts it inserted, whether or not the row needed the last values written."""
    if outcome.outcome in ("modified", "unchanged"):
        return Outcome("inserted", outcome.message, outcome.destination_id)
    return outcome


def _bc_match_filter(mapping: IntegrationTableMapping, desired: dict) -> str | None:
    parts = []
    for f in mapping.match_fields:
        value = desired.get(f.bc_field)
        if not f.bc_field or value in (None, ""):
            return None
        parts.append(eq(f.bc_field, str(value)))
    return " and ".join(parts) or None
