"""BC's pure rules for a posted invoice in Dataverse (§6.1): totals in both modes, the rounding
difference of Prices Including VAT, the description from the Shipment Method."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest

from sync_core.mapping.hooks import HOOKS
from sync_core.mapping.rules_common import HookContext
from sync_core.sync.engine.invoice_finish import creating, invoice_totals, rounding_difference
from sync_core.vocabulary import Direction, Record

T0 = datetime(2026, 6, 1, tzinfo=UTC)
POSTED = {"amount": 1960.0, "amountIncludingVat": 2450.0, "invoiceDiscountAmount": 50.0}
LINES = [{"lineDiscountAmount": 20.0}, {"lineDiscountAmount": 0}, {}]
# the Dataverse invoice as the field mappings wrote it (its own totals)
WRITTEN = {"totalamount": 2450.0, "totalamountlessfreight": 1960.0, "discountamount": 50.0}


def test_totals_with_sales_order_integration_come_from_the_posted_invoice() -> None:
    assert invoice_totals(POSTED, LINES, {"totalamount": 1.0}, True) == {
        "totallineitemdiscountamount": 20.0,
        "totalamount": 2450.0,
        "totaltax": 490.0,
        "totalamountlessfreight": 1960.0,
        "totaldiscountamount": 50.0,
    }


def test_totals_without_it_come_from_the_invoice_with_no_freight_or_discount_percent() -> None:
    assert invoice_totals(POSTED, LINES, WRITTEN, False) == {
        "totallineitemdiscountamount": 20.0,
        "freightamount": 0,
        "discountpercentage": 0,
        "totaltax": 490.0,
        "totaldiscountamount": 70.0,
    }


def test_rounding_difference_is_what_the_detail_lines_miss_of_amount_including_vat() -> None:
    bc = [{"lineNo": 10000, "amountIncludingVat": 99.99}, {"lineNo": 20000, "amountIncludingVat": 12.5}]
    details = [
        {
            "lineitemnumber": 10000,
            "priceperunit": 26.66,
            "quantity": 3,
            "tax": 20.0,
            "manualdiscountamount": 0,
        },
        {
            "lineitemnumber": 20000,
            "priceperunit": 11.0,
            "quantity": 1,
            "tax": 2.5,
            "manualdiscountamount": 1.0,
        },
        {"lineitemnumber": None, "priceperunit": 5.0, "quantity": 1, "productdescription": "Rounding"},
    ]
    assert rounding_difference(bc, details) == 0.01  # the rounding line itself is no BC line
    assert rounding_difference(bc[1:], details) == 0.0


@pytest.mark.parametrize(("state", "expected"), [((0, 1), True), ((0, 4), False), ((2, 100001), False)])
def test_an_invoice_still_active_new_has_an_unfinished_creation(
    state: tuple[int, int], expected: bool
) -> None:
    assert creating(Record("i", T0, None, {"statecode": state[0], "statuscode": state[1]})) is expected


class Reference:
    def rows(self, entity: str, filter: str | None = None, *, fresh: bool = False) -> list[Mapping[str, Any]]:
        assert entity == "shipmentMethods"
        return [{"code": "EXW", "displayName": "Ex Warehouse"}] if filter == "code eq 'EXW'" else []

    def lcy_code(self) -> str:
        return "USD"


def _description(direction: Direction, method: str, values: dict[str, Any]) -> dict[str, Any]:
    source = Record("inv", T0, None, {"shipmentMethodCode": method})
    ctx = HookContext(direction, True, source, Reference(), date(2026, 6, 1))
    return HOOKS["invoice-shipment-method-description"](ctx, values)


@pytest.mark.parametrize(
    ("method", "values", "expected"),
    [
        ("EXW", {"description": None}, "Ex Warehouse"),  # no work description: the shipment method's
        ("EXW", {"description": ""}, "Ex Warehouse"),
        ("exw", {"description": ""}, "Ex Warehouse"),  # a BC code
        ("EXW", {"description": "Deliver to dock 4"}, "Deliver to dock 4"),  # kept
        ("", {"description": ""}, ""),
        ("NOPE", {"description": None}, None),
    ],
)
def test_an_invoice_without_a_description_gets_its_shipment_methods(
    method: str, values: dict[str, Any], expected: Any
) -> None:
    assert _description("to-dataverse", method, values)["description"] == expected


def test_the_description_rule_leaves_other_values_and_directions_alone() -> None:
    assert _description("to-dataverse", "EXW", {"name": "x"}) == {"name": "x"}  # the field is disabled
    assert _description("to-bc", "EXW", {"workDescription": ""}) == {"workDescription": ""}
