"""Pure rules of the statistics job: an invoice's payment state (BC §6.3) and the values of an
account statistics row (§6.2)."""

from __future__ import annotations

import pytest

from sync_core.mapping.invoice_status import (
    ACTIVE_BILLED,
    CANCELED,
    PAID_COMPLETE,
    PAID_PARTIAL,
    invoice_state,
    steps_to,
)
from sync_core.sales.statistics import changed, statistics_values, write_body


@pytest.mark.parametrize(
    ("posted", "state"),
    [
        ({"amountIncludingVat": 120.0, "remainingAmount": 120.0}, ACTIVE_BILLED),
        ({"amountIncludingVat": 120.0, "remainingAmount": 20.004}, PAID_PARTIAL),
        ({"amountIncludingVat": 120.0, "remainingAmount": 0}, PAID_COMPLETE),
        ({"amountIncludingVat": 120.0, "remainingAmount": 0.001}, PAID_COMPLETE),  # rounds to 0.00
        ({"amountIncludingVat": 120.0, "remainingAmount": 0, "cancelled": True}, CANCELED),
        ({"amountIncludingVat": 120.0, "remainingAmount": 120.0, "cancelled": True}, CANCELED),
    ],
)
def test_the_state_an_invoice_should_have(posted: dict, state: tuple[int, int]) -> None:
    assert invoice_state(posted) == state


def test_a_closed_invoice_is_opened_before_any_other_change() -> None:
    assert steps_to(ACTIVE_BILLED, ACTIVE_BILLED) == []
    assert steps_to((0, 1), ACTIVE_BILLED) == [ACTIVE_BILLED]  # Active / New -> Billed
    assert steps_to(ACTIVE_BILLED, PAID_PARTIAL) == [PAID_PARTIAL]
    assert steps_to(PAID_PARTIAL, PAID_COMPLETE) == [ACTIVE_BILLED, PAID_COMPLETE]
    assert steps_to(CANCELED, PAID_COMPLETE) == [ACTIVE_BILLED, PAID_COMPLETE]
    assert steps_to(PAID_COMPLETE, ACTIVE_BILLED) == [ACTIVE_BILLED]  # opening is the change


BC_ROW = {
    "customerNo": "10000", "name": "Adatum Corporation", "balanceLcy": 1234.567,
    "outstandingOrdersLcy": 10, "shippedNotInvoicedLcy": 0, "outstandingInvoicesLcy": 0,
    "totalLcy": 1244.57, "creditLimitLcy": 0, "overdueAmountsLcy": 5.5,
    "overdueAmountsAsOf": "2026-12-05", "totalSalesLcy": 99.0, "invoicedPrepaymentAmountLcy": None,
}  # fmt: skip


def test_statistics_values_name_every_column_of_bc() -> None:
    values = statistics_values(BC_ROW, "usd-id")
    assert values["nav_balancelcy"] == 1234.57 and values["nav_invoicedprepaymentamountlcy"] == 0.0
    assert values["nav_creditlimitlcy"] == 0.0  # zero is a value, not "--"
    assert (values["nav_customerno"], values["nav_overdueamountsasof"]) == ("10000", "2026-12-05")
    assert len(values) == 13  # §6.2's twelve fields and the LCY currency
    body = write_body(values)
    assert body["transactioncurrencyid@odata.bind"] == "/transactioncurrencies(usd-id)"
    assert "_transactioncurrencyid_value" not in body


def test_only_what_differs_is_written() -> None:
    values = statistics_values(BC_ROW, "usd-id")
    current = {**values, "nav_balancelcy": 1234.5700000001, "nav_totalsaleslcy": 98.0}
    assert changed(values, current) == {"nav_totalsaleslcy": 99.0}
    assert changed(values, {**values, "nav_name": None}) == {"nav_name": "Adatum Corporation"}
