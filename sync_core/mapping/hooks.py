"""Per-entity rules that truly are code (BC's hard-coded rules), registered by name.

A hook gets the values the field mappings produced and returns them changed; it may read
reference data through ``HookContext.reference`` (a port, so hooks stay testable with a twin).
``HookContext`` and the ``Hook`` type are in ``rules_common``, which every rules module shares.
A hook that cannot map the record raises ``MappingError`` naming the field and the remedy;
one that finds a record BC never synchronizes (a post-filter) raises ``IgnoredRecord``.
Hooks run on the field mappings' values before lookups are resolved, in the mapping's order.
The rules live next to the mappings that use them: ``rules_products`` (items, resources, units,
prices), ``rules_parties`` (salespeople, customers, contacts, opportunities) and
``rules_documents`` (invoices).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sync_core.errors import MappingError
from sync_core.mapping import rules_documents, rules_parties, rules_products
from sync_core.mapping.rules_common import Hook, HookContext, eq

CRM_DEFAULT_CURRENCY_PRECISION = 2


def _latest_rate(rows: list[Mapping[str, Any]], today: date) -> Mapping[str, Any] | None:
    current = [r for r in rows if str(r.get("startingDate", "")) <= today.isoformat()]
    return max(current, key=lambda r: str(r.get("startingDate", "")), default=None)


def currency_exchange_rate(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """CURRENCY (BC §3.6): exchangerate = LCY->FCY rate on every transfer; precision on insert."""
    if ctx.direction != "to-dataverse":
        return values
    code = str(ctx.source.fields.get("code", "")).strip().upper()
    if code == ctx.reference.lcy_code().upper():
        rate = 1.0
    else:
        found = _latest_rate(
            list(ctx.reference.rows("currencyExchangeRates", eq("currencyCode", code))),
            ctx.today,
        )
        if not found or not found.get("relationalExchangeRateAmount"):
            raise MappingError(
                f"Cannot create or update the currency {code} in Dataverse, because there is "
                "no exchange rate defined for it.",
                field="exchangerate",
                remedy=f"Add an exchange rate for {code} in Business Central "
                "(Currency Exchange Rates), then retry the record.",
            )
        rate = float(found["exchangeRateAmount"]) / float(found["relationalExchangeRateAmount"])
    out = {**values, "exchangerate": round(rate, 10)}
    if ctx.inserting:
        out["currencyprecision"] = CRM_DEFAULT_CURRENCY_PRECISION
    return out


HOOKS: dict[str, Hook] = {
    "currency-exchange-rate": currency_exchange_rate,
    **rules_products.HOOKS,
    **rules_parties.HOOKS,
    **rules_documents.HOOKS,
}

__all__ = ["HOOKS"]
