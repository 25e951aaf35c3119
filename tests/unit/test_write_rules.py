"""State steps around writing a Dataverse sales order (BC §5.2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sync_core.mapping.catalog import default_catalog
from sync_core.mapping.model import WRITE_RULES
from sync_core.sync.engine.rule_registry import (
    WRITE_RULES as IMPLEMENTED,
)
from sync_core.sync.engine.write_rules import (
    ORDER_ACTIVE,
    ORDER_INVOICED,
    ORDER_SUBMITTED,
    SalesOrderState,
    fully_invoiced,
)
from sync_core.vocabulary import Record

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def line(quantity: float, shipped: float = 0, invoiced: float = 0) -> dict[str, float]:
    return {"quantity": quantity, "shippedQuantity": shipped, "invoicedQuantity": invoiced}


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([line(2, 2, 2), line(1, 1, 1)], True),
        ([line(2, 2, 2), line(1, 0, 0)], False),  # a line still outstanding
        ([line(2, 2, 1)], False),  # shipped, not all invoiced
        ([line(0, 0, 0)], False),  # nothing invoiced at all
        ([], False),
    ],
)
def test_fully_invoiced_is_bcs_rule(lines: list[dict[str, float]], expected: bool) -> None:
    assert fully_invoiced(lines) is expected


class FakeSystems:
    def __init__(self, lines: list[dict[str, Any]]) -> None:
        self.lines = lines
        self.updates: list[dict[str, Any]] = []
        self.bc = self
        self.dataverse = self

    def list_rows(self, entity: str, *args: Any, **kw: Any) -> list[dict[str, Any]]:
        assert entity == "salesOrders(so-1)/salesOrderLines"
        return self.lines

    def update(self, entity: str, record_id: str, values: dict[str, Any], etag: str) -> Record:
        self.updates.append(values)
        return Record(record_id, T0, 'W/"2"', dict(values))


def order(state: tuple[int, int]) -> Record:
    return Record("crm-1", T0, 'W/"1"', {"statecode": state[0], "statuscode": state[1]})


def test_a_submitted_order_is_activated_before_a_modify_and_an_active_one_is_left_alone() -> None:
    fake = FakeSystems([])
    rule = SalesOrderState()
    activated = rule.before_update(fake, "salesorders", order(ORDER_SUBMITTED))  # type: ignore[arg-type]
    assert fake.updates == [{"statecode": 0, "statuscode": 1}] and activated.etag == 'W/"2"'
    rule.before_update(fake, "salesorders", order(ORDER_ACTIVE))  # type: ignore[arg-type]
    assert len(fake.updates) == 1


@pytest.mark.parametrize(
    ("lines", "state"), [([line(1, 1, 1)], ORDER_INVOICED), ([line(1, 1, 0)], ORDER_SUBMITTED)]
)
def test_after_a_write_the_order_is_submitted_or_invoiced(
    lines: list[dict[str, float]], state: tuple[int, int]
) -> None:
    fake = FakeSystems(lines)
    source = Record("so-1", T0, None, {})
    SalesOrderState().after_write(fake, "salesorders", source, order(ORDER_ACTIVE), None)  # type: ignore[arg-type]
    assert fake.updates == [{"statecode": state[0], "statuscode": state[1]}]
    fake.updates.clear()  # already in that state: nothing written
    SalesOrderState().after_write(fake, "salesorders", source, order(state), frozenset())  # type: ignore[arg-type]
    assert fake.updates == []


def test_every_declared_write_rule_is_implemented_and_sales_orders_use_it() -> None:
    assert set(WRITE_RULES) == set(IMPLEMENTED)
    assert default_catalog().get("SALESORDER-ORDER").write_rule == "sales-order-state"
    products = {"ITEM-PRODUCT", "RESOURCE-PRODUCT"}
    assert all(default_catalog().get(m).write_rule == "product-default-price-list" for m in products)
    assert default_catalog().get("UNIT OF MEASURE").write_rule == "unit-group"
    assert default_catalog().get("POSTEDSALESINV-INV").write_rule == "posted-sales-invoice"
    ruled = products | {"SALESORDER-ORDER", "UNIT OF MEASURE", "POSTEDSALESINV-INV"}
    others = [m for m in default_catalog() if m.name not in ruled]
    assert all(m.write_rule == "" for m in others)


class FakeDataverse:
    """Rows by entity set; counts what the rule asks for."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Record]] = {"pricelevels": {}, "productpricelevels": {}}
        self.calls: list[str] = []

    def iter_modified(self, query: Any) -> Any:
        self.calls.append(f"GET {query.entity}")
        if query.entity == "pricelevels":
            return iter([r for r in self.rows["pricelevels"].values() if r.fields["name"] in query.filter])
        return iter([])

    def create(self, entity: str, values: dict[str, Any], record_id: str | None = None) -> Record:
        self.calls.append(f"POST {entity}")
        row = Record(record_id or "new", T0, 'W/"1"', dict(values))
        self.rows.setdefault(entity, {})[row.id] = row
        return row

    def update(self, entity: str, record_id: str, values: dict[str, Any], etag: str) -> Record:
        self.calls.append(f"PATCH {entity}")
        return Record(record_id, T0, 'W/"2"', dict(values))


class PriceListCtx:
    def __init__(self) -> None:
        self.dataverse = FakeDataverse()
        self.reference = None


def test_new_products_get_the_list_in_their_create_body_and_one_price_row() -> None:
    from sync_core.sync.engine.write_rules import DEFAULT_PRICE_LIST, ProductDefaultPriceList

    ctx, rule = PriceListCtx(), ProductDefaultPriceList()
    ctx.dataverse.rows["pricelevels"]["pl-1"] = Record("pl-1", T0, None, {"name": DEFAULT_PRICE_LIST})
    for n in (1, 2):
        new = Record(f"item-{n}", T0, None, {})
        body = rule.before_insert(ctx, "products", {"name": f"product {n}"}, new)  # type: ignore[arg-type]
        assert body["pricelevelid@odata.bind"] == "/pricelevels(pl-1)"
        product = Record(
            f"p-{n}", T0, None, {"_pricelevelid_value": "pl-1", "_defaultuomid_value": "u", "price": 5}
        )
        rule.after_write(ctx, "products", product, product, None)  # type: ignore[arg-type]
    # the list is looked up once per worker; a new product's price row is created without a query
    assert ctx.dataverse.calls == ["GET pricelevels", "POST productpricelevels", "POST productpricelevels"]
    amounts = [r.fields["amount"] for r in ctx.dataverse.rows["productpricelevels"].values()]
    assert amounts == [5.0, 5.0]
    # a modify that changed neither the price nor the unit does nothing
    ctx.dataverse.calls.clear()
    rule.after_write(ctx, "products", product, product, frozenset({"name"}))  # type: ignore[arg-type]
    assert ctx.dataverse.calls == []
