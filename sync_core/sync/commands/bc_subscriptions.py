"""BC webhook subscriptions of the app: one per webhook-enabled set a mapping reads from BC.

``bc-subscriptions create --url`` subscribes every such set (v2.0 and companion roots) with the
app's clientState (``webhooks.bc.client_state``, never logged); a set already subscribed to that
URL in BC is adopted, so running it again adds nothing. ``renew`` renews each subscription (BC
calls the handshake again) and re-creates what BC no longer has; the timer
``renew_bc_subscriptions`` does that for what expires within a day (BC's expiry is 3 days).
``list`` shows what exists, ``delete`` removes it. What exists is kept in the document step
store (Table Storage), document ``bc:subscriptions``: one step per set, and ``~pending`` while a
create or renew runs, so the handshake route answers only then.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sync_core.errors import DataError
from sync_core.mapping.catalog import Catalog
from sync_core.state.document_steps import DocumentStepStore
from sync_core.systems.bc_subscriptions import BcSubscription, BcSubscriptionApi, webhook_enabled

log = logging.getLogger(__name__)

REGISTRY, PENDING = "bc:subscriptions", "~pending"
HANDSHAKE_WINDOW = timedelta(minutes=2)
RENEW_WITHIN = timedelta(days=1)


@dataclass(frozen=True)
class Stored:
    subscription_id: str
    resource: str
    url: str
    expiration: str
    etag: str


def subscribed_sets(catalog: Catalog) -> list[str]:
    """The webhook-enabled BC sets that some mapping reads (its direction brings BC to Dataverse)."""
    return sorted(
        {
            m.bc_entity
            for m in catalog
            if not m.parent and m.allows("to-dataverse") and webhook_enabled(m.bc_entity)
        }
    )


def _expires(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class BcSubscriptions:
    def __init__(
        self,
        api: BcSubscriptionApi,
        steps: DocumentStepStore,
        catalog: Catalog,
        client_state: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.api, self.steps, self.catalog = api, steps, catalog
        self._state, self.clock = client_state, clock

    # -- what is stored -------------------------------------------------------------------------

    def stored(self) -> dict[str, Stored]:
        rows = self.steps.steps(REGISTRY)
        return {k: Stored(**json.loads(v)) for k, v in rows.items() if k != PENDING and v}

    def handshake_expected(self) -> bool:
        """Whether a create or renew is running now (BC's validation call belongs to it)."""
        started = self.steps.steps(REGISTRY).get(PENDING) or ""
        when = _expires(started)
        return when is not None and self.clock() - when < HANDSHAKE_WINDOW

    def _keep(self, entity: str, sub: BcSubscription, url: str) -> dict[str, Any]:
        row = Stored(sub.subscription_id, sub.resource, url, sub.expiration, sub.etag)
        self.steps.mark(REGISTRY, entity, json.dumps(asdict(row)))
        return {"set": entity, "subscription_id": sub.subscription_id, "expires": sub.expiration}

    def _pending(self, on: bool) -> None:
        self.steps.mark(REGISTRY, PENDING, self.clock().isoformat() if on else "")

    # -- commands -------------------------------------------------------------------------------

    def create(self, url: str) -> list[dict[str, Any]]:
        if not url.startswith(("https://", "http://")):
            raise DataError(f"--url must be the app's https URL of /api/webhooks/bc, not {url!r}")
        in_bc = {s.resource: s for s in self.api.list() if s.notification_url == url}
        stored, done = self.stored(), []
        self._pending(True)
        try:
            for entity in subscribed_sets(self.catalog):
                resource = self.api.resource(entity)
                have = stored.get(entity)
                if resource in in_bc:
                    action = (
                        "exists"
                        if have and have.subscription_id == in_bc[resource].subscription_id
                        else "adopted"
                    )
                    done.append({**self._keep(entity, in_bc[resource], url), "action": action})
                    continue
                sub = self.api.create(entity, url, self._state)
                done.append({**self._keep(entity, sub, url), "action": "created"})
                log.info("bc subscription created for %s (%s)", entity, sub.subscription_id)
        finally:
            self._pending(False)
        return done

    def renew(self, url: str | None = None, within: timedelta | None = None) -> list[dict[str, Any]]:
        """Renew every subscription (or only what expires ``within``); re-create what BC lost."""
        in_bc = {s.subscription_id: s for s in self.api.list()}
        stored, done = self.stored(), []
        known_url = url or next((s.url for s in stored.values() if s.url), "")
        if not known_url:
            raise DataError(
                "No BC subscription was created yet.", remedy="Run bc-subscriptions create --url URL."
            )
        self._pending(True)
        try:
            for entity in subscribed_sets(self.catalog):
                done.append(self._renew_one(entity, stored.get(entity), in_bc, url or known_url, within))
        finally:
            self._pending(False)
        return done

    def _renew_one(
        self,
        entity: str,
        have: Stored | None,
        in_bc: dict[str, BcSubscription],
        url: str,
        within: timedelta | None,
    ) -> dict[str, Any]:
        current = in_bc.get(have.subscription_id) if have else None
        if current is not None and within is not None and current.notification_url == url:
            expires = _expires(current.expiration)
            if expires is not None and expires > self.clock() + within:
                return {**self._keep(entity, current, url), "action": "valid"}
        renewed = self.api.renew(entity, current, url, self._state) if current else None
        if renewed is not None:
            log.info("bc subscription renewed for %s until %s", entity, renewed.expiration)
            return {**self._keep(entity, renewed, url), "action": "renewed"}
        sub = self.api.create(entity, url, self._state)
        log.warning("bc subscription for %s was gone in BC: created again (%s)", entity, sub.subscription_id)
        return {**self._keep(entity, sub, url), "action": "re-created" if have else "created"}

    def listing(self) -> list[dict[str, Any]]:
        in_bc = {s.subscription_id: s for s in self.api.list()}
        stored, rows = self.stored(), []
        for entity in subscribed_sets(self.catalog):
            have = stored.get(entity)
            live = in_bc.get(have.subscription_id) if have else None
            rows.append({
                "set": entity,
                "resource": self.api.resource(entity),
                "subscription_id": have.subscription_id if have else "",
                "url": have.url if have else "",
                "expires": live.expiration if live else "",
                "in_bc": live is not None,
            })  # fmt: skip
        return rows

    def delete(self) -> list[dict[str, Any]]:
        done = []
        for entity, have in self.stored().items():
            self.api.delete(entity, have.subscription_id)
            self.steps.mark(REGISTRY, entity, "")
            done.append({"set": entity, "subscription_id": have.subscription_id, "action": "deleted"})
        return done
