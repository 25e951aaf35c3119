"""Inserting the counterpart of an uncoupled record, without ever creating two.

To Dataverse: the coupling is claimed with the id the new row will get (insert-if-absent of both
lookups), then the row is created with that id; a redelivery finds the claim and either waits
(fresh claim) or completes it (stale: the row exists under that id, or is created with it).
To BC (ids are BC's): the claim is keyed ``pending-<crm id>``; once BC answers, the claim is moved
to the new BC id in one transaction. A claim left stale by a worker that died after BC created
the record is completed by finding that record through the mapping's match fields.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from sync_core.errors import AlreadyExistsError, ConflictError, MappingError, PermanentError, TransientError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.mapping.transfer import after_insert_values, changed_values, match_filter, writable_values
from sync_core.state.ports import Coupling
from sync_core.sync.failures import record_success
from sync_core.sync.messages import RecordMessage
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import Record, eq

if TYPE_CHECKING:
    from sync_core.sync.record_sync import Outcome, RecordSynchronizer

CLAIM_STALE_AFTER = timedelta(minutes=2)
PENDING = "pending-"


def _outcome(kind: str, message: str = "", dest: str = "") -> Outcome:
    from sync_core.sync.record_sync import Outcome

    return Outcome(kind, message, dest)  # type: ignore[arg-type]


def insert_uncoupled(
    sync: RecordSynchronizer, mapping: IntegrationTableMapping, msg: RecordMessage, source: Record
) -> Outcome:
    from sync_core.sync.record_sync import INSERT_REASONS

    desired = sync.desired(mapping, msg.direction, source, inserting=True)
    match = _find_match(sync, mapping, msg, desired)
    if match is not None:
        bc_id, crm_id = (source.id, match.id) if msg.direction == "to-dataverse" else (match.id, source.id)
        coupling = _claim(sync, mapping, bc_id, crm_id, state="coupled")
        return sync.update(mapping, msg, source, coupling, dest=match)
    may_create = not mapping.synch_only_coupled or mapping.create_new_if_no_match
    if not may_create and msg.reason not in INSERT_REASONS:
        return _outcome("skipped", "the record is not coupled (synch only coupled records)")
    if msg.direction == "to-dataverse":
        sync.children.before_insert(mapping, source)  # §6.1: every line must resolve first
        coupling = _claim(sync, mapping, source.id, str(uuid.uuid4()), state="claimed")
        return _create_in_dataverse(sync, mapping, msg, source, coupling, desired)
    coupling = _claim(sync, mapping, f"{PENDING}{source.id}", source.id, state="claimed")
    return _create_in_bc(sync, mapping, msg, source, coupling, desired)


def _find_match(
    sync: RecordSynchronizer, mapping: IntegrationTableMapping, msg: RecordMessage, desired: dict
) -> Record | None:
    """An existing destination with the same match-field values (currency by ISO code, ...)."""
    if msg.direction == "to-dataverse":
        expr, entity, system = match_filter(mapping, desired), mapping.crm_entity, sync.ctx.dataverse
    else:
        expr, entity, system = _bc_match_filter(mapping, desired), mapping.bc_entity, sync.ctx.bc
    if expr is None:
        return None
    found = list(system.iter_modified(ModifiedQuery(entity=entity, filter=expr, page_size=10)))
    if len(found) > 1:
        raise MappingError(
            f"{len(found)} rows in {entity} match {expr}; cannot choose one.",
            field=mapping.match_fields[0].crm_field,
            remedy="Couple the record by hand (python -m sync_core couple) or make the match field unique.",
        )
    return found[0] if found else None


def _bc_match_filter(mapping: IntegrationTableMapping, desired: dict) -> str | None:
    parts = []
    for f in mapping.match_fields:
        value = desired.get(f.bc_field)
        if not f.bc_field or value in (None, ""):
            return None
        parts.append(eq(f.bc_field, str(value)))
    return " and ".join(parts) or None


def _claim(
    sync: RecordSynchronizer, mapping: IntegrationTableMapping, bc_id: str, crm_id: str, *, state: str
) -> Coupling:
    claim = Coupling(mapping.name, bc_id, crm_id, state=state, claimed_at=sync.ctx.clock())  # type: ignore[arg-type]
    store = sync.ctx.stores.couplings
    try:
        return store.claim(claim)
    except AlreadyExistsError:
        if store.get_by_bc(mapping.name, bc_id) is not None:  # this record: claimed meanwhile
            raise ConflictError("coupled meanwhile by another worker") from None
        raise MappingError(
            "The matching record is already coupled to another record.",
            field=mapping.match_fields[0].crm_field if mapping.match_fields else "",
            remedy="Uncouple the other record first, or couple this one by hand.",
        ) from None


def resume_claim(
    sync: RecordSynchronizer,
    mapping: IntegrationTableMapping,
    msg: RecordMessage,
    source: Record,
    coupling: Coupling,
) -> Outcome:
    """A claim without a completed create: finish it if it is stale, else leave it to its owner."""
    age = sync.ctx.clock() - (coupling.claimed_at or sync.ctx.clock())
    if age < CLAIM_STALE_AFTER:
        raise TransientError(f"{mapping.name} {source.id} is being created by another worker")
    desired = sync.desired(mapping, msg.direction, source, inserting=True)
    if msg.direction == "to-dataverse":
        existing = sync.ctx.dataverse.get(mapping.crm_entity, coupling.crm_id)
        if existing is None:
            return _create_in_dataverse(sync, mapping, msg, source, coupling, desired)
        coupled = record_success(
            sync.ctx.stores.couplings, replace(coupling, state="coupled"), msg, source, existing
        )
        return sync.update(mapping, msg, source, coupled, dest=existing)
    existing = _find_match(sync, mapping, msg, desired)
    if existing is None:
        return _create_in_bc(sync, mapping, msg, source, coupling, desired)
    moved = sync.ctx.stores.couplings.rekey_bc(replace(coupling, state="coupled"), existing.id)
    return sync.update(mapping, msg, source, moved, dest=existing)


def _create_in_dataverse(
    sync: RecordSynchronizer,
    mapping: IntegrationTableMapping,
    msg: RecordMessage,
    source: Record,
    coupling: Coupling,
    desired: dict,
) -> Outcome:
    body = sync.write_body(mapping, msg.direction, writable_values(mapping, desired, creating=True))
    rule = sync.write_rule(mapping, msg.direction)
    if rule is not None:
        body = rule.before_insert(sync.ctx, mapping.crm_entity, body)
    try:
        created = sync.ctx.dataverse.create(mapping.crm_entity, body, record_id=coupling.crm_id)
    except AlreadyExistsError:
        created = sync.ctx.dataverse.get(mapping.crm_entity, coupling.crm_id)
        if created is None:  # a unique key other than ours: not a redelivery of our create
            sync.ctx.stores.couplings.delete(coupling)
            raise
    except PermanentError:  # refused: nothing was created, free the claim (a timeout keeps it)
        sync.ctx.stores.couplings.delete(coupling)
        raise
    created = _write_after_insert(sync, mapping, desired, created)  # while the row is still editable
    if rule is not None:
        created = rule.after_write(sync.ctx, mapping.crm_entity, source, created, None)
    record_success(sync.ctx.stores.couplings, replace(coupling, state="coupled"), msg, source, created)
    return _outcome("inserted", dest=created.id)


def _write_after_insert(
    sync: RecordSynchronizer, mapping: IntegrationTableMapping, desired: dict, created: Record
) -> Record:
    """BC §6.1 "after insert": the update-only (``crm_access = "modify"``) values the create left
    out, in one PATCH when any differs from the new row (a redelivered create gets them too)."""
    changes = changed_values(after_insert_values(mapping, desired), created.fields)
    if not changes:
        return created
    body = sync.write_body(mapping, "to-dataverse", changes, created)
    return sync.ctx.dataverse.update(mapping.crm_entity, created.id, body, etag=created.etag or "*")


def _create_in_bc(
    sync: RecordSynchronizer,
    mapping: IntegrationTableMapping,
    msg: RecordMessage,
    source: Record,
    coupling: Coupling,
    desired: dict,
) -> Outcome:
    try:
        created = sync.ctx.bc.create(mapping.bc_entity, sync.write_body(mapping, msg.direction, desired))
    except PermanentError:  # refused: nothing was created, free the claim
        sync.ctx.stores.couplings.delete(coupling)
        raise
    except ConflictError as exc:  # a key (a number BC gives out) was taken meanwhile: try again later
        sync.ctx.stores.couplings.delete(coupling)
        raise TransientError(f"{mapping.name}: {exc.message}; the record will be created on a retry") from exc
    # a transient error keeps the claim: BC may have created the record; resume_claim finds it
    moved = sync.ctx.stores.couplings.rekey_bc(replace(coupling, state="coupled"), created.id)
    record_success(sync.ctx.stores.couplings, moved, msg, source, created)
    return _outcome("inserted", dest=created.id)
