"""Building OData query strings: ``$select``, datetimes, and the encoded query itself (literals and
filter expressions are the floor vocabulary's, ``sync_core.vocabulary``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

# Characters left readable in query values: OData syntax that is no query-string delimiter.
_SAFE_IN_VALUE = "$'(),:@/*"


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_datetime(text: str) -> datetime:
    """An OData ``DateTimeOffset`` value as an aware UTC datetime (naive values are taken as UTC).

    Accepts ``Z`` or an offset and more than six fractional digits (.NET writes seven).
    """
    value = datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip()))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


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
