"""Records a document needs in Dataverse, synchronized on the fly when they are not coupled yet.

BC's ``SynchRecordIfMappingExists``: before a posted invoice goes to Dataverse, its customer and
the items and resources of its lines must be coupled; an uncoupled one inside its mapping's table
filter (the effective one, with the operators' runtime settings) is synchronized now: created in
Dataverse and coupled, through the record engine itself (a ``command`` message), so every rule of
that mapping applies and the outcome is in the job log. One outside the filter is not synchronized
(the caller decides: a write-in line, or BC's "must be coupled" error).

The record engine lends its own ``process`` as ``SyncRecord``; this module never imports it.
"""

from __future__ import annotations

from collections.abc import Callable

from sync_core.mapping.model import IntegrationTableMapping
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.lookups import LookupResolver
from sync_core.sync.engine.outcome import Outcome
from sync_core.vocabulary import eq

# (mapping name, BC id) -> the outcome of synchronizing that record to Dataverse now
SyncRecord = Callable[[str, str], Outcome]
SYNCED = frozenset({"inserted", "modified", "unchanged"})


class NotSynchronized(Exception):
    """The record could not be synchronized on the fly; the message says why (its outcome)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OnTheFly:
    """Couplings a document needs: found, or made now (cached for one message by the resolver)."""

    def __init__(self, ctx: SyncContext, lookups: LookupResolver, sync_record: SyncRecord | None) -> None:
        self.ctx = ctx
        self.lookups = lookups
        self.sync_record = sync_record

    def crm_id(self, target: IntegrationTableMapping, code: str) -> str | None:
        """The Dataverse id coupled to the BC record ``code`` names in ``target``; an uncoupled record
        inside the mapping's table filter is synchronized first. None: outside the filter (or no such
        record, or no engine to synchronize it). Raises ``NotSynchronized`` when the sync failed."""
        found = self.lookups.coupled_crm_id(target, code)
        if found is not None or self.sync_record is None:
            return found
        where = eq(target.bc_code_field, code)
        if target.table_filter:
            where = f"{where} and ({target.table_filter})"
        rows = list(self.ctx.bc.list_rows(target.bc_entity, where, ("id",)))
        if not rows:
            return None
        outcome = self.sync_record(target.name, str(rows[0]["id"]))
        if outcome.outcome not in SYNCED:
            raise NotSynchronized(outcome.message or outcome.outcome)
        return self.lookups.coupled_crm_id(target, code) or outcome.destination_id or None
