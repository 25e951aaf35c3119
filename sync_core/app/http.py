"""HTTP plumbing shared by every route's use-case: the result value, the JSON body parser and the
one table from a refusal to its status code.

    400  the request is wrong (``BadRequest``), or the data it names is (``DataError``)
    404  an unknown mapping, record, coupling or run (``NotFoundError``)
    409  refused in the current state (``ConflictError``), or the operation failed on a record
    500  the deployment is misconfigured (``ConfigError``)
    503  storage or an API is unavailable for now (``TransientError``): try again
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sync_core.errors import ConfigError, ConflictError, DataError, NotFoundError, SyncError, TransientError
from sync_core.telemetry import correlated

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    text: str | None = None  # a text/plain answer instead of the JSON body (BC's handshake)

    def json(self) -> str:
        return json.dumps(self.body, separators=(",", ":"), default=str)


class BadRequest(Exception):
    """The request itself is wrong (400); the message says how."""


def json_body(raw: bytes, allowed: set[str]) -> dict[str, Any]:
    """The request body as a JSON object naming only ``allowed`` fields (an empty body is ``{}``)."""
    if len(raw) > MAX_BODY:
        raise BadRequest(f"the body is larger than {MAX_BODY} bytes")
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    return data


def guid(data: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    """A GUID field in its canonical form (None when absent and not required)."""
    value = data.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{name} is required")
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise BadRequest(f"{name} must be a GUID") from None


def flag(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false")
    return value


def names(data: Mapping[str, Any], key: str, what: str = "mapping names") -> list[str]:
    """A list of non-empty strings (one string is a list of one)."""
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadRequest(f"{key} must be a list of {what}")
    return value


def status_of(exc: SyncError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, DataError):
        return 400
    if isinstance(exc, TransientError):
        return 503
    return 500 if isinstance(exc, ConfigError) else 409


def answer(call: Callable[[], HttpResult]) -> HttpResult:
    """Run ``call`` (one operator request: one correlation id) and turn a refusal into its
    status, with the reason (and remedy)."""
    try:
        with correlated(received_at=datetime.now(UTC)):
            return call()
    except BadRequest as exc:
        return HttpResult(400, {"error": str(exc)})
    except SyncError as exc:
        status = status_of(exc)
        level = logging.WARNING if status >= 500 else logging.INFO
        log.log(level, "operator request refused (%d): %s", status, exc)
        body = {"error": exc.message}
        if exc.remedy:
            body["remedy"] = exc.remedy
        return HttpResult(status, body)
