"""The payment status of a Dataverse invoice from its BC posted invoice (BC §6.3, pure).

BC reads it from the invoice's customer ledger entry (the companion ``postedSalesInvoices`` row
carries ``cancelled``, ``amountIncludingVat`` and ``remainingAmount``):
- cancelled (a corrective credit memo) -> Canceled / Canceled;
- nothing remains -> Paid / Complete;
- part paid (remaining differs from the amount) -> Paid / Partial;
- otherwise (unpaid, or the payment was unapplied) -> Active / Billed.
Closed invoices (Paid, Canceled) cannot be edited in Dataverse: they are set Active / Billed before
any other change (``steps_to``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

InvoiceState = tuple[int, int]  # (statecode, statuscode)

ACTIVE_BILLED: InvoiceState = (0, 4)
PAID_COMPLETE: InvoiceState = (2, 100001)
PAID_PARTIAL: InvoiceState = (2, 100002)
CANCELED: InvoiceState = (3, 100003)
ACTIVE = 0
NAMES = {
    ACTIVE_BILLED: "Active / Billed",
    PAID_COMPLETE: "Paid / Complete",
    PAID_PARTIAL: "Paid / Partial",
    CANCELED: "Canceled / Canceled",
}


def _money(row: Mapping[str, Any], name: str) -> float:
    return round(float(row.get(name) or 0), 2)


def invoice_state(posted: Mapping[str, Any]) -> InvoiceState:
    """What the Dataverse invoice's state should be, from the BC posted invoice row."""
    if posted.get("cancelled"):
        return CANCELED
    remaining = _money(posted, "remainingAmount")
    if remaining == 0:
        return PAID_COMPLETE
    if remaining != _money(posted, "amountIncludingVat"):
        return PAID_PARTIAL
    return ACTIVE_BILLED


def current_state(invoice: Mapping[str, Any]) -> InvoiceState:
    return int(invoice.get("statecode") or 0), int(invoice.get("statuscode") or 0)


def steps_to(current: InvoiceState, target: InvoiceState) -> list[InvoiceState]:
    """The state writes that take a Dataverse invoice from ``current`` to ``target`` ([] if there)."""
    if current == target:
        return []
    if current[0] != ACTIVE and target != ACTIVE_BILLED:
        return [ACTIVE_BILLED, target]  # a closed invoice is opened before any other change
    return [target]


def describe(state: InvoiceState) -> str:
    return NAMES.get(state, f"statecode {state[0]} / statuscode {state[1]}")
