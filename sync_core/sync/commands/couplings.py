"""Coupling operations, in BC's vocabulary (§2.2, §4.4-§4.7): couple, uncouple, create in the
other system, synchronize now, restore skipped records, retry failed ones, match-based coupling.

Single-record operations finish before they return (they run the record synchronizer here,
reason "command"); work over many records enqueues one record message per record, as a mapping
job does, and the queue function finishes it. Refusals raise ``NotFoundError`` (a record, mapping
or coupling that does not exist), ``ConflictError`` (the records' state forbids it) or
``DataError`` (the request does not fit the mapping), with a message for the operator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from sync_core.errors import AlreadyExistsError, ConflictError, DataError, NotFoundError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.ports import Coupling
from sync_core.sync.commands.child_couplings import add_counts, child_mappings, uncouple_children
from sync_core.sync.commands.match_couple import MatchCoupleResult as MatchCoupleResult  # re-exported
from sync_core.sync.commands.match_couple import match_couple as match_couple  # re-exported
from sync_core.sync.commands.support import (
    PROGRESS_EVERY,
    MessageBatch,
    Progress,
    finish_run,
    mapping_of,
    require_direction,
    require_table_mapping,
    start_run,
)
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.insert import CLAIM_STALE_AFTER
from sync_core.sync.engine.record import RecordSynchronizer
from sync_core.sync.messages import RecordMessage
from sync_core.vocabulary import Direction

log = logging.getLogger(__name__)

SUCCESS = ("inserted", "modified", "unchanged")


@dataclass(frozen=True)
class CoupleResult:
    mapping: str
    bc_id: str
    crm_id: str
    coupled: bool  # False: the two records were already coupled to each other
    replaced_bc_id: str = ""  # the deleted BC record the Dataverse row was coupled to before


@dataclass(frozen=True)
class UncoupleResult:
    mapping: str
    uncoupled: int
    left_claimed: int = 0  # couplings whose counterpart is being created right now
    children: dict[str, int] = field(default_factory=dict)  # child couplings removed, per mapping


@dataclass(frozen=True)
class CommandResult:
    """One record synchronized now: its outcome and the counterpart's id."""

    mapping: str
    direction: Direction
    source_id: str
    destination_id: str
    outcome: str
    message: str
    job_id: str


@dataclass(frozen=True)
class EnqueueResult:
    mapping: str
    enqueued: int
    restored: int = 0
    job_ids: list[str] = field(default_factory=list)


def _one_id(bc_id: str | None, crm_id: str | None) -> None:
    if bool(bc_id) == bool(crm_id):
        raise DataError("name exactly one record: a BC id or a Dataverse (CRM) id")


def _find(
    ctx: SyncContext, m: IntegrationTableMapping, bc_id: str | None, crm_id: str | None
) -> Coupling | None:
    store = ctx.stores.couplings
    return store.get_by_bc(m.name, bc_id) if bc_id else store.get_by_crm(m.name, crm_id or "")


def _describe(bc_id: str | None, crm_id: str | None) -> str:
    return f"BC record {bc_id}" if bc_id else f"Dataverse row {crm_id}"


def _fresh_claim(ctx: SyncContext, coupling: Coupling) -> bool:
    if coupling.state != "claimed":
        return False
    return ctx.clock() - (coupling.claimed_at or ctx.clock()) < CLAIM_STALE_AFTER


# -- couple / uncouple ---------------------------------------------------------------------------


def couple(ctx: SyncContext, mapping: str, bc_id: str, crm_id: str) -> CoupleResult:
    """Couple two existing records; the next synchronization compares every field (§4.7)."""
    m = mapping_of(ctx, mapping)
    require_table_mapping(m)
    if ctx.bc.get(m.bc_entity, bc_id) is None:
        raise NotFoundError(f"There is no BC record {bc_id} in {m.bc_entity}.")
    if ctx.dataverse.get(m.crm_entity, crm_id) is None:
        raise NotFoundError(f"There is no Dataverse row {crm_id} in {m.crm_entity}.")
    store = ctx.stores.couplings
    by_bc = store.get_by_bc(m.name, bc_id)
    if by_bc is not None and by_bc.crm_id == crm_id and by_bc.state == "coupled":
        return CoupleResult(m.name, bc_id, crm_id, coupled=False)
    if by_bc is not None:
        raise ConflictError(
            f"The BC record {bc_id} is already coupled to the Dataverse row {by_bc.crm_id} in {m.name}.",
            remedy=f'Uncouple it first: python -m sync_core uncouple "{m.name}" --bc-id {bc_id}',
        )
    replaced = _free_crm_side(ctx, m, crm_id)
    try:
        store.claim(Coupling(m.name, bc_id, crm_id, state="coupled"))
    except AlreadyExistsError:
        raise ConflictError(f"{m.name}: one of the records was coupled meanwhile; try again.") from None
    log.info("%s: coupled bc %s to crm %s", m.name, bc_id, crm_id)
    return CoupleResult(m.name, bc_id, crm_id, coupled=True, replaced_bc_id=replaced)


def _free_crm_side(ctx: SyncContext, m: IntegrationTableMapping, crm_id: str) -> str:
    """A Dataverse row coupled to a BC record that no longer exists may be re-coupled (§4.7)."""
    by_crm = ctx.stores.couplings.get_by_crm(m.name, crm_id)
    if by_crm is None:
        return ""
    if by_crm.state != "coupled" or ctx.bc.get(m.bc_entity, by_crm.bc_id) is not None:
        raise ConflictError(
            f"The Dataverse row {crm_id} is already coupled to the BC record {by_crm.bc_id} in {m.name}.",
            remedy=f'Uncouple it first: python -m sync_core uncouple "{m.name}" --crm-id {crm_id}',
        )
    ctx.stores.couplings.delete(by_crm)
    log.info("%s: removed coupling of crm %s to deleted bc %s", m.name, crm_id, by_crm.bc_id)
    return by_crm.bc_id


def uncouple(
    ctx: SyncContext,
    mapping: str,
    *,
    bc_id: str | None = None,
    crm_id: str | None = None,
    all: bool = False,
    progress: Progress | None = None,
) -> UncoupleResult:
    """Delete couplings (table only; no record is changed on either side)."""
    m = mapping_of(ctx, mapping)
    if all:
        return _uncouple_all(ctx, m, progress)
    _one_id(bc_id, crm_id)
    coupling = _find(ctx, m, bc_id, crm_id)
    if coupling is None:
        raise NotFoundError(f"The {_describe(bc_id, crm_id)} is not coupled in {m.name}.")
    if _fresh_claim(ctx, coupling):
        raise ConflictError(f"The {_describe(bc_id, crm_id)} is being created right now; try again later.")
    ctx.stores.couplings.delete(replace(coupling, etag=None))
    return UncoupleResult(m.name, 1, children=uncouple_children(ctx, m.name, coupling.crm_id))


def _uncouple_all(ctx: SyncContext, m: IntegrationTableMapping, progress: Progress | None) -> UncoupleResult:
    removed = left = 0
    children: dict[str, int] = {}
    for coupling in ctx.stores.couplings.iter_mapping(m.name):
        if _fresh_claim(ctx, coupling):
            left += 1
            continue
        ctx.stores.couplings.delete(replace(coupling, etag=None))
        removed += 1
        if child_mappings(ctx, m.name):
            children = add_counts(children, uncouple_children(ctx, m.name, coupling.crm_id))
        if progress and removed % PROGRESS_EVERY == 0:
            progress(f"{m.name}: {removed} couplings removed")
    log.info("%s: %d couplings removed (%d being created left)", m.name, removed, left)
    return UncoupleResult(m.name, removed, left, children)


# -- single records now ----------------------------------------------------------------------------


def _run_command(
    ctx: SyncContext, m: IntegrationTableMapping, direction: Direction, source_id: str, what: str
) -> CommandResult:
    run = start_run(ctx, m.name, direction, f"command: {what}", "synchronization")
    outcome = RecordSynchronizer(ctx).process(
        RecordMessage(m.name, direction, source_id, run.job_id, "command")
    )
    finish_run(ctx, run, 1, f"command: {what}: {outcome.outcome}")
    if outcome.outcome not in SUCCESS:
        raise ConflictError(
            f"{m.name} {source_id} ({direction}): {outcome.outcome}: {outcome.message}",
            remedy=f'See python -m sync_core errors --mapping "{m.name}".',
        )
    return CommandResult(
        m.name, direction, source_id, outcome.destination_id, outcome.outcome, outcome.message, run.job_id
    )


def create_in_dataverse(ctx: SyncContext, mapping: str, bc_id: str) -> CommandResult:
    """BC's "Create in Dataverse": create the row for an uncoupled BC record and couple it."""
    m = mapping_of(ctx, mapping)
    require_table_mapping(m)
    require_direction(m, "to-dataverse")
    existing = ctx.stores.couplings.get_by_bc(m.name, bc_id)
    if existing is not None:
        raise ConflictError(f"The BC record {bc_id} is already coupled to {existing.crm_id} in {m.name}.")
    if ctx.bc.get(m.bc_entity, bc_id) is None:
        raise NotFoundError(f"There is no BC record {bc_id} in {m.bc_entity}.")
    return _run_command(ctx, m, "to-dataverse", bc_id, "create in Dataverse")


def create_in_bc(ctx: SyncContext, mapping: str, crm_id: str) -> CommandResult:
    """BC's "Create in Business Central": create the BC record for an uncoupled row and couple it."""
    m = mapping_of(ctx, mapping)
    require_table_mapping(m)
    require_direction(m, "to-bc")
    existing = ctx.stores.couplings.get_by_crm(m.name, crm_id)
    if existing is not None:
        raise ConflictError(f"The Dataverse row {crm_id} is already coupled to {existing.bc_id} in {m.name}.")
    if ctx.dataverse.get(m.crm_entity, crm_id) is None:
        raise NotFoundError(f"There is no Dataverse row {crm_id} in {m.crm_entity}.")
    return _run_command(ctx, m, "to-bc", crm_id, "create in Business Central")


def sync_now(
    ctx: SyncContext,
    mapping: str,
    direction: Direction,
    *,
    bc_id: str | None = None,
    crm_id: str | None = None,
) -> CommandResult:
    """Synchronize one coupled record now in ``direction``, forcing it over a conflict (§4.3)."""
    m = mapping_of(ctx, mapping)
    require_table_mapping(m)
    _one_id(bc_id, crm_id)
    require_direction(m, direction)
    coupling = _find(ctx, m, bc_id, crm_id)
    if coupling is None or coupling.state != "coupled":
        raise ConflictError(
            f"The {_describe(bc_id, crm_id)} is not coupled in {m.name}.",
            remedy="Couple it (couple, match-couple) or create its counterpart "
            "(create-in-dataverse, create-in-bc) first.",
        )
    if coupling.skipped:
        raise ConflictError(
            f"The {_describe(bc_id, crm_id)} is Skipped in {m.name}.",
            remedy=f'Restore it: python -m sync_core restore "{m.name}" ...',
        )
    source_id = coupling.source_id(direction)
    return _run_command(ctx, m, direction, source_id, f"synchronize now {direction}")


# -- restore / retry (enqueued) --------------------------------------------------------------------


def _failed_directions(m: IntegrationTableMapping, coupling: Coupling) -> list[Direction]:
    return [d for d in m.directions() if coupling.status(d).result == "failure"]


def _clear_skipped(ctx: SyncContext, coupling: Coupling) -> Coupling | None:
    store = ctx.stores.couplings
    for _ in range(3):
        try:
            return store.save(replace(coupling, skipped=False))
        except ConflictError:
            current = store.get_by_bc(coupling.mapping, coupling.bc_id)
            if current is None or not current.skipped:
                return current
            coupling = current
    raise ConflictError(f"coupling {coupling.mapping} bc {coupling.bc_id} kept changing; try again")


def _restore_one(
    ctx: SyncContext, m: IntegrationTableMapping, coupling: Coupling, batch: MessageBatch
) -> None:
    restored = _clear_skipped(ctx, coupling) or coupling
    for direction in _failed_directions(m, restored) or list(m.directions()):
        batch.add(direction, restored.source_id(direction))


def restore(
    ctx: SyncContext,
    mapping: str,
    *,
    bc_id: str | None = None,
    crm_id: str | None = None,
    all: bool = False,
    progress: Progress | None = None,
) -> EnqueueResult:
    """Clear Skipped and enqueue a "restore" message per record and failed direction (§4.5)."""
    m = mapping_of(ctx, mapping)
    batch = MessageBatch(ctx, m.name, "restore", "command: restore skipped records")
    restored = 0
    if all:
        for coupling in ctx.stores.couplings.iter_mapping(m.name):
            if coupling.skipped:
                _restore_one(ctx, m, coupling, batch)
                restored += 1
                if progress and restored % PROGRESS_EVERY == 0:
                    progress(f"{m.name}: {restored} skipped records restored")
    else:
        coupling = _coupled(ctx, m, bc_id, crm_id)
        if not coupling.skipped:
            raise ConflictError(
                f"The {_describe(bc_id, crm_id)} is not Skipped in {m.name}.",
                remedy="Use sync-now to synchronize it now, or retry for a failed record.",
            )
        _restore_one(ctx, m, coupling, batch)
        restored = 1
    batch.finish(f"command: restore {restored} skipped record(s)")
    return EnqueueResult(m.name, batch.total, restored, batch.job_ids())


def _coupled(ctx: SyncContext, m: IntegrationTableMapping, bc_id: str | None, crm_id: str | None) -> Coupling:
    _one_id(bc_id, crm_id)
    coupling = _find(ctx, m, bc_id, crm_id)
    if coupling is None:
        raise NotFoundError(f"The {_describe(bc_id, crm_id)} is not coupled in {m.name}.")
    return coupling


def retry(
    ctx: SyncContext,
    mapping: str,
    *,
    bc_id: str | None = None,
    crm_id: str | None = None,
    all: bool = False,
    progress: Progress | None = None,
) -> EnqueueResult:
    """Enqueue failed, not Skipped records again (reason "retry").

    One uncoupled record (its creation failed) is enqueued in the direction its id implies.
    """
    m = mapping_of(ctx, mapping)
    batch = MessageBatch(ctx, m.name, "retry", "command: retry failed records")
    if all:
        _retry_all(ctx, m, batch, progress)
    else:
        _retry_one(ctx, m, bc_id, crm_id, batch)
    batch.finish(f"command: retry {batch.total} failed record(s)")
    return EnqueueResult(m.name, batch.total, 0, batch.job_ids())


def _retry_all(
    ctx: SyncContext, m: IntegrationTableMapping, batch: MessageBatch, progress: Progress | None
) -> None:
    for direction in m.directions():
        for coupling in ctx.stores.couplings.iter_failed(m.name, direction):
            batch.add(direction, coupling.source_id(direction))
            if progress and batch.total % PROGRESS_EVERY == 0:
                progress(f"{m.name}: {batch.total} failed records enqueued")


def _retry_one(
    ctx: SyncContext, m: IntegrationTableMapping, bc_id: str | None, crm_id: str | None, batch: MessageBatch
) -> None:
    _one_id(bc_id, crm_id)
    coupling = _find(ctx, m, bc_id, crm_id)
    if coupling is None:
        direction: Direction = "to-dataverse" if bc_id else "to-bc"
        require_direction(m, direction)
        batch.add(direction, bc_id or crm_id or "")
        return
    if coupling.skipped:
        raise ConflictError(
            f"The {_describe(bc_id, crm_id)} is Skipped in {m.name}.",
            remedy=f'Restore it: python -m sync_core restore "{m.name}" ...',
        )
    failed = _failed_directions(m, coupling)
    if not failed:
        raise ConflictError(
            f"The {_describe(bc_id, crm_id)} has no failed synchronization in {m.name}.",
            remedy="Use sync-now to synchronize it now.",
        )
    for direction in failed:
        batch.add(direction, coupling.source_id(direction))
