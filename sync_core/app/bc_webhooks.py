"""BC webhook subscriptions: the route ``GET|POST /api/webhooks/bc``, the timer
``renew_bc_subscriptions`` and the command ``bc-subscriptions {create,renew,list,delete}``.

The route's answers are a contract with BC (api-facts §E.7): anything but 408, 429 or 5xx makes
BC delete the subscription. So: the handshake -> 200 text/plain (only while this app creates or
renews a subscription, else 404); notifications -> 202 once enqueued; a forged or unknown
clientState -> 401 and nothing enqueued; the app's own transient faults (storage down) -> 503 so
that BC retries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sync_core.app.http import HttpResult
from sync_core.app.wiring import Services, services
from sync_core.errors import DataError, SyncError
from sync_core.sync.commands.bc_subscriptions import RENEW_WITHIN, BcSubscriptions
from sync_core.sync.context import utc_now
from sync_core.sync.jobs.bc_notifications import enqueue_bc_notifications
from sync_core.telemetry import correlated
from sync_core.webhooks.bc import client_state, parse_notifications, validation_token
from sync_core.webhooks.dataverse import WebhookError

log = logging.getLogger(__name__)


def subscriptions(svc: Services) -> BcSubscriptions:
    state = client_state(svc.settings.webhook_secret, svc.settings.bc_company_id)
    return BcSubscriptions(svc.bc_subscriptions, svc.stores.document_steps, svc.catalog, state, utc_now)


def receive_bc_webhook(query: Mapping[str, str], body: bytes, *, svc: Services | None = None) -> HttpResult:
    """BC sends no correlation id: one new id per notification call follows its changes."""
    s = svc or services()
    token = validation_token(query)
    try:
        if token is not None:
            return _handshake(s, token)
        state = client_state(s.settings.webhook_secret, s.settings.bc_company_id)
        notifications = parse_notifications(body, state)
        with correlated(received_at=utc_now()):
            intake = enqueue_bc_notifications(s.sync_context(), s.settings.bc_company_id, notifications)
    except WebhookError as exc:
        log.warning("bc webhook refused (%d): %s", exc.status, exc.reason)
        return HttpResult(exc.status, {"error": exc.reason})
    except SyncError as exc:  # our fault (storage down, ...), not BC's: BC retries a 5xx
        log.warning(
            "bc webhook not taken now: %s (HTTP %s, code %s)", type(exc).__name__, exc.status, exc.code
        )
        return HttpResult(503, {"error": "temporarily unable to take the notification; try again"})
    return HttpResult(202, intake.as_json())


def _handshake(svc: Services, token: str) -> HttpResult:
    if not subscriptions(svc).handshake_expected():
        log.warning("bc webhook handshake refused: no subscription is being created or renewed")
        return HttpResult(404, {"error": "no subscription is being created or renewed"})
    return HttpResult(200, text=token)


def run_subscription_renewal(*, svc: Services | None = None) -> list[dict[str, Any]]:
    """Timer ``renew_bc_subscriptions``: renew what expires within a day, re-create what BC lost."""
    s = svc or services()
    manager = subscriptions(s)
    if not manager.stored():
        log.info("bc subscriptions: none created yet (bc-subscriptions create --url); nothing to renew")
        return []
    done = manager.renew(within=RENEW_WITHIN)
    changed = [d for d in done if d["action"] != "valid"]
    log.info("bc subscriptions: %d checked, %d renewed or re-created", len(done), len(changed))
    return done


def subscriptions_command(svc: Services, action: str, url: str | None) -> dict[str, Any]:
    manager = subscriptions(svc)
    if action == "create":
        if not url:
            raise DataError("bc-subscriptions create needs --url https://<app>/api/webhooks/bc")
        return {"subscriptions": manager.create(url)}
    if action == "renew":
        return {"subscriptions": manager.renew(url)}
    if action == "delete":
        return {"subscriptions": manager.delete()}
    return {"subscriptions": manager.listing()}
