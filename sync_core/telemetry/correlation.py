"""The correlation id that follows one change from where it arrived to the write on the other side.

A change arrives by a Dataverse webhook (its RemoteExecutionContext's ``CorrelationId`` when it has
one), a BC notification, a mapping job (the job id) or an operator command (a new id). The use-case
that takes it opens a ``correlated`` scope; every queue message built inside the scope carries the
scope's id and the time the change arrived (``RecordMessage.correlation_id`` / ``enqueued_at``), and
the queue function that processes the message opens a scope with them again. So the log lines of
the webhook, of the message's processing and of the write all carry the same id:
``CorrelationFilter`` puts it on every log record made inside a scope.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

CORRELATION_ID = "correlation_id"  # the log record attribute (customDimensions.correlation_id)


@dataclass(frozen=True)
class Correlation:
    correlation_id: str
    received_at: str = ""  # ISO 8601 (UTC): when the change reached the app; "" when unknown


_current: ContextVar[Correlation | None] = ContextVar("bcsync_correlation", default=None)


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def current_correlation() -> Correlation | None:
    return _current.get()


def current_correlation_id() -> str:
    """The id of the change being handled now, or "" outside any scope."""
    scope = _current.get()
    return scope.correlation_id if scope is not None else ""


def current_received_at() -> str:
    """When the change being handled now reached the app (ISO 8601), or ""."""
    scope = _current.get()
    return scope.received_at if scope is not None else ""


def iso_time(value: datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def parse_time(value: str) -> datetime | None:
    """An ``enqueued_at`` value back as an aware datetime (None when absent or not a time)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@contextmanager
def correlated(
    correlation_id: str | None = None,
    *,
    received_at: datetime | str | None = None,
    keep_current: bool = False,
) -> Iterator[Correlation]:
    """Handle one change under ``correlation_id`` (a new id when None or "").

    ``keep_current``: inside a scope already (a mapping job run by an operator command or by a
    BC catch-up message), keep that one: the change keeps the id it arrived with.
    """
    existing = _current.get()
    if keep_current and existing is not None:
        yield existing
        return
    scope = Correlation(correlation_id or new_correlation_id(), iso_time(received_at))
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


class CorrelationFilter(logging.Filter):
    """Adds the current correlation id to every log record made inside a ``correlated`` scope.

    Attach it to a handler (filters of a logger do not apply to its children's records): the
    Application Insights handler gets one from ``telemetry.configure``. A record that names its
    own correlation id keeps it. Never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, CORRELATION_ID, ""):
            correlation_id = current_correlation_id()
            if correlation_id:
                setattr(record, CORRELATION_ID, correlation_id)
        return True
