"""Match-based coupling (BC's "Couple Records", §4.6), streaming both tables.

1. the couplings of the mapping -> the ids already coupled on each side (ids only);
2. the Dataverse rows (integration table filter) -> an index of available rows by match key;
3. the BC records (table filter), page by page -> matched / ambiguous / unmatched / already
   coupled (see ``matching``). A dry run stops there and writes nothing. Otherwise each match is
   claimed as a coupling at once (both modified-on unset, so the next sync compares every field),
   unmatched records are enqueued for insert ("command") with ``create_new``, and the newly
   coupled ones for synchronization ("command") with ``sync_after``.
Memory holds the ids of the couplings and the index of the Dataverse rows, never the BC table.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sync_core.errors import AlreadyExistsError, DataError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.ports import Coupling, JobRun
from sync_core.sync.commands.matching import Matcher, MatchIndex, MatchKey, MatchReport, match_fields
from sync_core.sync.commands.support import (
    PROGRESS_EVERY,
    MessageBatch,
    Progress,
    finish_run,
    mapping_of,
    require_table_mapping,
    start_run,
)
from sync_core.sync.context import SyncContext
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import Direction

log = logging.getLogger(__name__)


@dataclass
class MatchCoupleResult:
    mapping: str
    match: list[str]
    case_sensitive: bool
    dry_run: bool
    counts: dict[str, int]
    samples: dict[str, list[dict[str, Any]]]
    dataverse_rows: int = 0
    dataverse_unavailable: int = 0  # rows already coupled to another record
    coupled: int = 0
    enqueued: int = 0
    job_ids: list[str] = field(default_factory=list)


def _sync_direction(mapping: IntegrationTableMapping) -> Direction:
    return "to-dataverse" if mapping.allows("to-dataverse") else "to-bc"


def _coupled_ids(ctx: SyncContext, mapping: str) -> tuple[set[str], set[str]]:
    bc_ids: set[str] = set()
    crm_ids: set[str] = set()
    for coupling in ctx.stores.couplings.iter_mapping(mapping):
        bc_ids.add(coupling.bc_id)
        crm_ids.add(coupling.crm_id)
    return bc_ids, crm_ids


def _index(
    ctx: SyncContext, m: IntegrationTableMapping, key: MatchKey, coupled: set[str], progress: Progress | None
) -> MatchIndex:
    index = MatchIndex(key)
    query = ModifiedQuery(m.crm_entity, None, m.integration_table_filter or None, select=key.crm_fields)
    for row in ctx.dataverse.iter_modified(query):
        index.add(row.id, row.fields, coupled=row.id in coupled)
        if progress and index.rows % PROGRESS_EVERY == 0:
            progress(f"{m.name}: {index.rows} Dataverse rows indexed")
    return index


class _Coupler:
    """Classifies the BC records and (unless a dry run) couples and enqueues as it goes."""

    def __init__(
        self, ctx: SyncContext, m: IntegrationTableMapping, matcher: Matcher, options: dict[str, bool]
    ):
        self.ctx, self.m, self.matcher, self.options = ctx, m, matcher, options
        self.report = MatchReport()
        self.coupled = 0
        self.batch = MessageBatch(ctx, m.name, "command", "command: match-couple", kind="synchronization")

    def record(self, bc_id: str, fields: Any, coupled: bool) -> None:
        cls, crm_ids = self.matcher.classify(fields, coupled=coupled)
        if cls == "matched" and not self.options["dry_run"] and not self._claim(bc_id, crm_ids[0]):
            cls, crm_ids = "already_coupled", []
        self.report.note(cls, bc_id, crm_ids)
        if self.options["dry_run"]:
            return
        if cls == "unmatched" and self.options["create_new"]:
            self.batch.add("to-dataverse", bc_id)
        elif cls == "matched" and self.options["sync_after"]:
            direction = _sync_direction(self.m)
            self.batch.add(direction, bc_id if direction == "to-dataverse" else crm_ids[0])

    def _claim(self, bc_id: str, crm_id: str) -> bool:
        try:
            self.ctx.stores.couplings.claim(Coupling(self.m.name, bc_id, crm_id, state="coupled"))
        except AlreadyExistsError:  # coupled meanwhile (a sync or another operator)
            log.info("%s: bc %s or crm %s was coupled meanwhile", self.m.name, bc_id, crm_id)
            return False
        self.coupled += 1
        return True


def match_couple(
    ctx: SyncContext,
    mapping: str,
    match_attrs: Sequence[str],
    *,
    case_sensitive: bool = False,
    create_new: bool = False,
    sync_after: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> MatchCoupleResult:
    """Couple the BC records of ``mapping`` to the Dataverse rows with equal match values."""
    m = mapping_of(ctx, mapping)
    require_table_mapping(m)
    key = MatchKey(match_fields(m, match_attrs), case_sensitive)
    if create_new and not m.allows("to-dataverse"):
        raise DataError(f"--create-new inserts in Dataverse, and {m.name} does not synchronize to Dataverse.")
    coupled_bc, coupled_crm = _coupled_ids(ctx, m.name)
    index = _index(ctx, m, key, coupled_crm, progress)
    options = {"dry_run": dry_run, "create_new": create_new, "sync_after": sync_after}
    run = None if dry_run else start_run(ctx, m.name, _sync_direction(m), "command: match-couple", "coupling")
    coupler = _Coupler(ctx, m, Matcher(index), options)
    query = ModifiedQuery(m.bc_entity, None, m.table_filter or None, select=key.bc_fields)
    for record in ctx.bc.iter_modified(query):
        coupler.record(record.id, record.fields, record.id in coupled_bc)
        if progress and coupler.report.total % PROGRESS_EVERY == 0:
            progress(f"{m.name}: {coupler.report.total} BC records classified")
    result = MatchCoupleResult(
        m.name, list(key.crm_fields), case_sensitive, dry_run, coupler.report.counts, coupler.report.samples
    )
    result.dataverse_rows, result.dataverse_unavailable = index.rows, index.unavailable
    if run is not None:
        _finish(ctx, run, coupler, result)
    log.info("%s match-couple%s: %s", m.name, " (dry run)" if dry_run else "", result.counts)
    return result


def _finish(ctx: SyncContext, run: JobRun, coupler: _Coupler, result: MatchCoupleResult) -> None:
    """Stamp the coupling run, send the last messages; the result gets the counts and job ids."""
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    read = replace(run, read=sum(result.counts.values()))
    finish_run(ctx, read, 0, f"command: match-couple on {', '.join(result.match)}: {counts}")
    coupler.batch.finish("command: match-couple")
    result.coupled, result.enqueued = coupler.coupled, coupler.batch.total
    result.job_ids = [run.job_id, *coupler.batch.job_ids()]
