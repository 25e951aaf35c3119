"""Job log and sync errors in Azure Table Storage, and the factory for all table stores.

Job runs (``<prefix>jobruns``), each run upserted as three copies so every read is one partition:
  PartitionKey = mapping, RowKey = inverted start time + job id   (a mapping's runs, newest first)
  PartitionKey = ``%all``, same RowKey                            (all runs, newest first)
  PartitionKey = ``%job``, RowKey = job id                        (a run by its id)
``%`` followed by a non-hex letter never comes out of ``key_escape``, so these cannot collide
with a mapping. Record outcomes (``<prefix>joboutcomes``): PartitionKey = job id, RowKey = source
id, one flag column per outcome (``o_<outcome>``, with ``m_<outcome>`` its message) set by a merge
upsert: one write, no read, and a redelivered message (in any order) neither counts twice nor
replaces the stronger outcome; the summary counts each row's strongest flag, and once a run is
finished its counts are kept on its ``%job`` row (``final_*``), so a finished run of 100,000
records is counted once, not at every look. A full-sync job in chunks also has one row per chunk
(PartitionKey = job id + ``%t``, RowKey = chunk number: the counts of the chunk's latest pass and
the ids it sent back to the queue), so a check on a running job reads a row per 200 records, not
one per record (``chunk_tally``). Sync errors (``<prefix>syncerrors``): each error
twice, PartitionKey = mapping and PartitionKey = ``%all``, RowKey = inverted time + short uuid
(newest first), so a page of one mapping's errors or of all errors is one range query.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from itertools import islice
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, TableClient, TableEntity, UpdateMode

from sync_core.state.azure_common import LazyTable, mapped_errors, submit_transaction
from sync_core.state.common import (
    check_error_cursor,
    check_outcome,
    chunk_ids,
    clip,
    empty_counts,
    error_key,
    inverted_ticks,
    key_escape,
    normalize_error,
    normalize_run,
    require_utc,
    strongest,
    to_utc,
)
from sync_core.state.ports import (
    OUTCOMES,
    ChunkTally,
    JobRun,
    JobSummary,
    OutcomeEntry,
    RecordOutcome,
    SyncErrorEntry,
    SyncErrorPage,
)

logger = logging.getLogger(__name__)

ALL_RUNS = "%all"
RUN_BY_ID = "%job"
FINAL_COUNTS = "final_counts"  # JSON of a finished run's outcome counts, on its %job row
CHUNKS = "%t"  # after a job's escaped id: the partition of its chunks' rows (tallies)
_MAX_PAGE = 1000
_TRANSACTION_MAX = 100  # entities per entity-group transaction


def _as_int(value: Any) -> int:
    return int(value.value if isinstance(value, EntityProperty) else value or 0)


def _run_entity(run: JobRun, pk: str, rk: str) -> dict[str, Any]:
    return {
        "PartitionKey": pk,
        "RowKey": rk,
        "job_id": run.job_id,
        "mapping": run.mapping,
        "direction": run.direction,
        "started_at": run.started_at,
        "finished_enqueue_at": run.finished_enqueue_at,
        "read": (run.read, EdmType.INT64),
        "enqueued": (run.enqueued, EdmType.INT64),
        "message": run.message,
        "kind": run.kind,
    }


def _run_from_entity(e: TableEntity) -> JobRun:
    return JobRun(
        job_id=e["job_id"],
        mapping=e["mapping"],
        direction=e["direction"],
        started_at=require_utc(e["started_at"]),
        finished_enqueue_at=to_utc(e.get("finished_enqueue_at")),
        read=_as_int(e.get("read")),
        enqueued=_as_int(e.get("enqueued")),
        message=e.get("message", ""),
        kind=e.get("kind", "synchronization"),
    )


def _outcome_entity(job_id: str, entry: OutcomeEntry) -> dict[str, Any]:
    checked = check_outcome(entry.outcome)
    return {
        "PartitionKey": key_escape(job_id),
        "RowKey": key_escape(entry.source_id),
        "source_id": entry.source_id,
        f"o_{checked}": True,
        f"m_{checked}": clip(entry.message) or "",
    }


def _row_outcome(row: TableEntity) -> RecordOutcome | None:
    """A record's strongest flag (``outcome``: rows written by version 0.1)."""
    flags = [o for o in OUTCOMES if row.get(f"o_{o}") or row.get("outcome") == o]
    found = strongest(flags)
    return None if found is None else check_outcome(found)


def _page(limit: int) -> int:
    return max(1, min(limit, _MAX_PAGE))


class TableJobLogStore:
    """JobLogStore over a runs table and an outcomes table.

    ``save_run`` keys the listing rows by ``started_at``: keep it the same for one job id.
    """

    def __init__(self, runs: TableClient, outcomes: TableClient) -> None:
        self._runs = LazyTable(runs)
        self._outcomes = LazyTable(outcomes)

    def save_run(self, run: JobRun) -> None:
        run = normalize_run(run)
        by_id = key_escape(run.job_id)
        listed = f"{inverted_ticks(run.started_at)}_{by_id}"
        keys = ((key_escape(run.mapping), listed), (ALL_RUNS, listed), (RUN_BY_ID, by_id))
        with mapped_errors(f"save job run {run.job_id}"):
            client = self._runs.client()
            for pk, rk in keys:
                client.upsert_entity(_run_entity(run, pk, rk), mode=UpdateMode.REPLACE)

    def record_outcome(self, job_id: str, source_id: str, outcome: RecordOutcome, message: str = "") -> None:
        entity = _outcome_entity(job_id, OutcomeEntry(source_id, outcome, message))
        with mapped_errors(f"record outcome of job {job_id} record {source_id}"):
            self._outcomes.client().upsert_entity(entity, mode=UpdateMode.MERGE)

    def record_outcomes(self, job_id: str, entries: Sequence[OutcomeEntry]) -> None:
        """Merge upserts in entity-group transactions of up to 100 (one partition: the job id).

        A record named twice keeps its strongest outcome (a transaction may not touch one entity
        twice); a record's flags of other outcomes stay, as with ``record_outcome``."""
        kept: dict[str, OutcomeEntry] = {}
        for entry in entries:
            check_outcome(entry.outcome)
            before = kept.get(entry.source_id)
            if before is None or strongest((before.outcome, entry.outcome)) == entry.outcome:
                kept[entry.source_id] = entry
        rows = [_outcome_entity(job_id, entry) for entry in kept.values()]
        merge = {"mode": UpdateMode.MERGE}
        with mapped_errors(f"record {len(rows)} outcome(s) of job {job_id}"):
            client = self._outcomes.client()
            for start in range(0, len(rows), _TRANSACTION_MAX):
                group = [("upsert", row, merge) for row in rows[start : start + _TRANSACTION_MAX]]
                submit_transaction(client, group, f"record outcomes of job {job_id}")

    def summary(self, job_id: str) -> JobSummary | None:
        with mapped_errors(f"read job run {job_id}"):
            try:
                row = self._runs.client().get_entity(RUN_BY_ID, key_escape(job_id))
            except ResourceNotFoundError:
                return None
        run = _run_from_entity(row)
        if row.get(FINAL_COUNTS):  # a finished run, counted once already
            return JobSummary(run=run, counts={**empty_counts(), **json.loads(row[FINAL_COUNTS])})
        summary = JobSummary(run=run, counts=self._count(job_id))
        if summary.finished:
            self._keep_final(job_id, summary.counts)
        return summary

    def record_chunk(
        self, job_id: str, chunk: int, counts: dict[str, int], sent_again: Sequence[str] = ()
    ) -> None:
        ids = chunk_ids(sent_again)
        entity = {
            "PartitionKey": key_escape(job_id) + CHUNKS,
            "RowKey": f"{chunk:010d}",
            "counts": json.dumps({check_outcome(o): n for o, n in counts.items() if n}),
            "sent_again": ids or "[]",
            "unlisted": 0 if ids else len(sent_again),
        }
        with mapped_errors(f"record chunk {chunk} of job {job_id}"):
            self._outcomes.client().upsert_entity(entity, mode=UpdateMode.REPLACE)

    def chunk_tally(self, job_id: str) -> ChunkTally | None:
        with mapped_errors(f"read chunk tallies of job {job_id}"):
            try:
                run = _run_from_entity(self._runs.client().get_entity(RUN_BY_ID, key_escape(job_id)))
            except ResourceNotFoundError:
                return None
            rows = list(
                self._outcomes.client().query_entities(
                    "PartitionKey eq @pk",
                    parameters={"pk": key_escape(job_id) + CHUNKS},
                    results_per_page=_MAX_PAGE,
                )
            )
        counts, sent, unlisted = empty_counts(), [], 0
        for row in rows:
            for outcome, n in json.loads(row.get("counts") or "{}").items():
                counts[outcome] = counts.get(outcome, 0) + int(n)
            sent += json.loads(row.get("sent_again") or "[]")
            unlisted += _as_int(row.get("unlisted"))
        return ChunkTally(run, counts, tuple(sent), unlisted, len(rows))

    def outcomes_of(self, job_id: str, source_ids: Sequence[str]) -> dict[str, RecordOutcome]:
        found: dict[str, RecordOutcome] = {}
        with mapped_errors(f"read outcomes of job {job_id}"):
            client = self._outcomes.client()
            for source_id in source_ids:
                try:
                    row = client.get_entity(key_escape(job_id), key_escape(source_id))
                except ResourceNotFoundError:
                    continue
                outcome = _row_outcome(row)
                if outcome is not None:
                    found[source_id] = outcome
        return found

    def _count(self, job_id: str) -> dict[str, int]:
        counts = empty_counts()
        with mapped_errors(f"count outcomes of job {job_id}"):
            rows = self._outcomes.client().query_entities(
                "PartitionKey eq @pk",
                parameters={"pk": key_escape(job_id)},
                select=["outcome", *(f"o_{o}" for o in OUTCOMES)],  # outcome: rows of 0.1
                results_per_page=_MAX_PAGE,
            )
            for outcome_row in rows:
                outcome = _row_outcome(outcome_row)
                if outcome is not None:
                    counts[outcome] += 1
        return counts

    def _keep_final(self, job_id: str, counts: dict[str, int]) -> None:
        entity = {"PartitionKey": RUN_BY_ID, "RowKey": key_escape(job_id), FINAL_COUNTS: json.dumps(counts)}
        try:
            self._runs.client().update_entity(entity, mode=UpdateMode.MERGE)
        except AzureError as exc:  # only a shortcut for the next look: counting again is correct
            logger.debug("job run %s: final counts not kept (%s)", job_id, type(exc).__name__)

    def list_runs(self, mapping: str | None = None, limit: int = 50) -> list[JobRun]:
        pk = ALL_RUNS if mapping is None else key_escape(mapping)
        with mapped_errors(f"list job runs of {mapping or 'all mappings'}"):
            rows = self._runs.client().query_entities(
                "PartitionKey eq @pk", parameters={"pk": pk}, results_per_page=_page(limit)
            )
            return [_run_from_entity(e) for e in islice(rows, max(limit, 0))]


def _error_entity(entry: SyncErrorEntry, pk: str, rk: str) -> dict[str, Any]:
    return {"PartitionKey": pk, "RowKey": rk, **asdict(entry)}


def _error_from_entity(e: TableEntity) -> SyncErrorEntry:
    texts = ("job_id", "destination_id", "field", "remedy", "error_code")
    return SyncErrorEntry(
        mapping=e["mapping"],
        direction=e["direction"],
        source_id=e["source_id"],
        message=e.get("message", ""),
        occurred_at=require_utc(e["occurred_at"]),
        **{name: e.get(name, "") for name in texts},
    )


class TableSyncErrorStore:
    def __init__(self, table: TableClient) -> None:
        self._table = LazyTable(table)

    def add(self, entry: SyncErrorEntry) -> None:
        entry = normalize_error(entry)
        rk = error_key(entry.occurred_at, uuid.uuid4().hex[:12])
        with mapped_errors(f"add sync error {entry.mapping} record {entry.source_id}"):
            client = self._table.client()
            client.create_entity(_error_entity(entry, key_escape(entry.mapping), rk))
            client.create_entity(_error_entity(entry, ALL_RUNS, rk))

    def _query(
        self, mapping: str | None, size: int, after: str = "", source_id: str = ""
    ) -> Iterator[TableEntity]:
        query, params = "PartitionKey eq @pk", {"pk": ALL_RUNS if mapping is None else key_escape(mapping)}
        if after:
            query, params["after"] = f"{query} and RowKey gt @after", after
        if source_id:
            query, params["sid"] = f"{query} and source_id eq @sid", source_id
        return iter(
            self._table.client().query_entities(query, parameters=params, results_per_page=_page(size))
        )

    def list(self, mapping: str | None = None, limit: int = 100) -> list[SyncErrorEntry]:
        with mapped_errors(f"list sync errors of {mapping or 'all mappings'}"):
            return [_error_from_entity(e) for e in islice(self._query(mapping, limit), max(limit, 0))]

    def page(
        self, mapping: str | None = None, *, size: int = 50, cursor: str = "", source_id: str = ""
    ) -> SyncErrorPage:
        after, size = check_error_cursor(cursor), max(size, 1)
        with mapped_errors(f"page sync errors of {mapping or 'all mappings'}"):
            rows = list(islice(self._query(mapping, size + 1, after, source_id), size + 1))
        shown = rows[:size]
        more = len(rows) > size
        return SyncErrorPage([_error_from_entity(e) for e in shown], shown[-1]["RowKey"] if more else "")
