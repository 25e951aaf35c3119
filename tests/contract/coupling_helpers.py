"""Helpers of the CouplingStore contract tests: batches of couplings, raw Table Storage rows,
a TableCouplingStore that counts its HTTP requests."""

from __future__ import annotations

from typing import Any

from azure.data.tables import TableClient

from sync_core.state.common import key_escape
from sync_core.state.ports import Coupling
from sync_core.state.tables import CRM_PREFIX, TableCouplingStore

MAPPING = "UNIT OF MEASURE"


def coupling(bc_id: str = "bc-1", crm_id: str = "crm-1", mapping: str = MAPPING, **kw: Any) -> Coupling:
    return Coupling(mapping=mapping, bc_id=bc_id, crm_id=crm_id, **kw)


def claims(count: int, start: int = 0, **kw: Any) -> list[Coupling]:
    """``count`` claims ``bc-NNNN`` / ``crm-NNNN`` of MAPPING."""
    numbers = range(start, start + count)
    return [coupling(f"bc-{n:04d}", f"crm-{n:04d}", state="claimed", **kw) for n in numbers]


def raw_table(storage_conn: str, table_prefix: str) -> TableClient:
    return TableClient.from_connection_string(storage_conn, f"{table_prefix}couplings")


def index_states(raw: TableClient, mapping: str = MAPPING) -> dict[str, tuple[str, str]]:
    """The index rows of ``mapping``: crm_id -> (bc_id, state)."""
    rows = raw.query_entities("PartitionKey eq @pk", parameters={"pk": key_escape(mapping)})
    return {e["crm_id"]: (e["bc_id"], e["state"]) for e in rows if str(e["RowKey"]).startswith(CRM_PREFIX)}


class CountingStore:
    """A TableCouplingStore whose HTTP requests (each attempt, batches as one) are counted."""

    def __init__(self, storage_conn: str, table_prefix: str) -> None:
        self.requests: list[str] = []
        client = TableClient.from_connection_string(
            storage_conn, f"{table_prefix}couplings", raw_request_hook=self._sent
        )
        self.store = TableCouplingStore(client)

    def _sent(self, request: Any) -> None:
        self.requests.append(f"{request.http_request.method} {request.http_request.url}")

    def count(self) -> int:
        """Requests since the last call."""
        sent, self.requests = len(self.requests), []
        return sent
