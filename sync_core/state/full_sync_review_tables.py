"""Full synchronization reviews in Azure Table Storage (table ``<prefix>fullsyncreview``).

PartitionKey = run id; RowKey ``%review`` holds the header and ``line_<mapping>`` each line
(keys through ``key_escape``; ``%`` before a non-hex letter never comes out of it). The pointer to
the latest run is PartitionKey ``%current``, RowKey ``current``. A run's rows are written in
entity-group transactions before the pointer moves, so a reader never sees a half-made review.
Staged record ids: PartitionKey ``%stage_<job id>``, RowKey the zero-padded chunk number, the
ids as a JSON list (a chunk of a few hundred GUIDs stays far below the 64 KiB property limit).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import EdmType, EntityProperty, TableClient, TableEntity, UpdateMode

from sync_core.errors import AlreadyExistsError, ConflictError
from sync_core.state.azure_common import LazyTable, classify, mapped_errors
from sync_core.state.common import key_escape, require_utc, to_utc
from sync_core.state.full_sync_review import (
    STAGED_DECISIONS,
    CurrentReview,
    FullSyncReview,
    FullSyncReviewStore,
    ReviewLine,
    StagedDecision,
    StagedRecord,
    normalize_line,
    normalize_review,
)
from sync_core.state.ports import OUTCOMES
from sync_core.state.storage_account import StorageRef
from sync_core.state.tables import check_prefix, table_client

logger = logging.getLogger(__name__)

CURRENT_PK, CURRENT_RK = "%current", "current"
REVIEW_RK = "%review"
STAGE_PREFIX = "%stage_"
LINE_PREFIX = "line_"
_LINE_END = "line`"  # the first key after every "line_..." key
_TRANSACTION_MAX = 100
_STRING_MAX = 32 * 1024  # characters of a string property (64 KiB of UTF-16)


def _int(value: Any) -> int:
    return int(value.value if isinstance(value, EntityProperty) else value or 0)


def _review_entity(review: FullSyncReview) -> dict[str, Any]:
    return {
        "PartitionKey": key_escape(review.run_id),
        "RowKey": REVIEW_RK,
        "run_id": review.run_id,
        "started_at": review.started_at,
        "mappings": json.dumps(list(review.mappings)),
        "trigger": review.trigger,
    }


def _review_from(e: TableEntity) -> FullSyncReview:
    return FullSyncReview(
        run_id=e["run_id"],
        started_at=require_utc(e["started_at"]),
        mappings=tuple(json.loads(e.get("mappings") or "[]")),
        trigger=e.get("trigger", ""),
    )


def _line_entity(line: ReviewLine) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": key_escape(line.run_id),
        "RowKey": LINE_PREFIX + key_escape(line.mapping),
        "run_id": line.run_id,
        "mapping": line.mapping,
        "recommendation": line.recommendation,
        "dependencies": json.dumps(list(line.dependencies)),
        "status": line.status,
        "position": line.position,
        "attempt": line.attempt,
        "started_at": line.started_at,
        "finished_at": line.finished_at,
        "progress_at": line.progress_at,
        "message": line.message,
        "jobs": json.dumps(dict(line.jobs)),
        "match_fields": json.dumps(list(line.match_fields)),
        "fed": (line.fed, EdmType.INT64),
    }
    for outcome in OUTCOMES:
        entity[f"count_{outcome}"] = (int(line.counts.get(outcome, 0)), EdmType.INT64)
    return entity


def _line_from(e: TableEntity) -> ReviewLine:
    return ReviewLine(
        run_id=e["run_id"],
        mapping=e["mapping"],
        recommendation=e["recommendation"],
        dependencies=tuple(json.loads(e.get("dependencies") or "[]")),
        status=e["status"],
        position=_int(e.get("position")),
        attempt=_int(e.get("attempt")) or 1,
        jobs=json.loads(e.get("jobs") or "{}"),
        match_fields=tuple(json.loads(e.get("match_fields") or "[]")),
        fed=_int(e.get("fed")),
        counts={o: _int(e.get(f"count_{o}")) for o in OUTCOMES},
        started_at=to_utc(e.get("started_at")),
        finished_at=to_utc(e.get("finished_at")),
        progress_at=to_utc(e.get("progress_at")),
        message=e.get("message", ""),
        etag=e.metadata["etag"],
    )


class TableFullSyncReviewStore:
    """FullSyncReviewStore over one table (created on first use)."""

    def __init__(self, table: TableClient) -> None:
        self._table = LazyTable(table)

    def _get(self, pk: str, rk: str, what: str) -> TableEntity | None:
        with mapped_errors(what):
            try:
                return self._table.client().get_entity(pk, rk)
            except ResourceNotFoundError:
                return None

    def current(self) -> CurrentReview:
        row = self._get(CURRENT_PK, CURRENT_RK, "read the current full synchronization")
        return CurrentReview() if row is None else CurrentReview(row["run_id"], row.metadata["etag"])

    def create(self, review: FullSyncReview, lines: Iterable[ReviewLine], expected: CurrentReview) -> None:
        review = normalize_review(review)
        entities = [_review_entity(review)] + [_line_entity(normalize_line(li, None)) for li in lines]
        what = f"create full synchronization {review.run_id}"
        for start in range(0, len(entities), _TRANSACTION_MAX):
            operations = [("create", e) for e in entities[start : start + _TRANSACTION_MAX]]
            try:
                self._table.client().submit_transaction(operations)
            except AzureError as exc:
                raise classify(what, exc) from exc
        self._move_current(review.run_id, expected)
        logger.info("full synchronization %s: review of %d line(s) created", review.run_id, len(entities) - 1)

    def _move_current(self, run_id: str, expected: CurrentReview) -> None:
        entity = {"PartitionKey": CURRENT_PK, "RowKey": CURRENT_RK, "run_id": run_id}
        what = "move the current full synchronization"
        with mapped_errors(what):
            client = self._table.client()
            try:
                if expected.etag is None:
                    client.create_entity(entity)
                else:
                    client.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=expected.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except ResourceExistsError as exc:
                raise AlreadyExistsError(f"{what}: another start was first", status=409) from exc
            except (ResourceModifiedError, ResourceNotFoundError) as exc:
                raise ConflictError(f"{what}: another start was first", status=412) from exc

    def get(self, run_id: str) -> FullSyncReview | None:
        row = self._get(key_escape(run_id), REVIEW_RK, f"read full synchronization {run_id}")
        return None if row is None else _review_from(row)

    def lines(self, run_id: str) -> list[ReviewLine]:
        with mapped_errors(f"read the review lines of {run_id}"):
            rows = self._table.client().query_entities(
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                parameters={"pk": key_escape(run_id), "lo": LINE_PREFIX, "hi": _LINE_END},
            )
            lines = [_line_from(e) for e in rows]
        return sorted(lines, key=lambda li: (li.position, li.mapping))

    def get_line(self, run_id: str, mapping: str) -> ReviewLine | None:
        row = self._get(
            key_escape(run_id), LINE_PREFIX + key_escape(mapping), f"read review line {run_id} {mapping}"
        )
        return None if row is None else _line_from(row)

    def save_line(self, line: ReviewLine) -> ReviewLine:
        if line.etag is None:
            raise ValueError("save_line needs the line's etag (read it first)")
        stored = normalize_line(line, None)
        what = f"save review line {line.run_id} {line.mapping}"
        with mapped_errors(what):
            try:
                result = self._table.client().update_entity(
                    _line_entity(stored),
                    mode=UpdateMode.REPLACE,
                    etag=line.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError) as exc:
                raise ConflictError(f"{what}: changed since read", status=412) from exc
        return normalize_line(stored, str(result["etag"]))

    # -- staged record ids -------------------------------------------------------------------------

    def stage(self, job_id: str, chunk: int, ids: Sequence[str]) -> None:
        entity = {"PartitionKey": STAGE_PREFIX + key_escape(job_id), "RowKey": f"{chunk:010d}"}
        entity["ids"] = json.dumps(list(ids), separators=(",", ":"))
        with mapped_errors(f"stage chunk {chunk} of job {job_id}"):
            self._table.client().upsert_entity(entity, mode=UpdateMode.REPLACE)

    def stage_records(self, job_id: str, chunk: int, records: Sequence[StagedRecord]) -> None:
        entity = {"PartitionKey": STAGE_PREFIX + key_escape(job_id), "RowKey": f"{chunk:010d}"}
        entity.update(encode_staged(records))
        with mapped_errors(f"stage chunk {chunk} of job {job_id}"):
            self._table.client().upsert_entity(entity, mode=UpdateMode.REPLACE)

    def staged_chunk(self, job_id: str, chunk: int) -> list[StagedRecord] | None:
        pk = STAGE_PREFIX + key_escape(job_id)
        row = self._get(pk, f"{chunk:010d}", f"read staged chunk {chunk} of job {job_id}")
        return None if row is None else decode_staged(row)

    def staged(self, job_id: str, first: int, limit: int) -> list[list[str]]:
        if limit <= 0:
            return []
        with mapped_errors(f"read staged chunks of job {job_id}"):
            rows = self._table.client().query_entities(
                "PartitionKey eq @pk and RowKey ge @lo",
                parameters={"pk": STAGE_PREFIX + key_escape(job_id), "lo": f"{first:010d}"},
                select=["ids"],
                results_per_page=min(limit, 1000),
            )
            return [json.loads(e["ids"]) for e in islice(rows, limit)]

    def drop_stage(self, job_id: str) -> None:
        pk = STAGE_PREFIX + key_escape(job_id)
        with mapped_errors(f"drop staged chunks of job {job_id}"):
            client = self._table.client()
            keys = client.query_entities("PartitionKey eq @pk", parameters={"pk": pk}, select=["RowKey"])
            batch: list[Any] = []
            for entity in keys:
                batch.append(("delete", {"PartitionKey": pk, "RowKey": entity["RowKey"]}))
                if len(batch) == _TRANSACTION_MAX:
                    client.submit_transaction(batch)
                    batch = []
            if batch:
                client.submit_transaction(batch)


def encode_staged(records: Sequence[StagedRecord]) -> dict[str, str]:
    """Three string columns: ``ids`` (JSON list, as ``stage`` writes), ``modified`` (JSON list of
    Unix ms or null) and ``decisions`` (one letter per record: u, s, p, i). 200 GUIDs are ~8,000
    characters in ``ids``, ~3,000 in ``modified``: each far below the 64 KiB (32K UTF-16
    characters) of a string property, the row far below 1 MiB."""
    row = {
        "ids": json.dumps([r.id for r in records], separators=(",", ":")),
        "modified": json.dumps([r.modified_on_ms for r in records], separators=(",", ":")),
        "decisions": "".join(r.decision[0] for r in records),
    }
    if max(len(v) for v in row.values()) > _STRING_MAX:
        raise ValueError(f"a staged chunk of {len(records)} record(s) is too big for one row; stage fewer")
    return row


_DECISION_OF: dict[str, StagedDecision] = {d[0]: d for d in STAGED_DECISIONS}


def decode_staged(row: TableEntity) -> list[StagedRecord]:
    ids: list[str] = json.loads(row["ids"])
    modified: list[int | None] = json.loads(row.get("modified") or "null") or [None] * len(ids)
    letters = row.get("decisions") or "p" * len(ids)
    return [
        StagedRecord(record_id, ms, _DECISION_OF.get(letter, "process"))
        for record_id, ms, letter in zip(ids, modified, letters, strict=True)
    ]


def full_sync_review_store(conn_str: StorageRef, prefix: str = "bcsync") -> FullSyncReviewStore:
    """The Table Storage store over table ``<prefix>fullsyncreview`` (created on first use)."""
    return TableFullSyncReviewStore(table_client(conn_str, f"{check_prefix(prefix)}fullsyncreview"))
