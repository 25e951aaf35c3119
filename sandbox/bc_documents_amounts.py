"""Amounts of BC sales documents: line amounts, invoice discount, VAT, shipped/invoiced state.

BC's Sales Line: Line Amount = Quantity x Unit Price - Line Discount Amount; the header's Invoice
Discount Amount is allocated over the lines in proportion to their Line Amount (the rounding rest
on the last line); Amount = Line Amount - Inv. Discount Amount; Amount Including VAT from the VAT %
of the VAT Posting Setup (the header's VAT Bus. Posting Group from the customer x the line's VAT
Prod. Posting Group from the item, resource or G/L account; none = 0 %). With Prices Including VAT
the unit price holds the VAT and Amount is derived from Amount Including VAT. Text lines carry no
amount. The header's totals are the sums of its lines.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sandbox.bc_schema import BcView

if TYPE_CHECKING:
    from sandbox.bc_model import BcModel

TEXT_TYPES = ("Comment", "")


def money(value: float) -> float:
    """Rounded to the amount precision (0.01) as BC rounds: half away from zero."""
    return float(Decimal(repr(float(value))).quantize(Decimal("0.01"), ROUND_HALF_UP))


def vat_percent(model: BcModel, company: str, bus: str | None, prod: str | None) -> float:
    for row in model.rows("vatPostingSetup", company):
        if (row.get("vatBusPostingGroup") or "") == (bus or "") and (
            row.get("vatProdPostingGroup") or ""
        ) == (prod or ""):
            return float(row.get("vatPercent") or 0)
    return 0.0


def line_gross(line: dict) -> float:
    """Line Amount: quantity x unit price less the line discount (amount, else percent)."""
    if line.get("lineType") in TEXT_TYPES:
        return 0.0
    gross = (line.get("quantity") or 0) * (line.get("unitPrice") or 0)
    discount = line.get("discountAmount") or gross * (line.get("discountPercent") or 0) / 100
    return money(gross - discount)


def header_of(model: BcModel, line: dict) -> dict | None:
    return model.by_id("salesHeader", line["__company"], line.get("documentId"))


def lines_of(model: BcModel, header: dict) -> list[dict]:
    lines = model.lines_of("salesLine").get(header["id"], [])
    return sorted(lines, key=lambda r: r.get("sequence") or 0)


def allocation(model: BcModel, header: dict) -> dict[str, float]:
    """The header's invoice discount spread over its lines (line id -> Inv. Discount Amount)."""
    discount = float(header.get("discountAmount") or 0)
    lines = [ln for ln in lines_of(model, header) if line_gross(ln) > 0]
    total = sum(line_gross(ln) for ln in lines)
    if not discount or not total:
        return {}
    discount, out, left = min(discount, total), {}, min(discount, total)
    for line in lines[:-1]:
        share = money(discount * line_gross(line) / total)
        out[line["id"]], left = share, money(left - share)
    out[lines[-1]["id"]] = left
    return out


def line_values(model: BcModel, line: dict, header: dict | None = None) -> dict[str, float]:
    """Line Amount, Inv. Discount Amount, Amount, VAT %, Amount Including VAT of one line."""
    header = header if header is not None else header_of(model, line) or {}
    gross = line_gross(line)
    discount = allocation(model, header).get(line["id"], 0.0) if header else 0.0
    pct = vat_percent(
        model, line["__company"], header.get("vatBusPostingGroup"), line.get("vatProdPostingGroup")
    )
    net = money(gross - discount)
    if header.get("pricesIncludeTax"):
        incl, amount = net, money(net / (1 + pct / 100))
        gross_excl = money(gross / (1 + pct / 100))
    else:
        amount, incl, gross_excl = net, money(net * (1 + pct / 100)), gross
    return {"gross": gross_excl, "discount": discount, "amount": amount, "vat_pct": pct, "incl": incl}


def document_totals(model: BcModel, header: dict) -> dict[str, float]:
    values = [line_values(model, ln, header) for ln in lines_of(model, header)]
    amount = money(sum(v["amount"] for v in values))
    incl = money(sum(v["incl"] for v in values))
    return {"amount": amount, "incl": incl, "vat": money(incl - amount)}


def outstanding(line: dict) -> float:
    return round((line.get("quantity") or 0) - (line.get("shippedQuantity") or 0), 5)


def shipped_not_invoiced(line: dict) -> float:
    return round((line.get("shippedQuantity") or 0) - (line.get("invoicedQuantity") or 0), 5)


def completely_shipped(model: BcModel, header: dict) -> bool:
    lines = [ln for ln in lines_of(model, header) if ln.get("lineType") not in TEXT_TYPES]
    return bool(lines) and all((ln.get("quantity") or 0) != 0 and outstanding(ln) == 0 for ln in lines)


def fully_invoiced(model: BcModel, header: dict) -> bool:
    """BC §5.2: a line with Quantity Invoiced <> 0, none with outstanding or shipped-not-invoiced."""
    lines = lines_of(model, header)
    return (
        any(ln.get("invoicedQuantity") for ln in lines)
        and not any(outstanding(ln) for ln in lines if ln.get("lineType") not in TEXT_TYPES)
        and not any(shipped_not_invoiced(ln) for ln in lines)
    )


def _line(key: str) -> Callable[[BcModel, BcView, dict], Any]:
    return lambda model, view, row: line_values(model, row)[key]


def _net_vat(model: BcModel, view: BcView, row: dict) -> float:
    values = line_values(model, row)
    return money(values["incl"] - values["amount"])


def _gross_vat(model: BcModel, view: BcView, row: dict) -> float:
    values = line_values(model, row)
    return money(values["gross"] * values["vat_pct"] / 100)


def _gross_incl(model: BcModel, view: BcView, row: dict) -> float:
    values = line_values(model, row)
    return money(values["gross"] + values["gross"] * values["vat_pct"] / 100)


def _total(key: str) -> Callable[[BcModel, BcView, dict], Any]:
    return lambda model, view, row: document_totals(model, row)[key]


def qty_on_sales_orders(model: BcModel, row: dict) -> float:
    """Outstanding quantity of the item on sales order lines (lines carry no location: the blank one)."""
    if row.get("locationCode"):
        return 0.0
    orders = {
        h["id"] for h in model.rows("salesHeader", row["__company"]) if h.get("documentType") == "Order"
    }
    return round(
        sum(
            outstanding(line)
            for line in model.rows("salesLine", row["__company"])
            if line.get("documentId") in orders
            and line.get("lineType") == "Item"
            and line.get("lineObjectNumber") == row.get("itemNo")
        ),
        5,
    )


def available_quantity(model: BcModel, row: dict) -> float:
    """Inventory - Qty. on Sales Orders + Qty. on Purch. Orders (BC's Item Availability by Location)."""
    inventory, purchases = float(row.get("inventory") or 0), float(row.get("qtyOnPurchOrders") or 0)
    return round(inventory - qty_on_sales_orders(model, row) + purchases, 5)


DOCUMENT_GETTERS: dict[str, Callable[[BcModel, BcView, dict], Any]] = {
    "qty_on_sales_orders": lambda model, view, row: qty_on_sales_orders(model, row),
    "available_quantity": lambda model, view, row: available_quantity(model, row),
    "line_amount": _line("gross"),
    "line_vat_percent": _line("vat_pct"),
    "line_vat": _gross_vat,
    "line_amount_incl_vat": _gross_incl,
    "line_inv_discount": _line("discount"),
    "line_net": _line("amount"),
    "line_net_vat": _net_vat,
    "line_net_incl_vat": _line("incl"),
    "doc_amount": _total("amount"),
    "doc_vat": _total("vat"),
    "doc_amount_incl_vat": _total("incl"),
    "completely_shipped": lambda model, view, row: completely_shipped(model, row),
    "fully_invoiced": lambda model, view, row: fully_invoiced(model, row),
    "outstanding_quantity": lambda model, view, row: outstanding(row),
    "shipped_not_invoiced": lambda model, view, row: shipped_not_invoiced(row),
}
