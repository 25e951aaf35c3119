"""One table that turns an HTTP error answer into the core's error classes.

Rules are tried in order; the first whose system, status and code pattern all match wins. A rule's
``None`` matches anything. Messages carry the status, the remote code and the remote message (never
request bodies or tokens).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync_core.errors import (
    AlreadyExistsError,
    AuthError,
    ConfigError,
    ConflictError,
    DataError,
    NotFoundError,
    PermanentError,
    SyncError,
    TransientError,
)
from sync_core.odata.retry import parse_retry_after, with_retry_after

BC = "bc"
DATAVERSE = "dataverse"
_MAX_MESSAGE = 500


@dataclass(frozen=True)
class Rule:
    system: str | None
    status: int | None
    code: str | None  # regular expression matched against the whole remote code
    error: type[SyncError]
    remedy: str | None = None

    def matches(self, system: str, status: int, code: str) -> bool:
        return (
            (self.system is None or self.system == system)
            and (self.status is None or self.status == status)
            and (self.code is None or re.fullmatch(self.code, code, re.IGNORECASE) is not None)
        )


_RETRY_LATER = "transient; the message is retried by the queue"

RULES: tuple[Rule, ...] = (
    # Dataverse service protection (the answer is usually 429, but the code decides).
    Rule(DATAVERSE, None, r"0x8007232[126]", TransientError, _RETRY_LATER),
    # Dataverse duplicate key (POST with an existing id, or If-None-Match: * upsert).
    Rule(DATAVERSE, None, r"0x80040237", AlreadyExistsError, "the row already exists; re-read it"),
    Rule(BC, 409, r"Request_EntityChanged", ConflictError, "re-read the record and sync again"),
    Rule(None, 409, None, ConflictError, "re-read the record and sync again"),
    Rule(None, 412, None, ConflictError, "re-read the record and sync again"),
    Rule(None, 400, None, DataError, "correct the record's data or the mapping"),
    Rule(None, 413, None, DataError, "the request is too large; reduce the page or batch size"),
    Rule(
        None,
        401,
        None,
        AuthError,
        "check SYNC_TENANT_ID, SYNC_CLIENT_ID, SYNC_CLIENT_SECRET and the app registration",
    ),
    Rule(
        None,
        403,
        None,
        ConfigError,
        "grant the app user a security role (Dataverse) or permission sets (BC)",
    ),
    Rule(None, 404, None, NotFoundError, "the row or URL does not exist"),
    *(Rule(None, s, None, TransientError, _RETRY_LATER) for s in (408, 429, 500, 502, 503, 504)),
)


def parse_error_body(body_text: str) -> tuple[str, str]:
    """``(code, message)`` from an OData error body; tolerant of anything else."""
    try:
        data: Any = json.loads(body_text) if body_text else None
    except ValueError:
        data = None
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        err = data["error"]
        return str(err.get("code") or ""), str(err.get("message") or "")
    if isinstance(data, Mapping) and "error" in data:  # OAuth-style {"error": "...", ...}
        return str(data.get("error") or ""), str(data.get("error_description") or "")
    snippet = " ".join((body_text or "").split())
    return "", snippet[:200]


def _fallback(status: int) -> type[SyncError]:
    if status >= 500:
        return TransientError
    return PermanentError


def classify(system: str, status: int, code: str) -> Rule:
    """The first matching rule (or a fallback: 5xx transient, anything else permanent)."""
    for rule in RULES:
        if rule.matches(system, status, code):
            return rule
    return Rule(system, status, None, _fallback(status))


def error_from_response(
    system: str, status: int, body_text: str, headers: Mapping[str, str] | None
) -> SyncError:
    """The classified error for one non-2xx answer (returned, not raised)."""
    code, remote_message = parse_error_body(body_text)
    rule = classify(system, status, code)
    text = remote_message[:_MAX_MESSAGE] or "no error message"
    error = rule.error(
        f"{system} answered {status}: {text}", code=code or None, status=status, remedy=rule.remedy
    )
    if isinstance(error, TransientError):
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        with_retry_after(error, retry_after)
    return error


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)
