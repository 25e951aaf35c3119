"""BC webhook notifications -> per-record messages for every mapping that reads that BC set.

For each mapping whose BC set an entry names (direction to Dataverse; child mappings go with their
parent): one job-log run per call and one ``webhook`` message per record (a record named twice
in one call gets one message), processed as the mapping's own job would: re-read from BC and
re-checked against the mapping's filters. ``deleted`` goes the same way and follows BC's deletion
rules (the engine never deletes the counterpart: it finds no source and says so in the job
log). ``collection`` (BC had more changes than it lists) becomes one ``catch-up`` message: the
mapping's job runs from its watermark, which the collection's filter time is never before.
Entries of another company, or of a set no mapping reads, are passed over.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from sync_core.state.ports import JobRun
from sync_core.sync.context import SyncContext
from sync_core.sync.jobs.run_lines import log_run
from sync_core.sync.messages import RecordMessage
from sync_core.webhooks.bc import BcNotification

log = logging.getLogger(__name__)

CATCH_UP = "catch-up"  # a RecordMessage reason: run the mapping's job (source_id "*")


@dataclass
class NotificationIntake:
    enqueued: list[RecordMessage] = field(default_factory=list)
    passed_over: int = 0

    def as_json(self) -> dict:
        return {
            "enqueued": len(self.enqueued),
            "passed_over": self.passed_over,
            "mappings": sorted({m.mapping for m in self.enqueued}),
        }


def enqueue_bc_notifications(
    ctx: SyncContext, company_id: str, notifications: Iterable[BcNotification]
) -> NotificationIntake:
    intake = NotificationIntake()
    by_set: dict[str, list[BcNotification]] = {}
    for note in notifications:
        if note.company_id.lower() != company_id.lower():
            intake.passed_over += 1
            continue
        by_set.setdefault(note.entity, []).append(note)
    for entity, notes in by_set.items():
        mappings = [
            m for m in ctx.catalog if m.bc_entity == entity and not m.parent and m.allows("to-dataverse")
        ]
        if not mappings:
            intake.passed_over += len(notes)
        for mapping in mappings:
            intake.enqueued += _enqueue(ctx, mapping.name, entity, notes)
    log.info("bc webhook: %d message(s), %d entr(ies) passed over", len(intake.enqueued), intake.passed_over)
    return intake


def _messages(mapping: str, job_id: str, notes: list[BcNotification]) -> list[RecordMessage]:
    if any(n.change_type == "collection" for n in notes):
        return [RecordMessage(mapping, "to-dataverse", "*", job_id, CATCH_UP)]
    ids = dict.fromkeys(n.record_id for n in notes)  # in order, once each
    return [RecordMessage(mapping, "to-dataverse", record_id, job_id, "webhook") for record_id in ids]


def _enqueue(ctx: SyncContext, mapping: str, entity: str, notes: list[BcNotification]) -> list[RecordMessage]:
    started = ctx.clock()
    job_id = f"{started:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:12]}"
    run = JobRun(job_id, mapping, "to-dataverse", started, kind="webhook")
    messages = _messages(mapping, run.job_id, notes)
    ctx.stores.job_log.save_run(run)
    ctx.record_queue.send_many(m.to_json() for m in messages)
    catch_up = messages[0].reason == CATCH_UP
    run = replace(
        run,
        finished_enqueue_at=ctx.clock(),
        read=len(notes),
        enqueued=0 if catch_up else len(messages),
        message=f"BC webhook {entity}" + (" (collection: catch-up run)" if catch_up else ""),
    )
    ctx.stores.job_log.save_run(run)
    log_run(log, run, job="webhook", trigger="bc webhook", detail="collection: catch-up" if catch_up else "")
    return messages
