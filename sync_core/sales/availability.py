"""Item availability for Dynamics 365 Sales: ``GET /api/availability/{productid}``.

The product's coupled BC item (ITEM-PRODUCT), its rows of the companion ``itemAvailability`` set
(one per location: inventory, on sales orders, on purchase orders, available) and the product's
number. Answers are kept per worker for ``CACHE_SECONDS`` (a form opened by several people at once
costs BC one read) and say how old they are. A malformed id is a DataError (400); an unknown or
uncoupled product a NotFoundError (404) that says which.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from sync_core.errors import DataError, NotFoundError
from sync_core.sync.context import SyncContext
from sync_core.vocabulary import eq, format_datetime

CACHE_SECONDS = 5.0
ITEM_MAPPING = "ITEM-PRODUCT"
FIGURES = ("inventory", "qtyOnSalesOrders", "qtyOnPurchOrders", "availableQuantity")


class AvailabilityCache:
    """Answers per product for ``ttl`` seconds, one per worker (built with the services)."""

    def __init__(self, ttl: float = CACHE_SECONDS, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.monotonic = ttl, monotonic
        self._answers: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, product_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._answers.get(product_id)
        if found is None or self.monotonic() - found[0] >= self.ttl:
            return None
        return {**found[1], "cached": True, "age_seconds": round(self.monotonic() - found[0], 3)}

    def put(self, product_id: str, answer: dict[str, Any]) -> None:
        with self._lock:
            self._answers[product_id] = (self.monotonic(), answer)


def product_id_of(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except (ValueError, AttributeError):
        raise DataError(f"{text!r} is not a product id (a GUID)") from None


def item_availability(ctx: SyncContext, cache: AvailabilityCache, product: str) -> dict[str, Any]:
    product_id = product_id_of(product)
    cached = cache.get(product_id)
    if cached is not None:
        return cached
    coupling = ctx.stores.couplings.get_by_crm(ITEM_MAPPING, product_id)
    if coupling is None or coupling.state != "coupled":
        if ctx.dataverse.get("products", product_id, ("productnumber",)) is None:
            raise NotFoundError(f"There is no product {product_id} in Dynamics 365 Sales.")
        raise NotFoundError(f"The product {product_id} is not coupled to a Business Central item.")
    rows = list(ctx.bc.list_rows("itemAvailability", eq("itemId", uuid.UUID(coupling.bc_id))))
    number = str(rows[0].get("itemNo") or "") if rows else _item_number(ctx, coupling.bc_id)
    answer = {
        "productid": product_id,
        "productnumber": number,
        "itemId": coupling.bc_id,
        "locations": [
            {"locationCode": r.get("locationCode") or "", **{f: r.get(f) or 0 for f in FIGURES}} for r in rows
        ],
        "total": {f: round(sum(float(r.get(f) or 0) for r in rows), 5) for f in FIGURES},
        "read_at": format_datetime(ctx.clock()),
        "cache_seconds": cache.ttl,
    }
    cache.put(product_id, answer)
    return {**answer, "cached": False, "age_seconds": 0.0}


def _item_number(ctx: SyncContext, item_id: str) -> str:
    item = ctx.bc.get("integrationItems", item_id)
    if item is None:
        raise NotFoundError(
            f"The item {item_id} coupled to the product no longer exists in Business Central."
        )
    return str(item.fields.get("number") or "")
