"""BC's hard-coded rules for documents synchronized to Dataverse (§6.1), as hooks.

Pure functions ``(HookContext, values) -> values`` over the field mappings' values; the steps that
need I/O around the write (price list, order link, totals, state) are the engine's write rule
``posted-sales-invoice``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sync_core.mapping.rules_common import HookContext, code, eq, text

DESCRIPTION = "description"


def invoice_shipment_method_description(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §6.1: an invoice without a description (Work Description) gets its Shipment Method's.

    BC does it before the insert; it is applied on every transfer here, so a later modify does not
    blank what the insert wrote."""
    if ctx.direction != "to-dataverse" or DESCRIPTION not in values or text(values[DESCRIPTION]).strip():
        return values
    method = code(ctx.source.fields.get("shipmentMethodCode"))
    rows = ctx.reference.rows("shipmentMethods", eq("code", method)) if method else []
    if not rows:
        return values
    return {**values, DESCRIPTION: text(rows[0].get("displayName")) or values[DESCRIPTION]}


HOOKS: dict[str, Callable[[HookContext, dict[str, Any]], dict[str, Any]]] = {
    "invoice-shipment-method-description": invoice_shipment_method_description,
}
