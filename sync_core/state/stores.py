"""The bundle of state stores the use-cases receive, in memory or in Table Storage."""

from __future__ import annotations

from dataclasses import dataclass

from sync_core.state.ports import CouplingStore, JobLogStore, SyncErrorStore, WatermarkStore


@dataclass
class StateStores:
    couplings: CouplingStore
    watermarks: WatermarkStore
    job_log: JobLogStore
    sync_errors: SyncErrorStore


def memory_stores() -> StateStores:
    """Fresh in-memory twins (tests, local runs)."""
    from sync_core.state.memory import (
        MemoryCouplingStore,
        MemoryJobLogStore,
        MemorySyncErrorStore,
        MemoryWatermarkStore,
    )

    return StateStores(
        couplings=MemoryCouplingStore(),
        watermarks=MemoryWatermarkStore(),
        job_log=MemoryJobLogStore(),
        sync_errors=MemorySyncErrorStore(),
    )


def table_stores(conn_str: str, prefix: str = "bcsync") -> StateStores:
    """Table Storage stores over tables ``<prefix>couplings``, ``<prefix>watermarks``,
    ``<prefix>jobruns``, ``<prefix>joboutcomes``, ``<prefix>syncerrors``.

    No I/O here: each table is created if missing on its first use.
    """
    from sync_core.state.tables_log import build_table_stores  # azure SDK only when used

    return build_table_stores(conn_str, prefix)
