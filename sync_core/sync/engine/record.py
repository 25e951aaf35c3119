"""One record's path through the engine: read -> decide -> write -> record the outcome.

``RecordSynchronizer.process`` takes one queue message (a record of a mapping in a direction):

1. check the message against its mapping (``_check``): direction, field mappings, not a child;
2. read the coupling and the source record (``_read``);
3. decide and write (``_decide``): an option mapping goes to ``options``; a Skipped record is left
   alone (unless restored); an uncoupled one goes to ``Inserter`` (couple a match, or create and
   couple); a claimed one is resumed; an unchanged one stops here; a changed one goes to
   ``Updater``; a coupled counterpart that was deleted and is to be restored goes back to insert;
4. the document's lines follow their header (``ChildLineSync``) and dependents are enqueued
   again (``resync``); a record a document needs is synchronized on the fly through a fresh
   synchronizer (``_sync_on_the_fly``, lent to the strategies as ``OnTheFly``);
5. the outcome goes to the job log; a permanent error is recorded with mapping, record, field and
   remedy (``bookkeeping``) and swallowed; a transient one propagates (the queue redelivers).

Idempotent under at-least-once delivery: an insert first claims the coupling (insert-if-absent),
so a redelivered or concurrent message finds the claim and either completes it or waits; it never
creates a second row. Reasons (``RecordMessage.reason``): scheduled ones (modified, retry, webhook)
follow the mapping's rules; ``full-sync`` inserts uncoupled records; ``command`` (sync-now,
create-in-...) and ``restore`` also force the write: no unchanged shortcut, and on a conflict their
direction wins.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime

from sync_core.errors import ConflictError, DataError, PermanentError, TransientError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.mapping.rules_common import IgnoredRecord
from sync_core.state.ports import Coupling
from sync_core.sync.context import SyncContext, source_coupling
from sync_core.sync.engine.bookkeeping import record_failure
from sync_core.sync.engine.child_lines import ChildLineSync, refuse_alone
from sync_core.sync.engine.insert import Inserter
from sync_core.sync.engine.lookups import LookupResolver
from sync_core.sync.engine.options import sync_option_record
from sync_core.sync.engine.outcome import FORCE_REASONS, SAME_TIMESTAMP, Outcome
from sync_core.sync.engine.resync import resync_dependents
from sync_core.sync.engine.update import RestoreDestination, Updater
from sync_core.sync.engine.values import RecordValues
from sync_core.sync.messages import RecordMessage
from sync_core.systems.ports import ModifiedQuery
from sync_core.telemetry import RecordRef, log_record_failed, log_record_synchronized
from sync_core.vocabulary import TO_DATAVERSE, Direction, Record

log = logging.getLogger(__name__)

MAX_REDECIDE = 3


@dataclass(frozen=True)
class Prefetched:
    """The source record as a chunk read it with its neighbours (None: it no longer exists)."""

    source: Record | None


class RecordSynchronizer:
    """The record engine for one worker's message (build one per message: it caches lookups;
    a full-sync chunk lends its records one ``LookupResolver``, so they share the cache)."""

    def __init__(self, ctx: SyncContext, lookups: LookupResolver | None = None) -> None:
        self.ctx = ctx
        self.values = RecordValues(ctx, sync_record=self._sync_on_the_fly, lookups=lookups)
        self.updater = Updater(ctx, self.values)
        self.children = ChildLineSync(ctx, self.values)
        self.inserter = Inserter(ctx, self.values, self.updater, self.children)

    def process(self, msg: RecordMessage, prefetched: Prefetched | None = None) -> Outcome:
        """One line per message: the record synchronized (with its outcome) or failed.
        ``prefetched``: the source as already read (used once; a re-decision reads it again)."""
        started = time.monotonic()
        mapping = self.ctx.mapping(msg.mapping)
        failure: tuple[PermanentError, bool] | None = None
        try:
            outcome = self._synchronize(mapping, msg, prefetched)
            if msg.direction == TO_DATAVERSE:
                resync_dependents(self.ctx, mapping, msg.source_id, outcome.outcome)
        except IgnoredRecord as exc:  # BC's post-filter: never synchronized, not an error to fix
            outcome = Outcome("skipped", exc.message)
        except PermanentError as exc:
            failure = (exc, record_failure(self.ctx, mapping, msg, exc))
            outcome = Outcome("skipped" if failure[1] else "failed", exc.message)
        job_id = msg.job_id or f"adhoc-{self.ctx.clock():%Y%m%d}"
        self.ctx.stores.job_log.record_outcome(job_id, msg.source_id, outcome.outcome, outcome.message)
        ref = RecordRef(
            mapping.name, msg.direction, msg.source_id, job_id, msg.reason, outcome.destination_id
        )
        took = time.monotonic() - started
        if failure is not None:
            log_record_failed(log, ref, failure[0], skipped=failure[1], duration_s=took)
        else:
            log_record_synchronized(
                log, ref, outcome.outcome, duration_s=took, received_at=msg.enqueued_at, now=self.ctx.clock()
            )
        return outcome

    def _synchronize(
        self, mapping: IntegrationTableMapping, msg: RecordMessage, prefetched: Prefetched | None
    ) -> Outcome:
        _check(self.ctx, mapping, msg)
        for _ in range(MAX_REDECIDE):
            try:
                return self.children.after_parent(mapping, msg, self._decide(mapping, msg, prefetched))
            except ConflictError as exc:  # a row or coupling changed under us: re-read, re-decide
                log.info("%s %s: conflict (%s), re-deciding", mapping.name, msg.source_id, exc)
                prefetched = None
        raise TransientError(f"{mapping.name} {msg.source_id}: kept changing while synchronizing")

    def _decide(
        self, mapping: IntegrationTableMapping, msg: RecordMessage, prefetched: Prefetched | None = None
    ) -> Outcome:
        if mapping.kind == "option":
            return sync_option_record(self.ctx, mapping, msg)
        coupling = source_coupling(self.ctx, mapping.name, msg.direction, msg.source_id)
        if coupling is not None and coupling.skipped:
            if msg.reason != "restore":
                return Outcome("skipped", "the coupled record is marked Skipped")
            coupling = self.ctx.stores.couplings.save(replace(coupling, skipped=False))
        source = self._source(mapping, msg) if prefetched is None else prefetched.source
        if source is None:
            return Outcome("skipped", "the source record no longer exists or is outside the mapping's filter")
        if coupling is None:
            return self.inserter.insert_uncoupled(mapping, msg, source)
        if coupling.state == "claimed":
            return self.inserter.resume_claim(mapping, msg, source, coupling)
        if _unchanged_since_sync(coupling, msg, source):
            return Outcome("unchanged", destination_id=coupling.destination_id(msg.direction))
        try:
            return self.updater.update(mapping, msg, source, coupling)
        except RestoreDestination:  # BC §4.4 "Restore Records": inserted again and re-coupled
            return self.inserter.insert_uncoupled(mapping, replace(msg, reason="command"), source)

    def _sync_on_the_fly(self, mapping: str, bc_id: str) -> Outcome:
        """A record a document needs, created in Dataverse now (BC's SynchRecordIfMappingExists): its
        own message through a fresh engine, in its own (ad hoc) job, as BC runs its own job."""
        message = RecordMessage(mapping, TO_DATAVERSE, bc_id, reason="command")
        return RecordSynchronizer(self.ctx).process(message)

    # -- reading ----------------------------------------------------------------------------------

    def _source(self, mapping: IntegrationTableMapping, msg: RecordMessage) -> Record | None:
        """The source record; a webhook's record must also pass the mapping's filter (jobs filter already)."""
        entity = mapping.source_entity(msg.direction)
        table_filter = mapping.source_filter(msg.direction)
        if msg.reason != "webhook" or not table_filter:
            return self.ctx.source(msg.direction).get(entity, msg.source_id)
        key = mapping.source_key(msg.direction)
        query = ModifiedQuery(entity, filter=f"{key} eq {msg.source_id} and ({table_filter})", page_size=2)
        return next(iter(self.ctx.source(msg.direction).iter_modified(query)), None)


def _check(ctx: SyncContext, mapping: IntegrationTableMapping, msg: RecordMessage) -> None:
    """Refuse what the mapping cannot synchronize (BC's job-level errors)."""
    refuse_alone(ctx.catalog, mapping)
    if not mapping.allows(msg.direction):
        raise DataError(
            f"The integration table mapping {mapping.name} is not configured for "
            f"{msg.direction} synchronization."
        )
    if not mapping.field_mappings(msg.direction):
        raise DataError(f"There are no field mapping rows for the integration table mapping {mapping.name}.")


def _unchanged_since_sync(coupling: Coupling, msg: RecordMessage, source: Record) -> bool:
    return unchanged_since_sync(coupling, msg.direction, msg.reason, source.modified_on)


def unchanged_since_sync(
    coupling: Coupling, direction: Direction, reason: str, modified_on: datetime
) -> bool:
    """BC §4.1: not modified since the coupling's last synchronization, nor failed, nor forced."""
    last = coupling.last_source_modified_on(direction)
    status = coupling.status(direction)
    if last is None or status.result == "failure" or reason in FORCE_REASONS:
        return False
    return modified_on <= last + SAME_TIMESTAMP


def refusal(ctx: SyncContext, mapping: IntegrationTableMapping, direction: Direction) -> DataError | None:
    """The error every record of ``mapping`` in ``direction`` would fail with (``_check``), or None."""
    try:
        _check(ctx, mapping, RecordMessage(mapping.name, direction, "-"))
    except DataError as exc:
        return exc
    return None
