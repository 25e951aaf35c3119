"""Records synchronized again after the record they belong to (BC §3.8).

BC re-synchronizes every Sales Price of a Customer Price Group after the group is inserted,
modified or found unchanged in Dataverse, so a price that failed because its group was not
coupled yet gets through without waiting for a change of its own. Declared data: a mapping with
``resync_with = [parent mapping, BC field]`` (SALESPRC-PRODPRICE: CUSTPRCGRP-PRICE, ``salesCode``)
has its records whose BC field holds the parent record's code enqueued, one message each, within
the mapping's table filter. The messages are ordinary record messages: processing them twice
changes nothing.
"""

from __future__ import annotations

import logging

from sync_core.mapping.model import IntegrationTableMapping
from sync_core.sync.context import SyncContext
from sync_core.sync.messages import RecordMessage
from sync_core.vocabulary import eq

log = logging.getLogger(__name__)

SYNCED = frozenset({"inserted", "modified", "unchanged"})
SEND_CHUNK = 100


def dependents(ctx: SyncContext, parent: str) -> list[IntegrationTableMapping]:
    return [m for m in ctx.catalog if m.resync_with[:1] == (parent,)]


def resync_dependents(
    ctx: SyncContext, mapping: IntegrationTableMapping, source_id: str, outcome: str
) -> int:
    """Enqueue the dependent records of one parent record just synchronized to Dataverse."""
    targets = dependents(ctx, mapping.name)
    if not targets or outcome not in SYNCED:
        return 0
    parent = ctx.bc.get(mapping.bc_entity, source_id)
    code = parent.fields.get(mapping.bc_code_field) if parent is not None else None
    if not code:
        return 0
    sent = 0
    for target in targets:
        where = eq(target.resync_with[1], str(code))
        if target.table_filter:
            where = f"({target.table_filter}) and {where}"
        bodies = [
            RecordMessage(target.name, "to-dataverse", str(row["id"]), reason="modified").to_json()
            for row in ctx.bc.list_rows(target.bc_entity, where, ("id",))
        ]
        for start in range(0, len(bodies), SEND_CHUNK):
            sent += ctx.record_queue.send_many(bodies[start : start + SEND_CHUNK])
    if sent:
        log.info("%s %s: %d dependent record(s) enqueued again", mapping.name, code, sent)
    return sent
