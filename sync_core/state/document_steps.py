"""Document steps: which side effects of creating a BC document from a CRM one are done.

Creating a BC order from a CRM order is several writes that no transaction spans (the BC deep
insert, its notes, archiving the BC quote, the write-back to Dataverse). A queue message may be
delivered again, or a worker may die between two of them; each step is recorded here once done,
so a retry finishes what is missing instead of starting again. A step may keep a value (e.g. the
number of archive versions seen before archiving, so a retry can tell whether it happened).

The port, its in-memory twin and the Table Storage version side by side. Table
``<prefix>documentsteps``: PartitionKey = the document (``salesorder:<id>``, through
``key_escape``), RowKey = the step, column ``value``; created on first use. ``mark`` is an upsert
(idempotent); ``steps`` reads one partition.
"""

from __future__ import annotations

import threading
from typing import Protocol

from azure.data.tables import TableClient, UpdateMode

from sync_core.state.azure_common import LazyTable, mapped_errors
from sync_core.state.common import key_escape

DONE = "done"


class DocumentStepStore(Protocol):
    def steps(self, document: str) -> dict[str, str]:
        """Every recorded step of ``document`` with its value ({} when none)."""
        ...

    def mark(self, document: str, step: str, value: str = DONE) -> None:
        """Record ``step`` (again: the value is replaced)."""
        ...

    def forget(self, document: str) -> None:
        """Drop every step of ``document`` (its creation is to start over)."""
        ...


class MemoryDocumentStepStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, str]] = {}

    def steps(self, document: str) -> dict[str, str]:
        with self._lock:
            return dict(self._rows.get(document, {}))

    def mark(self, document: str, step: str, value: str = DONE) -> None:
        with self._lock:
            self._rows.setdefault(document, {})[step] = value

    def forget(self, document: str) -> None:
        with self._lock:
            self._rows.pop(document, None)


class TableDocumentStepStore:
    def __init__(self, table: TableClient) -> None:
        self._table = LazyTable(table)

    def steps(self, document: str) -> dict[str, str]:
        with mapped_errors(f"read the steps of {document}"):
            rows = self._table.client().query_entities(
                "PartitionKey eq @pk", parameters={"pk": key_escape(document)}, results_per_page=1000
            )
            return {str(row["step"]): str(row.get("value") or "") for row in rows}

    def mark(self, document: str, step: str, value: str = DONE) -> None:
        entity = {
            "PartitionKey": key_escape(document),
            "RowKey": key_escape(step),
            "step": step,
            "value": value,
        }
        with mapped_errors(f"record step {step} of {document}"):
            self._table.client().upsert_entity(entity, mode=UpdateMode.REPLACE)

    def forget(self, document: str) -> None:
        client = self._table.client()
        with mapped_errors(f"forget the steps of {document}"):
            for row in client.query_entities("PartitionKey eq @pk", parameters={"pk": key_escape(document)}):
                client.delete_entity(row["PartitionKey"], row["RowKey"])
