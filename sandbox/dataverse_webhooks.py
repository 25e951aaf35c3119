"""Dataverse webhooks in the emulator: from committed changes to queued deliveries (api-facts §D).

Every write (Web API request, ``$batch``, quote action, the emulator's in-process helpers) runs in
a *unit*: the model's changes are collected per thread while the store lock is held, dropped with
a failed unit or a rolled-back change set, and matched with the registered steps when the
outermost unit commits, so deliveries queue in commit order. An Update that sets both state
fields and other columns is raised twice, first for the other columns, then for ``statecode`` /
``statuscode`` (§A.5). ``UserId`` / ``InitiatingUserId`` are the user who made the change.

:class:`WebhookEmulator` is the emulator's base: the worker starts and stops with the server;
``webhook_deliveries()``, ``wait_webhooks_idle(timeout)``, ``pause_webhooks()`` /
``resume_webhooks()``, ``set_webhook_knobs(timeout_s=, retry_delay_s=, paused=)`` and the admin
routes ``GET /_admin/webhook-deliveries``, ``POST /_admin/webhook-deliveries/clear``,
``POST /_admin/webhooks/wait-idle?timeout=10`` (-> ``{"idle": bool}``),
``POST /_admin/webhooks/pause`` / ``resume``, ``GET|POST /_admin/webhooks/knobs``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from sandbox.dataverse_events import Change
from sandbox.dataverse_model import DataverseModel
from sandbox.dataverse_webhook_delivery import DeliveryWorker, Job
from sandbox.dataverse_webhook_payload import Event, Organization, logical_name, now
from sandbox.dataverse_webhook_registry import (
    filter_id,
    install_rules,
    matching_steps,
    message_id,
    seed_messages,
)
from sandbox.odata.engine import Store
from sandbox.odata.server import ApiError, EmulatorServer, Request, Response
from sandbox.seed import seed_id

log = logging.getLogger(__name__)
STATE_FIELDS = ("statecode", "statuscode")
ORGANIZATION_NAME = "cronussandbox"


def update_parts(names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The Update events one update raises: the other columns, then the state fields."""
    ordinary = tuple(n for n in names if n not in STATE_FIELDS)
    has_state = any(n in STATE_FIELDS for n in names)
    parts = [ordinary] if ordinary or not has_state else []
    return parts + ([STATE_FIELDS] if has_state else [])


class _Unit(threading.local):
    depth = 0
    correlation = ""

    def __init__(self) -> None:
        self.changes: list[Change] = []


class WebhookService:
    def __init__(self, store: Store, organization: Callable[[], Organization]) -> None:
        self.store = store
        self.worker = DeliveryWorker(organization)
        self._unit = _Unit()

    @contextmanager
    def unit(self) -> Iterator[None]:
        """A write: changes made inside are published when the outermost unit ends well."""
        state = self._unit
        with self.store.lock:
            if state.depth == 0:
                state.changes, state.correlation = [], str(uuid.uuid4())
            mark = len(state.changes)
            state.depth += 1
            try:
                yield
            except BaseException:
                del state.changes[mark:]
                raise
            finally:
                state.depth -= 1
                if state.depth == 0:
                    changes, state.changes = state.changes, []
                    self._publish(changes, state.correlation)

    def mark(self) -> int:
        return len(self._unit.changes)

    def rollback(self, mark: int) -> None:
        """Forget the changes since ``mark`` (a change set that was rolled back)."""
        del self._unit.changes[mark:]

    def record(self, change: Change) -> None:
        """The model's observer."""
        if self._unit.depth:
            self._unit.changes.append(change)
        else:
            with self.store.lock:
                self._publish([change], str(uuid.uuid4()))

    def _publish(self, changes: list[Change], correlation: str) -> None:
        if not changes or not self.store.table("sdkmessageprocessingsteps"):
            return
        try:
            jobs = [job for change in changes for job in self._jobs(change, correlation)]
        except Exception:  # never fail the user's write for a webhook
            log.exception("matching webhook steps failed")
            return
        if jobs:
            self.worker.put(jobs)

    def _jobs(self, change: Change, correlation: str) -> list[Job]:
        user = self.store.table("systemusers").get(change.caller) or {}
        parts: list[tuple[str, ...] | None] = (
            list(update_parts(change.names)) if change.message == "Update" else [None]
        )
        jobs: list[Job] = []
        for names in parts:
            event = Event(change.message, change.edef, change.row, change.pre, names, change.caller,
                          user.get("azureactivedirectoryobjectid"), user.get("_businessunitid_value"),
                          correlation, now())  # fmt: skip
            attributes = {logical_name(n) for n in names or ()}
            for registration in matching_steps(self.store, change.message, change.edef.logical, attributes):
                jobs.append(Job(event, registration))
        return jobs


class WebhookEmulator(EmulatorServer):
    """Emulator base with webhook delivery: lifecycle, knobs, the deliveries record, admin routes."""

    webhooks: WebhookService
    model: DataverseModel
    ids: dict[str, str]

    def _install_webhooks(self) -> None:
        self.webhooks = WebhookService(self.model.store, self._organization)
        self.model.observer = self.webhooks.record
        install_rules(self.model)

    def _seed_platform(self) -> None:
        """The SDK messages and filters webhook steps are registered on (also in an empty store)."""
        with self.webhooks.unit():
            seed_messages(self.model, seed_id("dv", "systemuser", "human_user"))

    def _organization(self) -> Organization:
        host = urlsplit(self.url).netloc if self._port is not None else "127.0.0.1"
        return Organization(self.ids.get("organization", ""), ORGANIZATION_NAME, host)

    def start(self, seed: bool = True) -> None:
        if not seed:
            self._seed_platform()
        super().start(seed)
        self.webhooks.worker.start()

    def stop(self) -> None:
        super().stop()
        self.webhooks.worker.stop()

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Every delivery attempt so far (oldest first)."""
        return self.webhooks.worker.deliveries()

    def clear_webhook_deliveries(self) -> None:
        self.webhooks.worker.clear_deliveries()

    def wait_webhooks_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no delivery is queued or under way; False if ``timeout`` seconds passed."""
        return self.webhooks.worker.wait_idle(timeout)

    def pause_webhooks(self) -> None:
        self.webhooks.worker.set_paused(True)

    def resume_webhooks(self) -> None:
        self.webhooks.worker.set_paused(False)

    def set_webhook_knobs(
        self,
        *,
        timeout_s: float | None = None,
        retry_delay_s: float | None = None,
        paused: bool | None = None,
    ) -> dict[str, Any]:
        worker = self.webhooks.worker
        if timeout_s is not None:
            worker.timeout_s = float(timeout_s)
        if retry_delay_s is not None:
            worker.retry_delay_s = float(retry_delay_s)
        if paused is not None:
            worker.set_paused(bool(paused))
        return worker.knobs()

    @staticmethod
    def sdk_message_id(name: str) -> str:
        return message_id(name)

    @staticmethod
    def sdk_message_filter_id(message: str, logical: str) -> str:
        return filter_id(message, logical)

    def _admin(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p][1:]
        if parts[:1] == ["webhook-deliveries"]:
            if req.method == "GET" and len(parts) == 1:
                return Response(200, {"value": self.webhook_deliveries()})
            if req.method == "POST" and parts[1:] == ["clear"]:
                self.clear_webhook_deliveries()
                return Response(204)
        if parts[:1] == ["webhooks"] and len(parts) == 2:
            return self._admin_webhooks(req, parts[1])
        return super()._admin(req)

    def _admin_webhooks(self, req: Request, verb: str) -> Response:
        if req.method == "POST" and verb == "wait-idle":
            try:
                timeout = float(req.query.get("timeout", "10"))
            except ValueError:
                raise ApiError(400, "BadRequest", "timeout must be a number of seconds.") from None
            return Response(200, {"idle": self.wait_webhooks_idle(timeout)})
        if req.method == "POST" and verb in ("pause", "resume"):
            return Response(200, self.set_webhook_knobs(paused=verb == "pause"))
        if verb == "knobs" and req.method in ("GET", "POST"):
            body = req.json() if req.method == "POST" else {}
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "The knobs must be a JSON object.")
            known = {k: body[k] for k in ("timeout_s", "retry_delay_s", "paused") if k in body}
            return Response(200, self.set_webhook_knobs(**known))
        raise ApiError(404, "NotFound", f"No admin route {req.method} {req.path}.")
