"""What the sync use-cases are given: the catalog, both systems, the state stores, the queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sync_core.errors import SyncError
from sync_core.mapping.catalog import Catalog
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.ports import Coupling, MessageQueue, coupling_of_source
from sync_core.state.stores import StateStores
from sync_core.systems.ports import RecordSink, RecordSource
from sync_core.vocabulary import Direction, Record


class BcSystem(RecordSource, RecordSink, Protocol):
    def list_rows(
        self,
        entity: str,
        filter: str | None = None,
        select: Sequence[str] = (),
        *,
        orderby: str | None = None,
    ) -> Iterator[dict[str, Any]]: ...

    def action(self, entity: str, record_id: str, name: str) -> None: ...

    def company(self) -> dict[str, Any]: ...

    def delete(self, entity: str, record_id: str, etag: str = "*") -> None: ...


class DataverseSystem(RecordSource, RecordSink, Protocol):
    def whoami(self) -> str: ...

    def create_many(
        self, entity: str, rows: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[Record | SyncError]: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SyncContext:
    catalog: Catalog
    bc: BcSystem
    dataverse: DataverseSystem
    stores: StateStores
    record_queue: MessageQueue
    clock: Callable[[], datetime] = utc_now
    reference: BcReferenceData | None = None

    def __post_init__(self) -> None:
        if self.reference is None:
            self.reference = BcReferenceData(self.bc)

    def mapping(self, name: str) -> IntegrationTableMapping:
        """The effective mapping: the catalog's, with the runtime settings operators changed."""
        return self.catalog.get(name)

    def source(self, direction: Direction) -> RecordSource:
        return self.bc if direction == "to-dataverse" else self.dataverse

    def sink(self, direction: Direction) -> RecordSink:
        return self.dataverse if direction == "to-dataverse" else self.bc


def source_coupling(ctx: SyncContext, mapping: str, direction: Direction, source_id: str) -> Coupling | None:
    """The coupling of a source record: by its BC id going to Dataverse, by its Dataverse id back."""
    return coupling_of_source(ctx.stores.couplings, mapping, direction, source_id)


@dataclass
class BcReferenceData:
    """Reference rows hooks read from BC (exchange rates, setup), cached for ``ttl_seconds``.

    One instance lives as long as the worker's services, so a burst of records reads each
    reference row set once; a changed exchange rate is seen within the TTL, a missing one as soon
    as it is added.
    """

    bc: BcSystem
    ttl_seconds: float = 60.0
    monotonic: Callable[[], float] = time.monotonic
    _cache: dict[tuple[str, str], tuple[float, list[Mapping[str, Any]]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rows(self, entity: str, filter: str | None = None, *, fresh: bool = False) -> list[Mapping[str, Any]]:
        key, now = (entity, filter or ""), self.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if not fresh and cached is not None and now - cached[0] < self.ttl_seconds:
            return cached[1]
        rows: list[Mapping[str, Any]] = list(self.bc.list_rows(entity, filter))
        if rows:  # nothing found is not kept: an operator adds the row and retries at once
            with self._lock:
                self._cache[key] = (now, rows)
        return rows

    def company_name(self) -> str:
        """This BC company's name, read once per worker (it does not change)."""
        with self._lock:
            cached = self._cache.get(("companies", ""))
        if cached is None:
            cached = (self.monotonic(), [self.bc.company()])
            with self._lock:
                self._cache[("companies", "")] = cached
        return str(cached[1][0].get("name") or "")

    def lcy_code(self) -> str:
        setup = self.rows("integrationSetup")
        return str(setup[0].get("lcyCode", "")) if setup else ""
