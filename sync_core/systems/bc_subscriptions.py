"""BC webhook subscriptions (api-facts §E.7) on the v2.0 root and the companion root.

``subscriptions`` lives at each API root, not under ``companies(...)``; a subscription's
``resource`` is the set's path from ``/api/`` on (``/api/v2.0/companies(<id>)/customers``).
Create and renew make BC call the app's handshake first; renew needs ``If-Match``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sync_core.errors import NotFoundError
from sync_core.odata.client import ODataClient
from sync_core.systems.bc import COMPANION_SETS

SUBSCRIPTIONS = "subscriptions"
# sets BC can notify about (api-facts §E.7; bc-companion-api "subscriptions")
V2_WEBHOOK_SETS = frozenset({
    "accounts", "currencies", "customers", "items", "itemCategories", "paymentTerms", "salesInvoices",
    "salesOrders", "salesQuotes", "shipmentMethods", "unitsOfMeasure", "vendors", "employees",
})  # fmt: skip
COMPANION_WEBHOOK_SETS = frozenset({
    "integrationCustomers", "integrationContacts", "integrationItems", "resources", "customerPriceGroups",
    "salesPrices", "opportunities", "postedSalesInvoices", "salesDocuments",
})  # fmt: skip


@dataclass(frozen=True)
class BcSubscription:
    subscription_id: str
    resource: str
    notification_url: str
    expiration: str  # ISO 8601, as BC gave it
    etag: str

    @staticmethod
    def from_row(row: Mapping[str, Any]) -> BcSubscription:
        return BcSubscription(
            subscription_id=str(row.get("subscriptionId") or ""),
            resource=str(row.get("resource") or ""),
            notification_url=str(row.get("notificationUrl") or ""),
            expiration=str(row.get("expirationDateTime") or ""),
            etag=str(row.get("@odata.etag") or "*"),
        )


def webhook_enabled(entity: str) -> bool:
    return entity in (COMPANION_WEBHOOK_SETS if entity in COMPANION_SETS else V2_WEBHOOK_SETS)


class BcSubscriptionApi:
    def __init__(self, v2: ODataClient, companion: ODataClient, company_id: str) -> None:
        self._v2, self._companion, self.company_id = v2, companion, company_id

    def _client(self, entity: str) -> ODataClient:
        return self._companion if entity in COMPANION_SETS else self._v2

    def resource(self, entity: str) -> str:
        """``/api/<root>/companies(<id>)/<set>``: how BC names the subscribed set."""
        path = urlsplit(self._client(entity).root_url).path
        at = path.find("/api/")
        return f"{path[at:] if at >= 0 else path}companies({self.company_id})/{entity}"

    def list(self) -> Iterator[BcSubscription]:
        for client in (self._v2, self._companion):
            for row in client.iter_rows(SUBSCRIPTIONS):
                yield BcSubscription.from_row(row)

    def create(self, entity: str, url: str, state: str) -> BcSubscription:
        body = {"notificationUrl": url, "resource": self.resource(entity), "clientState": state}
        return BcSubscription.from_row(self._client(entity).post(SUBSCRIPTIONS, body).body or {})

    def renew(self, entity: str, current: BcSubscription, url: str, state: str) -> BcSubscription | None:
        """PATCH with If-Match (BC does the handshake again); None when BC no longer has it."""
        body = {"notificationUrl": url, "resource": self.resource(entity), "clientState": state}
        path = f"{SUBSCRIPTIONS}('{current.subscription_id}')"
        try:
            response = self._client(entity).patch(path, body, etag=current.etag or "*")
        except NotFoundError:
            return None
        return BcSubscription.from_row(response.body or {})

    def delete(self, entity: str, subscription_id: str) -> None:
        with contextlib.suppress(NotFoundError):  # gone already
            self._client(entity).delete(f"{SUBSCRIPTIONS}('{subscription_id}')")
