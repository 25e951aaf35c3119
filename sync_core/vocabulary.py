"""The floor every layer may stand on: directions, the record value, and OData filter expressions.

Nothing here imports anything of ours; ``mapping/`` imports only this and ``errors``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

T = TypeVar("T")
Direction = Literal["to-dataverse", "to-bc"]
TO_DATAVERSE: Direction = "to-dataverse"  # BC's ToIntegrationTable
TO_BC: Direction = "to-bc"  # BC's FromIntegrationTable
DIRECTIONS: tuple[Direction, ...] = (TO_DATAVERSE, TO_BC)


def other(direction: Direction) -> Direction:
    """The opposite direction."""
    return TO_BC if direction == TO_DATAVERSE else TO_DATAVERSE


def bc_then_crm(direction: Direction, source: T, destination: T) -> tuple[T, T]:
    """A source/destination pair of ``direction`` as (BC side, Dataverse side)."""
    return (source, destination) if direction == TO_DATAVERSE else (destination, source)


@dataclass(frozen=True)
class Record:
    """One row as the sync sees it: its id (BC SystemId / Dataverse primary key), when it was last
    modified (UTC, aware), its ETag and its field values by API name."""

    id: str
    modified_on: datetime
    etag: str | None
    fields: Mapping[str, Any] = field(default_factory=dict)
    modified_by: str | None = None


# -- OData filter expressions -----------------------------------------------------------------------


def odata_literal(value: Any) -> str:
    """The OData v4 URL literal for a Python value (for ``$filter`` expressions)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("OData has no literal for a non-finite decimal")
        return format(value, "f")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("OData has no literal for a non-finite number")
        return repr(value)
    raise TypeError(f"no OData literal for {type(value).__name__}")


def format_datetime(value: datetime) -> str:
    """An aware datetime as UTC with milliseconds: ``2024-05-01T00:00:00.123Z`` (truncated)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime literals must be timezone-aware")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}Z"


def eq(field: str, value: Any) -> str:
    """``field eq <literal>``."""
    return f"{field} eq {odata_literal(value)}"


def and_filters(*exprs: str | None) -> str | None:
    """Join filter expressions with ``and``, each parenthesised; empties are skipped."""
    parts = [e.strip() for e in exprs if e and e.strip()]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({p})" for p in parts)
