"""Ports shared by the BC and Dataverse adapters.

A ``Record`` (``sync_core.vocabulary``) is one row as the sync sees it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sync_core.vocabulary import Record


@dataclass(frozen=True)
class ModifiedQuery:
    """What a mapping job asks a source for.

    ``since`` is the watermark; ``None`` means every row matching ``filter``. Whether the lower bound
    is strict or has an overlap is the adapter's rule (BC: strictly after; Dataverse: 999 ms overlap).
    ``filter`` is an extra OData ``$filter`` expression (the mapping's table filter), ``select``
    the fields to read, ``exclude_modified_by`` a user id whose changes are skipped (echo suppression).
    """

    entity: str
    since: datetime | None = None
    filter: str | None = None
    select: Sequence[str] = ()
    exclude_modified_by: str | None = None
    page_size: int = 1000


class RecordSource(Protocol):
    def iter_modified(self, query: ModifiedQuery) -> Iterator[Record]: ...

    def get(self, entity: str, record_id: str, select: Sequence[str] = ()) -> Record | None: ...


class RecordSink(Protocol):
    def create(self, entity: str, values: Mapping[str, Any], record_id: str | None = None) -> Record:
        """Create a row; ``record_id`` asks for that primary key where the API allows it."""
        ...

    def update(self, entity: str, record_id: str, values: Mapping[str, Any], etag: str) -> Record:
        """PATCH with If-Match ``etag`` (``*`` for update-only); ConflictError on a stale ETag."""
        ...

    def get(self, entity: str, record_id: str, select: Sequence[str] = ()) -> Record | None: ...
