"""Coupling bookkeeping after a record sync: success stamps, failures, BC's skip rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sync_core.errors import ConflictError, PermanentError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.ports import Coupling, CouplingStore, DirectionStatus, SyncErrorEntry, coupling_of_source
from sync_core.sync.context import SyncContext
from sync_core.sync.messages import RecordMessage
from sync_core.vocabulary import TO_DATAVERSE, Record, bc_then_crm

DEFAULT_REMEDY = "Correct the record or the mapping, then retry it (python -m sync_core retry)."


def _later(stored: datetime | None, new: datetime) -> datetime:
    return new if stored is None or new > stored else stored


FORCED_CRM_SLACK = timedelta(milliseconds=999)
FORCED_BC_SLACK = timedelta(milliseconds=10)


def record_success(
    store: CouplingStore,
    coupling: Coupling,
    msg: RecordMessage,
    source: Record,
    dest: Record,
    *,
    forced: bool = False,
) -> Coupling:
    """Save the coupling with ``success_coupling``'s stamps and status."""
    return store.save(success_coupling(coupling, msg, source, dest, forced=forced))


def success_coupling(
    coupling: Coupling, msg: RecordMessage, source: Record, dest: Record, *, forced: bool = False
) -> Coupling:
    """Both sides' modified-on stamped (only ever forward) and the direction's Success.

    After a forced modify (conflict resolved for this side) the destination's stamp is kept a
    little earlier (BC: -999 ms for Dataverse, -10 ms for BC), so the other direction still sees
    the other side's change.
    """
    bc, crm = bc_then_crm(msg.direction, source, dest)
    bc_stamp, crm_stamp = bc.modified_on, crm.modified_on
    if forced and msg.direction == TO_DATAVERSE:
        crm_stamp -= FORCED_CRM_SLACK
    elif forced:
        bc_stamp -= FORCED_BC_SLACK
    return replace(
        coupling.with_status(msg.direction, DirectionStatus("success", None, msg.job_id)),
        bc_modified_on=_later(coupling.bc_modified_on, bc_stamp),
        crm_modified_on=_later(coupling.crm_modified_on, crm_stamp),
        skipped=False,
    )


def _mark_failed(store: CouplingStore, mapping: str, msg: RecordMessage, error: str) -> bool:
    """Failure on the coupling; the same error in two jobs in a row in one direction -> Skipped
    (BC: the previous and the new job logged the same error; a message processed twice in one
    job is one failure)."""
    for _ in range(3):
        coupling = coupling_of_source(store, mapping, msg.direction, msg.source_id)
        if coupling is None or coupling.state != "coupled":
            return False
        previous = coupling.status(msg.direction)
        again = previous.result == "failure" and previous.error == error
        same_job = bool(msg.job_id) and previous.job_id == msg.job_id  # a redelivery, not a rerun
        skipped = coupling.skipped or (again and not same_job)
        status = DirectionStatus("failure", error[:2048], msg.job_id)
        try:
            store.save(replace(coupling.with_status(msg.direction, status), skipped=skipped))
            return skipped and not coupling.skipped
        except ConflictError:
            continue
    return False


def record_failure(
    ctx: SyncContext, mapping: IntegrationTableMapping, msg: RecordMessage, exc: PermanentError
) -> bool:
    """Record the failure with mapping, record, field and remedy in the sync errors (its log line
    is the record engine's); returns True if the record is now Skipped."""
    skipped = _mark_failed(ctx.stores.couplings, mapping.name, msg, exc.message)
    field = getattr(exc, "field", "") or ""
    ctx.stores.sync_errors.add(
        SyncErrorEntry(
            mapping=mapping.name,
            direction=msg.direction,
            source_id=msg.source_id,
            message=exc.message,
            occurred_at=ctx.clock(),
            job_id=msg.job_id,
            field=field,
            remedy=exc.remedy or DEFAULT_REMEDY,
            error_code=exc.code or "",
        )
    )
    return skipped
