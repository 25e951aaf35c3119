"""``GET /api/availability/{productid}``: a coupled item's availability per location, for a Dynamics
365 form or a Power Apps component (function key, JSON)."""

from __future__ import annotations

import json
from typing import Any

from sandbox.stack import SandboxStack
from tests.e2e.host import http
from tests.e2e.world import bc_row, context, crm_id, prepare


def _get(product_id: str) -> tuple[int, dict[str, Any]]:
    url = f"http://localhost/api/availability/{product_id}"
    reply = http("item_availability", "GET", url, route_params={"productid": product_id})
    return reply.status_code, json.loads(reply.get_body())


def test_a_coupled_item_answers_per_location_and_a_repeat_is_served_from_the_cache(
    stack: SandboxStack,
) -> None:
    ctx = context()
    prepare(stack, ctx, (), ("1896-S",))
    product = crm_id(ctx, "ITEM-PRODUCT", bc_row(stack, "integrationItems", "1896-S")["id"])
    stack.bc.reset_counters()
    status, body = _get(product.upper())  # any GUID spelling
    assert status == 200 and (body["productid"], body["productnumber"], body["cached"]) == (
        product,
        "1896-S",
        False,
    )
    locations = {row["locationCode"]: row for row in body["locations"]}
    # blank location: 12 in stock, 1 on the seeded open order; EAST: 5 in stock, 10 on purchase orders
    assert {k: v for k, v in locations[""].items() if k != "locationCode"} == {
        "inventory": 12.0, "qtyOnSalesOrders": 1.0, "qtyOnPurchOrders": 0.0, "availableQuantity": 11.0,
    }  # fmt: skip
    assert locations["EAST"]["availableQuantity"] == 15.0 and body["total"]["availableQuantity"] == 26.0
    assert body["cache_seconds"] == 5.0 and body["read_at"].endswith("Z")
    reads = stack.bc.counters()["total"]
    status, again = _get(product)
    assert status == 200 and again["cached"] is True and again["locations"] == body["locations"]
    assert stack.bc.counters()["total"] == reads  # the worker's cache answered


def test_unknown_uncoupled_and_malformed_products_are_refused_with_a_reason(stack: SandboxStack) -> None:
    status, body = _get("00000000-0000-0000-0000-0000000000aa")
    assert (status, body["error"]) == (
        404,
        "There is no product 00000000-0000-0000-0000-0000000000aa in Dynamics 365 Sales.",
    )
    lone = stack.dataverse.insert("products", {"name": "Lone lamp", "productnumber": "LONE-1"})
    status, body = _get(lone["productid"])
    assert (status, "is not coupled to a Business Central item" in body["error"]) == (404, True)
    status, body = _get("not-a-guid")
    assert (status, body["error"]) == (400, "'not-a-guid' is not a product id (a GUID)")
