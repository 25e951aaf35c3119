"""State steps around writing a Dataverse sales order (BC §5.2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sync_core.mapping.catalog import default_catalog
from sync_core.mapping.model import WRITE_RULES
from sync_core.sync.write_rules import (
    ORDER_ACTIVE,
    ORDER_INVOICED,
    ORDER_SUBMITTED,
    SalesOrderState,
    fully_invoiced,
)
from sync_core.sync.write_rules import (
    WRITE_RULES as IMPLEMENTED,
)
from sync_core.systems.ports import Record

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
    ruled = products | {"SALESORDER-ORDER", "UNIT OF MEASURE"}
    others = [m for m in default_catalog() if m.name not in ruled]
    assert all(m.write_rule == "" for m in others)
