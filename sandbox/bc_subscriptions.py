"""BC webhook subscriptions in the BC emulator (api-facts §E.7): the mixin of :class:`BcEmulator`.

The API is in :mod:`sandbox.bc_subscription_api`, the journal of changes in
:mod:`sandbox.bc_subscription_changes`, the outgoing calls in :mod:`sandbox.bc_subscription_delivery`.
The notification thread starts and stops with the server; reseeding (``seed_demo``) removes the
subscriptions and resets pending changes, records and knobs.

Methods (tests call them in-process): ``set_subscription_knobs(delay_s=, collection_threshold=,
expiry_s=, retry_delays_s=, max_attempts=, timeout_s=, paused=, max_subscriptions=)`` -> the knobs;
``subscription_knobs()``; ``wait_notifications_idle(timeout=10.0)`` -> bool (nothing pending,
retrying or under way; a paused worker with pending changes is not idle);
``notification_deliveries()`` (every POST attempt: ``sequence, url, status, error, attempt,
outcome, entries, at``); ``subscription_handshakes()`` (``url, token, status, error, passed,
at``); ``clear_notification_deliveries()``; ``subscription_rows()`` (API shape, expired ones
included until BC removes them); ``expire_subscription(id, in_seconds=-1)`` (it expires then; by
default one second ago); ``drop_subscription(id)`` (BC deleted it).

Admin routes (sandbox only; neither counted, authenticated nor throttled):
``GET /_admin/subscriptions`` -> ``{"value": rows}``;
``POST /_admin/subscriptions/<id>/expire`` (optional body ``{"in_seconds": 3600}``) -> 200 the row;
``DELETE /_admin/subscriptions/<id>`` -> 204;
``GET|POST /_admin/subscriptions/knobs`` (POST body: the knobs to set) -> the knobs;
``POST /_admin/subscriptions/wait-idle?timeout=10`` -> ``{"idle": bool}``;
``GET /_admin/notification-deliveries`` -> ``{"value": [...]}``;
``POST /_admin/notification-deliveries/clear`` -> 204.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.bc_model import BcModel
from sandbox.bc_subscription_api import SubscriptionApi, public, subscription_target
from sandbox.bc_subscription_changes import SUBSCRIPTIONS, SubscriptionStore
from sandbox.bc_subscription_delivery import NotificationWorker
from sandbox.odata.engine import Store
from sandbox.odata.server import ApiError, EmulatorServer, Request, Response

__all__ = ["BcSubscriptions", "SubscriptionStore"]


class BcSubscriptions(EmulatorServer):
    store: Store
    model: BcModel
    notifications: NotificationWorker
    _subscription_api: SubscriptionApi

    def _install_subscriptions(self) -> None:
        """Wire the journal to the model and the store (after both are built)."""
        if not isinstance(self.store, SubscriptionStore):
            raise TypeError("webhook subscriptions need a SubscriptionStore")
        self.notifications = NotificationWorker(self.store)
        self.store.journal = self.notifications.journal
        self.model.observer = self.notifications.journal.observe
        self._subscription_api = SubscriptionApi(self.store, self.model, self.notifications, lambda: self.url)

    def subscription_route(self, req: Request) -> Response | None:
        """The answer when ``req`` is for a root's ``subscriptions`` set, else None."""
        target = subscription_target(req.path)
        return None if target is None else self._subscription_api.handle(req, target)

    def start(self, seed: bool = True) -> None:
        super().start(seed)
        self.notifications.start()

    def stop(self) -> None:
        super().stop()
        self.notifications.stop()

    # -- methods for tests --------------------------------------------------------------------------

    def set_subscription_knobs(self, **knobs: Any) -> dict[str, Any]:
        return self.notifications.set_knobs(**knobs)

    def subscription_knobs(self) -> dict[str, Any]:
        return self.notifications.knob_values()

    def wait_notifications_idle(self, timeout: float = 10.0) -> bool:
        return self.notifications.wait_idle(timeout)

    def notification_deliveries(self) -> list[dict[str, Any]]:
        return self.notifications.deliveries()

    def subscription_handshakes(self) -> list[dict[str, Any]]:
        return self.notifications.handshakes()

    def clear_notification_deliveries(self) -> None:
        self.notifications.clear_deliveries()

    def subscription_rows(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [public(row) for row in self.store.table(SUBSCRIPTIONS).values()]

    def expire_subscription(self, id: str, *, in_seconds: float = -1.0) -> dict[str, Any]:
        """Let the subscription expire ``in_seconds`` from now (default: one second ago; BC removes
        an expired one when the set is next read or written)."""
        with self.store.lock:
            row = dict(self._subscription_row(id))
            version = self.store.next_version()
            when = time.time() + in_seconds
            expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
            row.update({"__expires": when, "__version": version, "timestamp": version,
                        "expirationDateTime": expiry})  # fmt: skip
            self.store.table(SUBSCRIPTIONS)[row["subscriptionId"]] = row
            return public(row)

    def drop_subscription(self, id: str) -> None:
        """BC deleted the subscription (as after a refused notification)."""
        with self.store.lock:
            row = self._subscription_row(id)
            del self.store.table(SUBSCRIPTIONS)[row["subscriptionId"]]

    def _subscription_row(self, id: str) -> dict[str, Any]:
        row = self.store.table(SUBSCRIPTIONS).get(id.strip("'{}").lower())
        if row is None:
            raise ApiError(404, "NotFound", f"No subscription {id}.")
        return row

    # -- admin routes -------------------------------------------------------------------------------

    def _admin(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p][1:]
        if parts[:1] == ["notification-deliveries"]:
            if req.method == "GET" and len(parts) == 1:
                return Response(200, {"value": self.notification_deliveries()})
            if req.method == "POST" and parts[1:] == ["clear"]:
                self.clear_notification_deliveries()
                return Response(204)
        if parts[:1] == ["subscriptions"]:
            return self._admin_subscriptions(req, parts[1:])
        return super()._admin(req)

    def _admin_subscriptions(self, req: Request, parts: list[str]) -> Response:
        route = (req.method, *parts)
        if route == ("GET",):
            return Response(200, {"value": self.subscription_rows()})
        if route in (("GET", "knobs"), ("POST", "knobs")):
            body = req.json() if req.method == "POST" else {}
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "The knobs must be a JSON object.")
            try:
                return Response(200, self.set_subscription_knobs(**body))
            except (TypeError, ValueError) as exc:
                raise ApiError(400, "BadRequest", str(exc)) from exc
        if route == ("POST", "wait-idle"):
            try:
                timeout = float(req.query.get("timeout", "10"))
            except ValueError:
                raise ApiError(400, "BadRequest", "timeout must be a number of seconds.") from None
            return Response(200, {"idle": self.wait_notifications_idle(timeout)})
        if len(parts) == 2 and route == ("POST", parts[0], "expire"):
            body = req.json()
            seconds = body.get("in_seconds", -1) if isinstance(body, dict) else -1
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise ApiError(400, "BadRequest", "in_seconds must be a number.")
            return Response(200, self.expire_subscription(parts[0], in_seconds=seconds))
        if len(parts) == 1 and req.method == "DELETE":
            self.drop_subscription(parts[0])
            return Response(204)
        raise ApiError(404, "NotFound", f"No admin route {req.method} {req.path}.")
