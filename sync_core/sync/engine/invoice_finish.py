"""The end of a posted invoice's creation in Dataverse (BC §6.1 "after insert", §6.3 at creation).

Dataverse creates an invoice Active / New; BC's creation ends by setting its state from the BC
posted invoice, which is never New. An invoice still Active / New has an unfinished creation, so a
redelivered or resumed message finishes it, each step writing only what is missing or differs:
1. before its lines: each line product's price in the invoice's price list when it has none there
   (BC's CreateCRMProductpriceIfAbsent: amount = the line's price, none for a price <= 0);
2. after its lines, Prices Including VAT: when the detail lines' amounts do not add up to the BC
   lines' Amount Including VAT, one write-in line "Rounding" (quantity 1, price = the difference),
   never a second one;
3. the totals (``invoice_totals``: BC's two modes, by the setup's S.Order integration), one PATCH;
4. the state from the BC posted invoice (``invoice_status``: an unpaid invoice is Active / Billed).
Rows created here have ids derived from what they are, so two workers never create two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sync_core.errors import AlreadyExistsError
from sync_core.mapping.invoice_status import current_state, invoice_state, steps_to
from sync_core.mapping.transfer import changed_values
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.write_rules import create_once, derived_id, price_row
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import Record

NEW = (0, 1)  # Active / New: how Dataverse creates an invoice
ROUNDING = "Rounding"
DETAILS = "invoicedetails"
PRICE_CURRENCY_AMOUNT = 1  # productpricelevel pricingmethodcode: Currency Amount


def _number(row: Mapping[str, Any], name: str) -> float:
    return float(row.get(name) or 0)


def creating(header: Record) -> bool:
    """Whether the Dataverse invoice's creation is unfinished (still Active / New)."""
    return current_state(header.fields) == NEW


# -- pure rules --------------------------------------------------------------------------------------


def invoice_totals(
    posted: Mapping[str, Any],
    bc_lines: Sequence[Mapping[str, Any]],
    invoice: Mapping[str, Any],
    sales_order_mode: bool,
) -> dict[str, Any]:
    """BC's totals of a new invoice: S.Order integration from the posted invoice, otherwise from the
    Dataverse invoice's own totals (as the field mappings wrote them)."""
    line_discount = round(sum(_number(line, "lineDiscountAmount") for line in bc_lines), 2)
    values: dict[str, Any] = {"totallineitemdiscountamount": line_discount}
    if sales_order_mode:
        total = _number(posted, "amountIncludingVat")
        tax = round(total - _number(posted, "amount"), 2)
        return values | {
            "totalamount": total,
            "totaltax": tax,
            "totalamountlessfreight": round(total - tax, 2),
            "totaldiscountamount": _number(posted, "invoiceDiscountAmount"),
        }
    return values | {
        "freightamount": 0,
        "discountpercentage": 0,
        "totaltax": round(_number(invoice, "totalamount") - _number(invoice, "totalamountlessfreight"), 2),
        "totaldiscountamount": round(_number(invoice, "discountamount") + line_discount, 2),
    }


def rounding_difference(bc_lines: Sequence[Mapping[str, Any]], details: Sequence[Mapping[str, Any]]) -> float:
    """Amount Including VAT of the BC lines less what their detail lines add up to (BC's sum)."""
    by_number = {int(d.get("lineitemnumber") or 0): d for d in details}
    difference = 0.0
    for line in bc_lines:
        detail = by_number.get(int(line.get("lineNo") or 0))
        if detail is None:
            continue
        written = _number(detail, "priceperunit") * _number(detail, "quantity")
        written += _number(detail, "tax") - _number(detail, "manualdiscountamount")
        difference += _number(line, "amountIncludingVat") - written
    return round(difference, 2)


# -- steps ---------------------------------------------------------------------------------------------


def line_prices(ctx: SyncContext, header: Record, lines: Sequence[Mapping[str, Any]]) -> None:
    """Step 1: a price in the invoice's price list for each line product and unit that has none."""
    price_list = str(header.fields.get("_pricelevelid_value") or "")
    done: set[tuple[str, str]] = set()
    for line in lines:
        product, unit = str(line.get("_productid_value") or ""), str(line.get("_uomid_value") or "")
        amount = _number(line, "priceperunit")
        if not price_list or not product or not unit or amount <= 0 or (product, unit) in done:
            continue
        done.add((product, unit))
        if price_row(ctx, price_list, product, unit) is not None:
            continue
        values = {
            "pricelevelid@odata.bind": f"/pricelevels({price_list})",
            "productid@odata.bind": f"/products({product})",
            "uomid@odata.bind": f"/uoms({unit})",
            "amount": amount,
            "pricingmethodcode": PRICE_CURRENCY_AMOUNT,
        }
        row_id = derived_id("productpricelevel", price_list, product, unit)  # as the product's own
        try:
            create_once(ctx, "productpricelevels", values, row_id)
        except AlreadyExistsError:
            continue  # created meanwhile under another id (the product's own price row)


def finish(
    ctx: SyncContext, entity: str, source: Record, header: Record, bc_lines: Sequence[Mapping[str, Any]]
) -> Record:
    """Steps 2-4, on the invoice as it is now (its lines may have moved Dataverse's totals)."""
    header = ctx.dataverse.get(entity, header.id) or header
    if source.fields.get("pricesIncludingVat"):
        _rounding_line(ctx, header, bc_lines)
    setup = ctx.reference.rows("integrationSetup") if ctx.reference else []
    sales_order_mode = bool(setup and setup[0].get("salesOrderIntegration"))
    totals = invoice_totals(source.fields, bc_lines, header.fields, sales_order_mode)
    changes = changed_values(totals, header.fields)
    if changes:
        header = ctx.dataverse.update(entity, header.id, changes, etag=header.etag or "*")
    for state in steps_to(current_state(header.fields), invoice_state(source.fields)):
        values = {"statecode": state[0], "statuscode": state[1]}
        header = ctx.dataverse.update(entity, header.id, values, etag=header.etag or "*")
    return header


def _rounding_line(ctx: SyncContext, header: Record, bc_lines: Sequence[Mapping[str, Any]]) -> None:
    query = ModifiedQuery(DETAILS, filter=f"_invoiceid_value eq {header.id}")
    details = [d.fields for d in ctx.dataverse.iter_modified(query)]
    if any(d.get("isproductoverridden") and d.get("productdescription") == ROUNDING for d in details):
        return
    difference = rounding_difference(bc_lines, details)
    if not difference:
        return
    values: dict[str, Any] = {
        "invoiceid@odata.bind": f"/invoices({header.id})",
        "quantity": 1,
        "priceperunit": difference,
        "isproductoverridden": True,
        "productdescription": ROUNDING,
    }
    currency = header.fields.get("_transactioncurrencyid_value")
    if currency:
        values["transactioncurrencyid@odata.bind"] = f"/transactioncurrencies({currency})"
    create_once(ctx, DETAILS, values, derived_id("invoicedetail", header.id, ROUNDING))
