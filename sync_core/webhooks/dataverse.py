"""Dataverse webhooks: authenticate the ``x-webhook-secret`` header, parse RemoteExecutionContext.

Dataverse POSTs the serialized RemoteExecutionContext (api-facts §D.2). Only the fields the sync
needs are read; everything else is ignored. Any problem is a ``WebhookError`` with the HTTP status
to answer and a reason that names no secret and echoes no payload.
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_BODY_BYTES = 1024 * 1024  # Dataverse trims contexts over 256 KB; anything far larger is not Dataverse
SECRET_HEADER = "x-webhook-secret"
SIZE_EXCEEDED_HEADER = "x-ms-dynamics-msg-size-exceeded"
SYNC_MESSAGES = frozenset({"Create", "Update", "SetState", "SetStateDynamicEntity"})


class WebhookError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class DataverseEvent:
    message_name: str
    entity: str  # logical name, e.g. "account"
    entity_id: str
    user_id: str
    initiating_user_id: str
    correlation_id: str
    operation_id: str
    depth: int
    size_exceeded: bool


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def authenticate(headers: Mapping[str, str], secret: str) -> None:
    """401 unless the secret header matches (constant-time comparison)."""
    given = _header(headers, SECRET_HEADER)
    if given is None:
        raise WebhookError(401, f"missing {SECRET_HEADER} header")
    if not hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
        raise WebhookError(401, f"wrong {SECRET_HEADER} header")


def _guid(context: Mapping[str, Any], key: str, *, required: bool) -> str:
    value = context.get(key)
    if value in (None, "") and not required:
        return ""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise WebhookError(400, f"{key} must be a GUID") from None


def _string(context: Mapping[str, Any], key: str) -> str:
    value = context.get(key)
    if not isinstance(value, str) or not value.strip():
        raise WebhookError(400, f"{key} is required and must be a non-empty string")
    return value.strip()


def parse(body: bytes, headers: Mapping[str, str]) -> DataverseEvent:
    """Validate and read a RemoteExecutionContext body."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookError(413, f"body larger than {MAX_BODY_BYTES} bytes")
    if not body:
        raise WebhookError(400, "empty body; expected a Dataverse RemoteExecutionContext")
    try:
        context = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise WebhookError(400, "body is not valid JSON") from None
    if not isinstance(context, dict):
        raise WebhookError(400, "body must be a JSON object (RemoteExecutionContext)")
    message = _string(context, "MessageName")
    depth = context.get("Depth", 1)
    return DataverseEvent(
        message_name=message,
        entity=_string(context, "PrimaryEntityName").lower(),
        entity_id=_guid(context, "PrimaryEntityId", required=True),
        user_id=_guid(context, "UserId", required=False),
        initiating_user_id=_guid(context, "InitiatingUserId", required=False),
        correlation_id=_guid(context, "CorrelationId", required=False),
        operation_id=_guid(context, "OperationId", required=False),
        depth=depth if isinstance(depth, int) else 1,
        size_exceeded=_header(headers, SIZE_EXCEEDED_HEADER) is not None,
    )
