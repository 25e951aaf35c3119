"""Customer statistics of the BC emulator: the companion ``customerStatistics`` set (bc-integration §6.2).

One row per customer (the ``id`` is the customer's), computed live from the emulator's data, in LCY
(an amount in a currency is divided by its Currency Factor when that is not 0):

- balanceLcy: the Remaining Amount of the customer's posted invoices (Sell-to Customer No.);
- outstandingOrdersLcy / shippedNotInvoicedLcy: Amount Including VAT of the outstanding (not
  shipped) and of the shipped, not invoiced quantities of the customer's order lines;
- outstandingInvoicesLcy: Amount Including VAT of the lines of the customer's unposted (v2.0
  ``salesInvoices``) invoices;
- totalLcy: BC's formula, balance + outstanding orders + shipped not invoiced + outstanding
  invoices - invoiced prepayments. BC also subtracts the outstanding invoice amounts already
  counted as shipped not invoiced and the return-received-not-invoiced amount: both are 0 here
  (the emulator posts invoices built from shipments at once and has no return orders);
- creditLimitLcy: the customer's Credit Limit (LCY); overdueAmountsLcy: the Remaining Amount of
  posted invoices due before today; overdueAmountsAsOf: today (BC's work date);
- totalSalesLcy: the Amount of the invoices posted this calendar year (the emulator's fiscal year;
  the posting date of a seeded invoice without one is its Shipment Date); a cancelled invoice
  counts 0, its corrective credit memo reversing the sale;
- invoicedPrepaymentAmountLcy: 0 (the emulator posts no prepayment invoices).
Amounts set by hand (:func:`adjust`, the admin route ``POST /_admin/customers/<No.>/statistics``)
are added to the computed figures and stay until the data is reseeded; totalLcy follows them.

lastActivityDateTime is the latest time the customer's ledger-relevant data changed (BC: the
latest SystemModifiedAt of its Cust. Ledger Entries and Sales Lines): the creation of the
customer (so a customer never active shows its creation time), a posted invoice for it (posting,
payments, unapplying, cancelling), a change to a line of one of its quotes, orders or invoices
(created, changed, deleted, shipped, invoiced), a change to such a document's customer, currency,
prices-including-VAT or invoice discount, and a statistics adjustment. :func:`note_activity`
keeps it as the model writes rows, so reading it costs a dictionary look-up; the figures are
computed for all customers of a company in one pass and cached until the next write.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from sandbox.bc_documents_amounts import line_values, money, outstanding, shipped_not_invoiced
from sandbox.bc_documents_posting import exchange_factor
from sandbox.odata.protocol import ApiError

if TYPE_CHECKING:
    from sandbox.bc_model import BcModel
    from sandbox.bc_schema import BcView

ACTIVITY = "customerActivity"  # stored rows: id = customer id, lastActivityDateTime, adjustments
FIGURES = ("balanceLcy", "outstandingOrdersLcy", "shippedNotInvoicedLcy", "outstandingInvoicesLcy",
           "overdueAmountsLcy", "totalSalesLcy", "invoicedPrepaymentAmountLcy")  # fmt: skip
ADJUSTABLE = frozenset(FIGURES)
BLANK_DATETIME = "0001-01-01T00:00:00Z"
HEADER_AMOUNT_FIELDS = ("customerNumber", "currencyCode", "pricesIncludeTax", "discountAmount",
                        "vatBusPostingGroup")  # fmt: skip
Figures = dict[str, float]
# per company: the figures by customer No. (computed in one pass) and the final rows by customer id
CompanyFigures = tuple[dict[str, Figures], dict[str, Figures]]
_CACHE: weakref.WeakKeyDictionary[BcModel, tuple[tuple[int, int, str], dict[str, CompanyFigures]]] = (
    weakref.WeakKeyDictionary()
)


# -- activity -----------------------------------------------------------------------------------


def note_activity(model: BcModel, table: str, old: dict | None, new: dict | None) -> None:
    """After a write of ``table`` (``old`` -> ``new``; None = absent): stamp the customers whose
    ledger-relevant data it changed."""
    row = new if new is not None else old
    numbers = _touched(model, table, old, new) if row is not None else set()
    if row is None or not numbers:
        return
    stamp = new["lastModifiedDateTime"] if new is not None else model.store.stamp()
    for number in numbers:
        customer = model.by_code("customer", row["__company"], number)
        if customer is not None:
            _stamp_activity(model, customer, stamp)


def _touched(model: BcModel, table: str, old: dict | None, new: dict | None) -> set[str]:
    row = new if new is not None else old
    assert row is not None
    if table == "customer":
        return {row["number"]} if old is None and row.get("number") else set()
    if table == "postedSalesInvoice":
        return {r.get("sellToCustomerNo") or "" for r in (old, new) if r is not None} - {""}
    if table == "salesLine":
        header = model.store.table("salesHeader").get(row.get("documentId") or "")
        return {header.get("customerNumber") or ""} - {""} if header else set()
    if table == "salesHeader" and old is not None and new is not None:
        return _header_customers(model, old, new)
    return set()


def _header_customers(model: BcModel, old: dict, new: dict) -> set[str]:
    """A header change that changes its lines' amounts in LCY (or their customer)."""
    changed = any(old.get(k) != new.get(k) for k in HEADER_AMOUNT_FIELDS)
    if not changed or not model.lines_of("salesLine").get(new["id"]):
        return set()
    return {old.get("customerNumber") or "", new.get("customerNumber") or ""} - {""}


def _activity_row(model: BcModel, customer: dict) -> dict[str, Any]:
    return model.store.table(ACTIVITY).get(customer["id"]) or {
        "id": customer["id"],
        "__company": customer["__company"],
        "adjustments": {},
    }


def _stamp_activity(model: BcModel, customer: dict, stamp: str) -> None:
    row = {**_activity_row(model, customer), "lastActivityDateTime": stamp}
    model.store.table(ACTIVITY)[customer["id"]] = row  # rows are replaced, never changed (snapshots)


def last_activity(model: BcModel, customer: dict) -> str:
    activity = model.store.table(ACTIVITY).get(customer["id"])
    return str(activity.get("lastActivityDateTime")) if activity else BLANK_DATETIME


# -- adjustments --------------------------------------------------------------------------------


def adjust(model: BcModel, customer: dict, amounts: dict[str, Any]) -> None:
    """Add ``amounts`` (API field -> number) to the customer's figures; a ledger activity."""
    check_adjustments(amounts)
    current = _activity_row(model, customer)
    adjustments = dict(current.get("adjustments") or {})
    for name, value in amounts.items():
        adjustments[name] = adjustments.get(name, 0.0) + float(value)
    row = {**current, "adjustments": adjustments, "lastActivityDateTime": model.store.stamp()}
    model.put(ACTIVITY, row)  # a write: the cached figures are recomputed


def check_adjustments(amounts: dict[str, Any]) -> None:
    allowed = ", ".join(FIGURES)
    if not amounts:
        raise ApiError(400, "BadRequest", f"Name at least one amount to add: {allowed}.")
    for name, value in amounts.items():
        if name == "creditLimitLcy":
            raise ApiError(
                400,
                "BadRequest",
                "creditLimitLcy is the customer's Credit Limit (LCY): change it on integrationCustomers.",
            )
        if name not in ADJUSTABLE:
            raise ApiError(400, "BadRequest", f"'{name}' is no amount of customerStatistics. Use: {allowed}.")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ApiError(400, "BadRequest", f"{name} must be a number (the amount added in LCY).")


# -- figures ------------------------------------------------------------------------------------


def statistics(model: BcModel, customer: dict) -> Figures:
    """The computed money fields of one customer (adjustments and totalLcy included)."""
    with model.store.lock:
        by_number, finals = _company_figures(model, customer["__company"])
        final = finals.get(customer["id"])
        if final is None:
            final = _final(model, customer, by_number.get(customer.get("number") or "", {}))
            finals[customer["id"]] = final
        return final


def _final(model: BcModel, customer: dict, base: Figures) -> Figures:
    activity = model.store.table(ACTIVITY).get(customer["id"]) or {}
    adjustments = activity.get("adjustments") or {}
    out = {name: money(base.get(name, 0.0) + adjustments.get(name, 0.0)) for name in FIGURES}
    total = sum(out[n] for n in FIGURES[:4]) - out["invoicedPrepaymentAmountLcy"]
    out["totalLcy"] = money(total)
    return out


def _company_figures(model: BcModel, company: str) -> CompanyFigures:
    today = date.today().isoformat()
    key = (model.writes, model.store.generation, today)
    cached = _CACHE.get(model)
    if cached is None or cached[0] != key:
        cached = (key, {})
        _CACHE[model] = cached
    by_company = cached[1]
    if company not in by_company:
        by_company[company] = (_compute(model, company, today), {})
    return by_company[company]


def _compute(model: BcModel, company: str, today: str) -> dict[str, Figures]:
    figures: dict[str, Figures] = {}
    for invoice in model.rows("postedSalesInvoice", company):
        _add_invoice(figures, invoice, today)
    headers = {h["id"]: h for h in model.rows("salesHeader", company)}
    factors: dict[str, float] = {}
    for line in model.rows("salesLine", company):
        header = headers.get(line.get("documentId") or "")
        if header is not None and header.get("documentType") in ("Order", "Invoice"):
            _add_line(model, figures, header, line, factors)
    return figures


def _entry(figures: dict[str, Figures], number: str) -> Figures:
    return figures.setdefault(number, dict.fromkeys(FIGURES, 0.0))


def _lcy(amount: Any, factor: float) -> float:
    return float(amount or 0) / factor if factor else float(amount or 0)


def _add_invoice(figures: dict[str, Figures], invoice: dict, today: str) -> None:
    entry = _entry(figures, invoice.get("sellToCustomerNo") or "")
    factor = float(invoice.get("currencyFactor") or 0)
    remaining = _lcy(invoice.get("remainingAmount"), factor)
    entry["balanceLcy"] += remaining
    if (invoice.get("dueDate") or "9999-12-31") < today:
        entry["overdueAmountsLcy"] += remaining
    posted = str(invoice.get("postingDate") or invoice.get("shipmentDate") or "")
    if posted[:4] == today[:4] and not invoice.get("cancelled"):
        entry["totalSalesLcy"] += _lcy(invoice.get("amount"), factor)


def _add_line(model: BcModel, figures: dict[str, Figures], header: dict, line: dict, factors: dict) -> None:
    quantity = float(line.get("quantity") or 0)
    if not quantity:
        return
    incl = line_values(model, line, header)["incl"]
    factor = _factor(model, header, factors)
    entry = _entry(figures, header.get("customerNumber") or "")
    if header.get("documentType") == "Invoice":
        entry["outstandingInvoicesLcy"] += _lcy(incl * outstanding(line) / quantity, factor)
        return
    entry["outstandingOrdersLcy"] += _lcy(incl * outstanding(line) / quantity, factor)
    entry["shippedNotInvoicedLcy"] += _lcy(incl * shipped_not_invoiced(line) / quantity, factor)


def _factor(model: BcModel, header: dict, factors: dict[str, float]) -> float:
    """The document currency's factor (0 = LCY, or no exchange rate: counted as LCY)."""
    code = header.get("currencyCode") or ""
    if code not in factors:
        try:
            factors[code] = exchange_factor(model, header["__company"], code)
        except ApiError:
            factors[code] = 0.0
    return factors[code]


# -- getters of the view ------------------------------------------------------------------------


def _figure(name: str) -> Callable[[BcModel, BcView, dict], Any]:
    return lambda model, view, row: statistics(model, row)[name]


STATISTICS_GETTERS: dict[str, Callable[[BcModel, BcView, dict], Any]] = {
    **{f"stat_{name}": _figure(name) for name in (*FIGURES, "totalLcy")},
    "stat_overdueAmountsAsOf": lambda model, view, row: date.today().isoformat(),
    "stat_lastActivityDateTime": lambda model, view, row: last_activity(model, row),
}
