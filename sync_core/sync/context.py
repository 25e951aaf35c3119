"""What the sync use-cases are given: the catalog, both systems, the state stores, the queue."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sync_core.mapping.catalog import Catalog
from sync_core.state.ports import Direction, MessageQueue
from sync_core.state.stores import StateStores
from sync_core.systems.ports import RecordSink, RecordSource


class BcSystem(RecordSource, RecordSink, Protocol):
    def list_rows(
        self, entity: str, filter: str | None = None, select: Sequence[str] = ()
    ) -> Iterator[dict[str, Any]]: ...


class DataverseSystem(RecordSource, RecordSink, Protocol):
    def whoami(self) -> str: ...


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

    def source(self, direction: Direction) -> RecordSource:
        return self.bc if direction == "to-dataverse" else self.dataverse

    def sink(self, direction: Direction) -> RecordSink:
        return self.dataverse if direction == "to-dataverse" else self.bc


@dataclass
class BcReferenceData:
    """Reference rows hooks read from BC (companion API), cached for one use-case run."""

    bc: BcSystem
    _cache: dict[tuple[str, str], list[Mapping[str, Any]]] = field(default_factory=dict)
    _lcy: str | None = None

    def rows(self, entity: str, filter: str | None = None) -> list[Mapping[str, Any]]:
        key = (entity, filter or "")
        if key not in self._cache:
            self._cache[key] = list(self.bc.list_rows(entity, filter))
        return self._cache[key]

    def lcy_code(self) -> str:
        if self._lcy is None:
            setup = self.rows("integrationSetup")
            self._lcy = str(setup[0].get("lcyCode", "")) if setup else ""
        return self._lcy

    def today(self, now: datetime) -> date:
        return now.date()
