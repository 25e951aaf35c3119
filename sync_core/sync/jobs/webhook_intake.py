"""Dataverse webhook -> per-record messages for every mapping that brings that table to BC."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace

from sync_core.state.ports import JobRun
from sync_core.sync.context import SyncContext
from sync_core.sync.jobs.run_lines import log_run
from sync_core.sync.messages import RecordMessage
from sync_core.webhooks.dataverse import SYNC_MESSAGES, DataverseEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeResult:
    enqueued: list[RecordMessage] = field(default_factory=list)
    ignored: str = ""

    def as_json(self) -> dict:
        return {
            "enqueued": [
                {"mapping": m.mapping, "direction": m.direction, "source_id": m.source_id, "job_id": m.job_id}
                for m in self.enqueued
            ],
            "ignored": self.ignored or None,
        }


def enqueue_dataverse_event(ctx: SyncContext, event: DataverseEvent) -> IntakeResult:
    """One message (and one job-log run) per mapping that brings the event's table to BC."""
    if event.message_name not in SYNC_MESSAGES:
        return IntakeResult(ignored=f"message {event.message_name} does not change synchronized data")
    mappings = [m for m in ctx.catalog.for_crm_entity(event.entity) if m.allows("to-bc")]
    if not mappings:
        return IntakeResult(ignored=f"no mapping synchronizes {event.entity} to Business Central")
    if event.user_id and event.user_id == ctx.dataverse.whoami():
        return IntakeResult(ignored="change made by the integration user (echo)")
    return IntakeResult(enqueued=[_enqueue(ctx, mapping.name, event) for mapping in mappings])


def _enqueue(ctx: SyncContext, mapping: str, event: DataverseEvent) -> RecordMessage:
    started = ctx.clock()
    run = JobRun(f"{started:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:12]}", mapping, "to-bc", started, kind="webhook")
    message = RecordMessage(mapping, "to-bc", event.entity_id, run.job_id, "webhook")
    ctx.stores.job_log.save_run(run)
    ctx.record_queue.send(message.to_json())
    run = replace(
        run,
        finished_enqueue_at=ctx.clock(),
        read=1,
        enqueued=1,
        message=f"webhook {event.message_name} {event.entity}",
    )
    ctx.stores.job_log.save_run(run)
    detail = f"{event.message_name} {event.entity} {event.entity_id}"
    log_run(log, run, job="webhook", trigger="dataverse webhook", detail=detail)
    return message
