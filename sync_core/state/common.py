"""Pure helpers shared by the Table Storage stores and their in-memory twins.

Both implementations normalize what they store the same way (UTC datetimes, clipped texts), so
the contract suite sees identical values from either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sync_core.state.ports import (
    OUTCOME_STRENGTH,
    OUTCOMES,
    Coupling,
    DirectionStatus,
    JobRun,
    RecordOutcome,
    SyncErrorEntry,
)

ERROR_MAX = 2048  # a coupling's last error per direction
TEXT_MAX = 16_000  # other free texts (a table string holds 32K UTF-16 units)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INVERT_BASE = 10**18  # > microseconds from 1970 to 9999
_FORBIDDEN = frozenset("/\\#?%")
_ESCAPED = re.compile(r"%([0-9A-F]{2})")


def _needs_escape(ch: str) -> bool:
    code = ord(ch)
    return ch in _FORBIDDEN or code < 0x20 or 0x7F <= code <= 0x9F


def key_escape(value: str) -> str:
    """Make ``value`` usable as a PartitionKey/RowKey.

    Percent-encodes only what keys may not hold (``/ \\ # ?``, control characters) and ``%``
    itself; everything else (spaces, hyphens, quotes, non-ASCII) is kept as is.
    """
    return "".join(f"%{ord(ch):02X}" if _needs_escape(ch) else ch for ch in value)


def key_unescape(value: str) -> str:
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), value)


def to_utc(value: datetime | None) -> datetime | None:
    """A plain ``datetime`` in UTC (naive values are taken as UTC), microseconds kept."""
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(
        aware.year,
        aware.month,
        aware.day,
        aware.hour,
        aware.minute,
        aware.second,
        aware.microsecond,
        tzinfo=UTC,
    )


def require_utc(value: datetime) -> datetime:
    result = to_utc(value)
    if result is None:
        raise ValueError("a datetime is required")
    return result


def inverted_ticks(value: datetime) -> str:
    """A fixed-width key that sorts newest first (microseconds before 10**18, inverted)."""
    micros = (require_utc(value) - _EPOCH) // timedelta(microseconds=1)
    return f"{_INVERT_BASE - micros:019d}"


ERROR_CURSOR = re.compile(r"\d{19}_[0-9a-f]{12}")


def error_key(occurred_at: datetime, tail: str) -> str:
    """A sync error's key: newest first, ``tail`` (12 hex digits) apart on the same microsecond."""
    return f"{inverted_ticks(occurred_at)}_{tail}"


def check_error_cursor(cursor: str) -> str:
    if cursor and not ERROR_CURSOR.fullmatch(cursor):
        raise ValueError("not a sync error page cursor")
    return cursor


def clip(text: str | None, limit: int = TEXT_MAX) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit]


def _normal_status(status: DirectionStatus) -> DirectionStatus:
    return replace(status, error=clip(status.error, ERROR_MAX))


def normalize_coupling(coupling: Coupling, etag: str | None) -> Coupling:
    """The coupling as a store keeps it: UTC datetimes, clipped errors, the given ETag."""
    return replace(
        coupling,
        bc_modified_on=to_utc(coupling.bc_modified_on),
        crm_modified_on=to_utc(coupling.crm_modified_on),
        claimed_at=to_utc(coupling.claimed_at),
        to_dataverse=_normal_status(coupling.to_dataverse),
        to_bc=_normal_status(coupling.to_bc),
        etag=etag,
    )


def normalize_run(run: JobRun) -> JobRun:
    return replace(
        run,
        started_at=require_utc(run.started_at),
        finished_enqueue_at=to_utc(run.finished_enqueue_at),
        message=clip(run.message) or "",
    )


def normalize_error(entry: SyncErrorEntry) -> SyncErrorEntry:
    return replace(
        entry,
        occurred_at=require_utc(entry.occurred_at),
        message=clip(entry.message) or "",
        remedy=clip(entry.remedy) or "",
    )


def check_outcome(outcome: str) -> RecordOutcome:
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown record outcome {outcome!r}; expected one of {OUTCOMES}")
    return outcome


CHUNK_IDS_MAX_CHARS = 30_000  # the ids a chunk row lists (JSON): a string property holds 32K chars


def chunk_ids(sent_again: Sequence[str]) -> str | None:
    """The ids a chunk sent back, as listed on its row (JSON), or None if they do not fit."""
    ids = json.dumps(list(sent_again), separators=(",", ":"))
    return ids if len(ids) <= CHUNK_IDS_MAX_CHARS else None


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)


def strongest(outcomes: Iterable[str]) -> str | None:
    """The outcome that counts for a record processed more than once in one job."""
    return max(outcomes, key=lambda o: OUTCOME_STRENGTH.get(o, -1), default=None)
