"""BC webhook notifications (api-facts §E.7): the handshake, the body, the clientState check.

BC calls ``/api/webhooks/bc``:
- with ``?validationToken=...`` when a subscription is created or renewed: the answer is the token
  as ``text/plain`` (only while this app is creating or renewing one: ``registration``);
- with ``{"value": [{subscriptionId, clientState, expirationDateTime, resource, changeType,
  lastModifiedDateTime}, ...]}`` for changes. Every entry's ``clientState`` must be this app's
  (a secret derived from its settings, compared in constant time): one forged entry refuses the
  whole call (401) and nothing is taken from it.
The answer codes are a contract with BC: anything but 408, 429 or 5xx makes BC delete the
subscription, so only a forged call (401) or a body no subscription would send (400) is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from sync_core.webhooks.dataverse import WebhookError

ChangeType = Literal["created", "updated", "deleted", "collection"]
CHANGE_TYPES = frozenset({"created", "updated", "deleted", "collection"})
MAX_BODY = 1024 * 1024  # BC sends up to 1,000 entries per call
RESOURCE = re.compile(
    r"companies\((?P<company>[^)]+)\)/(?P<set>[A-Za-z0-9_]+)(?:\((?P<id>[^)]+)\))?(?P<rest>.*)$"
)


def client_state(secret: str, company_id: str) -> str:
    """The subscription's clientState: an HMAC of this company under the app's webhook secret."""
    digest = hmac.new(secret.encode(), f"bcsync/bc-subscriptions/{company_id}".encode(), hashlib.sha256)
    return digest.hexdigest()


@dataclass(frozen=True)
class BcNotification:
    subscription_id: str
    change_type: ChangeType
    company_id: str
    entity: str  # the entity set, e.g. integrationCustomers
    record_id: str  # "" for a collection
    resource: str  # as BC sent it (a collection's carries its $filter)


def validation_token(query: Mapping[str, str]) -> str | None:
    token = next((v for k, v in query.items() if k.lower() == "validationtoken"), None)
    return token if token else None


def parse_notifications(body: bytes, expected_state: str) -> list[BcNotification]:
    """The entries of one notification call; WebhookError 400 / 401 (nothing is taken) otherwise."""
    if len(body) > MAX_BODY:
        raise WebhookError(413, f"the body is larger than {MAX_BODY} bytes")
    try:
        data: Any = json.loads(body.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        raise WebhookError(400, "the body is not JSON") from None
    entries = data.get("value") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise WebhookError(400, 'the body must be {"value": [notification, ...]}')
    for entry in entries:  # authenticate every entry before reading any
        given = str(entry.get("clientState") or "")
        if not hmac.compare_digest(given.encode(), expected_state.encode()):
            raise WebhookError(401, "unknown clientState")
    return [_entry(e) for e in entries]


def _entry(entry: Mapping[str, Any]) -> BcNotification:
    change = str(entry.get("changeType") or "")
    resource = str(entry.get("resource") or "")
    found = RESOURCE.search(resource)
    if change not in CHANGE_TYPES or found is None:
        raise WebhookError(400, f"a notification has an unknown changeType or resource ({change or '-'})")
    record = (found.group("id") or "").strip("'")
    if change != "collection" and not record:
        raise WebhookError(400, f"a {change} notification names no record")
    return BcNotification(
        subscription_id=str(entry.get("subscriptionId") or ""),
        change_type=cast(ChangeType, change),
        company_id=found.group("company").strip("'"),
        entity=found.group("set"),
        record_id=record,
        resource=resource,
    )
