"""The bundle of state stores the use-cases receive, in memory or in Table Storage."""

from __future__ import annotations

from dataclasses import dataclass

from sync_core.state.document_steps import DocumentStepStore, MemoryDocumentStepStore, TableDocumentStepStore
from sync_core.state.memory import (
    MemoryCouplingStore,
    MemoryJobLogStore,
    MemorySyncErrorStore,
    MemoryWatermarkStore,
)
from sync_core.state.ports import CouplingStore, JobLogStore, SyncErrorStore, WatermarkStore
from sync_core.state.storage_account import StorageRef
from sync_core.state.tables import TableCouplingStore, TableWatermarkStore, check_prefix, table_client
from sync_core.state.tables_log import TableJobLogStore, TableSyncErrorStore


@dataclass
class StateStores:
    couplings: CouplingStore
    watermarks: WatermarkStore
    job_log: JobLogStore
    sync_errors: SyncErrorStore
    document_steps: DocumentStepStore


def memory_stores() -> StateStores:
    """Fresh in-memory twins (tests, local runs)."""
    return StateStores(
        couplings=MemoryCouplingStore(),
        watermarks=MemoryWatermarkStore(),
        job_log=MemoryJobLogStore(),
        sync_errors=MemorySyncErrorStore(),
        document_steps=MemoryDocumentStepStore(),
    )


def table_stores(conn_str: StorageRef, prefix: str = "bcsync") -> StateStores:
    """Table Storage stores over tables ``<prefix>couplings``, ``<prefix>watermarks``,
    ``<prefix>jobruns``, ``<prefix>joboutcomes``, ``<prefix>syncerrors``, ``<prefix>documentsteps``.

    No I/O here: each table is created if missing on its first use.
    """
    check_prefix(prefix)
    return StateStores(
        couplings=TableCouplingStore(table_client(conn_str, f"{prefix}couplings")),
        watermarks=TableWatermarkStore(table_client(conn_str, f"{prefix}watermarks")),
        job_log=TableJobLogStore(
            table_client(conn_str, f"{prefix}jobruns"),
            table_client(conn_str, f"{prefix}joboutcomes"),
        ),
        sync_errors=TableSyncErrorStore(table_client(conn_str, f"{prefix}syncerrors")),
        document_steps=TableDocumentStepStore(table_client(conn_str, f"{prefix}documentsteps")),
    )
