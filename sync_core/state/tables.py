"""Couplings and watermarks in Azure Table Storage (azure-data-tables).

Couplings: PartitionKey = mapping; per coupling two rows in that partition, written and removed
together in one entity-group transaction: ``bc_<bc_id>`` (the coupling) and ``crm_<crm_id>``
(an index row: ids and state). The coupling's ETag is the bc row's.
Watermarks: PartitionKey = mapping, RowKey = direction. Keys pass through ``key_escape``.
The job log and sync errors are in ``tables_log.py``; ``stores.table_stores`` wires all of them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableEntity, TableTransactionError, UpdateMode

from sync_core.errors import AlreadyExistsError, ConflictError, NotFoundError
from sync_core.state import tables_couplings_bulk as bulk
from sync_core.state.azure_common import LazyTable, classify, mapped_errors, submit_transaction
from sync_core.state.common import (
    ERROR_MAX,
    clip,
    key_escape,
    normalize_coupling,
    require_utc,
    to_utc,
)
from sync_core.state.ports import Coupling, DirectionStatus, Watermark
from sync_core.state.storage_account import StorageRef
from sync_core.state.storage_account import table_client as storage_table_client
from sync_core.state.tables_couplings_bulk import Operation
from sync_core.vocabulary import Direction

logger = logging.getLogger(__name__)

BC_PREFIX = "bc_"
CRM_PREFIX = "crm_"
_BC_END = "bc`"  # the first key after every "bc_..." key
_DELETE_ATTEMPTS = 3
_STATUS_ATTRS = ("to_dataverse", "to_bc")  # Coupling attributes = column prefixes
_SYNC_STATE_COLUMNS = (
    "bc_id",
    "crm_id",
    "state",
    "bc_modified_on",
    "crm_modified_on",
    "to_dataverse_result",
    "to_bc_result",
    "skipped",
)
_PREFIX_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,51}")


def table_client(conn_str: StorageRef, name: str) -> TableClient:
    return storage_table_client(conn_str, name)


def check_prefix(prefix: str) -> str:
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"table prefix {prefix!r} must be a letter then up to 51 letters/digits")
    return prefix


def _bc_key(mapping: str, bc_id: str) -> dict[str, str]:
    return {"PartitionKey": key_escape(mapping), "RowKey": BC_PREFIX + key_escape(bc_id)}


def _crm_key(mapping: str, crm_id: str) -> dict[str, str]:
    return {"PartitionKey": key_escape(mapping), "RowKey": CRM_PREFIX + key_escape(crm_id)}


def _coupling_entity(c: Coupling) -> dict[str, Any]:
    entity: dict[str, Any] = {
        **_bc_key(c.mapping, c.bc_id),
        "mapping": c.mapping,
        "bc_id": c.bc_id,
        "crm_id": c.crm_id,
        "state": c.state,
        "bc_modified_on": c.bc_modified_on,
        "crm_modified_on": c.crm_modified_on,
        "skipped": c.skipped,
        "claimed_at": c.claimed_at,
    }
    for attr in _STATUS_ATTRS:
        status: DirectionStatus = getattr(c, attr)
        entity[f"{attr}_result"] = status.result
        entity[f"{attr}_error"] = clip(status.error, ERROR_MAX)
        entity[f"{attr}_job"] = status.job_id
    return entity


def _index_entity(c: Coupling) -> dict[str, Any]:
    return {**_crm_key(c.mapping, c.crm_id), "bc_id": c.bc_id, "crm_id": c.crm_id, "state": c.state}


def _coupling_from_entity(e: TableEntity) -> Coupling:
    statuses = {
        attr: DirectionStatus(
            result=e.get(f"{attr}_result"),
            error=e.get(f"{attr}_error"),
            job_id=e.get(f"{attr}_job"),
        )
        for attr in _STATUS_ATTRS
    }
    return Coupling(
        mapping=e["mapping"],
        bc_id=e["bc_id"],
        crm_id=e["crm_id"],
        state=e.get("state", "coupled"),
        bc_modified_on=to_utc(e.get("bc_modified_on")),
        crm_modified_on=to_utc(e.get("crm_modified_on")),
        to_dataverse=statuses["to_dataverse"],
        to_bc=statuses["to_bc"],
        skipped=bool(e.get("skipped", False)),
        claimed_at=to_utc(e.get("claimed_at")),
        etag=e.metadata["etag"],
    )


def _if_not_modified(etag: str | None) -> dict[str, Any]:
    if etag is None:
        return {}
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


class TableCouplingStore:
    """CouplingStore over one table; ``page_size`` is the query page of ``iter_mapping``."""

    def __init__(self, table: TableClient, *, page_size: int = 1000) -> None:
        self._table = LazyTable(table)
        self.page_size = page_size

    def _get(self, keys: dict[str, str]) -> TableEntity | None:
        with mapped_errors(f"read coupling row in {self._table.name}"):
            try:
                return self._table.client().get_entity(keys["PartitionKey"], keys["RowKey"])
            except ResourceNotFoundError:
                return None

    def get_by_bc(self, mapping: str, bc_id: str) -> Coupling | None:
        row = self._get(_bc_key(mapping, bc_id))
        return None if row is None else _coupling_from_entity(row)

    def get_by_crm(self, mapping: str, crm_id: str) -> Coupling | None:
        index = self._get(_crm_key(mapping, crm_id))
        return None if index is None else self.get_by_bc(mapping, index["bc_id"])

    def transact(self, what: str, operations: list[Operation]) -> list[Mapping[str, Any]]:
        """One entity-group transaction; 409 -> AlreadyExistsError, 412 -> ConflictError."""
        try:
            return submit_transaction(self._table.client(), operations, what)
        except TableTransactionError as exc:
            if exc.status_code == 409:
                raise AlreadyExistsError(f"{what}: already exists", status=409) from exc
            if exc.status_code == 412:
                raise ConflictError(f"{what}: changed since read", status=412) from exc
            raise classify(what, exc) from exc
        except AzureError as exc:
            raise classify(what, exc) from exc

    @staticmethod
    def claim_operations(stored: Coupling) -> list[Operation]:
        """Create the coupling row, then its index row."""
        return [("create", _coupling_entity(stored)), ("create", _index_entity(stored))]

    @staticmethod
    def save_operations(stored: Coupling, etag: str) -> list[Operation]:
        """Replace the coupling row IfNotModified ``etag``, then upsert (merge) its index row."""
        return [
            ("update", _coupling_entity(stored), {"mode": UpdateMode.REPLACE, **_if_not_modified(etag)}),
            ("upsert", _index_entity(stored), {"mode": UpdateMode.MERGE}),
        ]

    def claim(self, coupling: Coupling) -> Coupling:
        stored = normalize_coupling(coupling, None)
        what = f"claim coupling {coupling.mapping} bc {coupling.bc_id} crm {coupling.crm_id}"
        result = self.transact(what, self.claim_operations(stored))
        logger.debug("claimed coupling %s bc %s crm %s", stored.mapping, stored.bc_id, stored.crm_id)
        return normalize_coupling(stored, result[0]["etag"])

    def claim_many(self, couplings: Sequence[Coupling]) -> list[Coupling | AlreadyExistsError]:
        """50 couplings per transaction; a group that meets a taken id is claimed one by one."""
        return bulk.claim_many(self, couplings)

    def save(self, coupling: Coupling) -> Coupling:
        """One request, no read: one transaction of the coupling row (IfNotModified its etag) and
        its index row. The crm_id must not change (delete + claim): not checked here, as that
        would need a read; a changed one would orphan the old index row and take over the new one."""
        if coupling.etag is None:
            raise ValueError("save needs the coupling's etag (read it first)")
        stored = normalize_coupling(coupling, None)
        what = f"save coupling {coupling.mapping} bc {coupling.bc_id}"
        try:
            result = self.transact(what, self.save_operations(stored, coupling.etag))
        except NotFoundError as exc:  # the coupling row is gone
            raise ConflictError(f"{what}: changed since read", status=412) from exc
        return normalize_coupling(stored, result[0]["etag"])

    def complete_claims(self, couplings: Sequence[Coupling]) -> list[Coupling | ConflictError]:
        """50 saves per transaction; a group with a stale or vanished coupling is saved one by one."""
        return bulk.complete_claims(self, couplings)

    def rekey_bc(self, coupling: Coupling, bc_id: str) -> Coupling:
        """One transaction: delete the claim row (IfNotModified), create the new row, repoint the index."""
        if coupling.etag is None:
            raise ValueError("rekey_bc needs the coupling's etag (read it first)")
        stored = normalize_coupling(replace(coupling, bc_id=bc_id), None)
        what = f"rekey coupling {coupling.mapping} bc {coupling.bc_id} -> {bc_id}"
        operations = [
            ("delete", _bc_key(coupling.mapping, coupling.bc_id), _if_not_modified(coupling.etag)),
            ("create", _coupling_entity(stored)),
            ("update", _index_entity(stored), {"mode": UpdateMode.REPLACE}),
        ]
        try:
            result = self.transact(what, operations)
        except NotFoundError as exc:
            raise ConflictError(f"{what}: changed since read", status=412) from exc
        return normalize_coupling(stored, result[1]["etag"])

    def delete(self, coupling: Coupling) -> None:
        """Read the row (for its crm_id), then delete both rows in one transaction.

        With no etag the delete is unconditional: a concurrent change is re-read and retried.
        """
        what = f"delete coupling {coupling.mapping} bc {coupling.bc_id}"
        for _ in range(_DELETE_ATTEMPTS):
            current = self._get(_bc_key(coupling.mapping, coupling.bc_id))
            if current is None:
                self._delete_orphan_index(what, coupling.mapping, coupling.crm_id, coupling.bc_id)
                return
            if coupling.etag is not None and current.metadata["etag"] != coupling.etag:
                raise ConflictError(f"{what}: changed since read", status=412)
            try:
                self._delete_rows(what, current)
                return
            except ConflictError:
                if coupling.etag is not None:
                    raise
        raise ConflictError(f"{what}: kept changing", status=412)

    def _delete_rows(self, what: str, current: TableEntity) -> None:
        bc_key = {"PartitionKey": current["PartitionKey"], "RowKey": current["RowKey"]}
        operations = [
            ("delete", bc_key, _if_not_modified(current.metadata["etag"])),
            ("delete", _crm_key(current["mapping"], current["crm_id"])),
        ]
        try:
            self.transact(what, operations)
        except NotFoundError:  # the index row was missing: delete the coupling row alone
            logger.warning("coupling %s bc %s had no index row", current["mapping"], current["bc_id"])
            with mapped_errors(what):
                self._table.client().delete_entity(
                    current, etag=current.metadata["etag"], match_condition=MatchConditions.IfNotModified
                )

    def _delete_orphan_index(self, what: str, mapping: str, crm_id: str, bc_id: str) -> None:
        index = self._get(_crm_key(mapping, crm_id))
        if index is not None and index["bc_id"] == bc_id:
            logger.warning("removing orphan index row of coupling %s bc %s", mapping, bc_id)
            with mapped_errors(what):
                self._table.client().delete_entity(index)

    def iter_mapping(self, mapping: str) -> Iterator[Coupling]:
        with mapped_errors(f"list couplings of {mapping}"):
            pages = self._table.client().query_entities(
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                parameters={"pk": key_escape(mapping), "lo": BC_PREFIX, "hi": _BC_END},
                results_per_page=self.page_size,
            )
            for entity in pages:
                yield _coupling_from_entity(entity)

    def iter_sync_state(self, mapping: str) -> Iterator[Coupling]:
        """The coupling rows' decision columns only (``$select``), a page of ``page_size`` per query."""
        with mapped_errors(f"list the sync state of {mapping}'s couplings"):
            pages = self._table.client().query_entities(
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                parameters={"pk": key_escape(mapping), "lo": BC_PREFIX, "hi": _BC_END},
                select=list(_SYNC_STATE_COLUMNS),
                results_per_page=self.page_size,
            )
            for e in pages:
                yield Coupling(
                    mapping,
                    e["bc_id"],
                    e["crm_id"],
                    e.get("state") or "coupled",
                    to_utc(e.get("bc_modified_on")),
                    to_utc(e.get("crm_modified_on")),
                    DirectionStatus(e.get("to_dataverse_result")),
                    DirectionStatus(e.get("to_bc_result")),
                    bool(e.get("skipped", False)),
                )

    def iter_failed(self, mapping: str, direction: Direction) -> Iterator[Coupling]:
        """Failed, not Skipped couplings of one direction (filtered by the table service)."""
        attr = "to_dataverse" if direction == "to-dataverse" else "to_bc"
        query = (
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi "
            f"and {attr}_result eq @f and skipped eq @s"
        )
        with mapped_errors(f"list failed couplings of {mapping}"):
            pages = self._table.client().query_entities(
                query,
                parameters={
                    "pk": key_escape(mapping),
                    "lo": BC_PREFIX,
                    "hi": _BC_END,
                    "f": "failure",
                    "s": False,
                },
                results_per_page=self.page_size,
            )
            for entity in pages:
                yield _coupling_from_entity(entity)


class TableWatermarkStore:
    def __init__(self, table: TableClient) -> None:
        self._table = LazyTable(table)

    def get(self, mapping: str, direction: Direction) -> Watermark:
        with mapped_errors(f"read watermark {mapping} {direction}"):
            try:
                row = self._table.client().get_entity(key_escape(mapping), direction)
            except ResourceNotFoundError:
                return Watermark(mapping, direction)
        return Watermark(mapping, direction, to_utc(row.get("value")), row.metadata["etag"])

    def advance(self, watermark: Watermark, value: datetime) -> Watermark:
        value = require_utc(value)
        if watermark.value is not None and value <= watermark.value:
            return watermark
        what = f"advance watermark {watermark.mapping} {watermark.direction}"
        entity = {
            "PartitionKey": key_escape(watermark.mapping),
            "RowKey": watermark.direction,
            "mapping": watermark.mapping,
            "value": value,
        }
        with mapped_errors(what):
            try:
                result = self._write(entity, watermark.etag)
            except ResourceExistsError as exc:
                raise AlreadyExistsError(f"{what}: written since read", status=409) from exc
            except (ResourceModifiedError, ResourceNotFoundError) as exc:
                raise ConflictError(f"{what}: changed since read", status=412) from exc
        logger.debug("watermark %s %s -> %s", watermark.mapping, watermark.direction, value)
        return Watermark(watermark.mapping, watermark.direction, value, str(result["etag"]))

    def _write(self, entity: dict[str, Any], etag: str | None) -> dict[str, Any]:
        client = self._table.client()
        if etag is None:
            return dict(client.create_entity(entity))
        return dict(
            client.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        )
