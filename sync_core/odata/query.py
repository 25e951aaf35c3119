"""Building OData query strings: literals, filters, ``$select``, and the encoded query itself."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

# Characters left readable in query values: OData syntax that is no query-string delimiter.
_SAFE_IN_VALUE = "$'(),:@/*"


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


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_datetime(text: str) -> datetime:
    """An OData ``DateTimeOffset`` value as an aware UTC datetime (naive values are taken as UTC).

    Accepts ``Z`` or an offset and more than six fractional digits (.NET writes seven).
    """
    value = datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip()))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def and_filters(*exprs: str | None) -> str | None:
    """Join filter expressions with ``and``, each parenthesised; empties are skipped."""
    parts = [e.strip() for e in exprs if e and e.strip()]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({p})" for p in parts)


def select_param(fields: Iterable[str]) -> str:
    """A ``$select`` value: the fields in order, without duplicates."""
    return ",".join(dict.fromkeys(f for f in fields if f))


def encode_query(params: Mapping[str, Any]) -> str:
    """A query string: spaces as ``%20``, ``+ & = #`` encoded, OData syntax left readable.

    ``None`` values are left out; booleans are written ``true``/``false``.
    """
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        pairs.append(f"{quote(key, safe='$')}={quote(text, safe=_SAFE_IN_VALUE)}")
    return "&".join(pairs)
