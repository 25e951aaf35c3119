"""One error hierarchy for the whole core.

Transient   -> re-raise; the queue redelivers (and the HTTP layer already retried).
Permanent   -> record it (mapping, record, field, message, remedy) and swallow.
Config      -> settings or sign-in are wrong; nothing will work until an operator fixes it.
Conflict    -> the row changed under us (412 / 409 Request_EntityChanged / table ETag);
               re-read and re-decide, never a blind overwrite.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error the core raises on purpose.

    ``code`` is the remote error code when there is one (``0x80040217``, ``Request_EntityChanged``),
    ``status`` the HTTP status. Messages never carry secrets or record bodies.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        remedy: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.remedy = remedy

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None or self.code:
            parts.append(f"(HTTP {self.status}, code {self.code or '-'})")
        return " ".join(parts)


class TransientError(SyncError):
    """Worth trying again later: throttling, timeouts, 5xx, connection errors.

    ``retry_after`` is the server's Retry-After in seconds when it gave one.
    """

    retry_after: float | None = None


class PermanentError(SyncError):
    """Trying again will give the same answer until data or configuration changes."""


class DataError(PermanentError):
    """The record's data was refused (400, validation, mapping failure)."""


class NotFoundError(PermanentError):
    """The addressed row does not exist (404)."""


class ConfigError(SyncError):
    """Settings, permissions or sign-in are wrong (bad setting, 401, 403)."""


class AuthError(ConfigError):
    """Sign-in failed (token endpoint refused the app, or the API answered 401)."""


class ConflictError(SyncError):
    """Optimistic concurrency failed: the row changed since it was read."""


class AlreadyExistsError(ConflictError):
    """An insert-if-absent found the row already there."""


class MappingError(DataError):
    """A record could not be mapped: names the field and says what to do about it."""

    def __init__(self, message: str, *, field: str = "", remedy: str | None = None) -> None:
        super().__init__(message, remedy=remedy)
        self.field = field
