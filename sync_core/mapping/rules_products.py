"""BC's hard-coded rules for items, resources, units of measure and prices (§3.3-§3.9), as hooks.

Each hook is a pure function ``(HookContext, values) -> values`` over the values the field
mappings produced (before lookups are resolved: a lookup field still holds a BC code).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sync_core.errors import MappingError
from sync_core.mapping.rules_common import Hook, HookContext, IgnoredRecord, code, eq, integration_setup, text

# product statecode / statuscode (§4.8)
PRODUCT_ACTIVE = (0, 1)
PRODUCT_RETIRED = (1, 2)
NAV_PREFIX = "NAV"
PRICE_LIST_CURRENCY = "_transactioncurrencyid_value"
# Sales Price primary key order (BC's FindFirst picks the first by it)
SALES_PRICE_KEY = (
    "itemNo",
    "salesType",
    "salesCode",
    "startingDate",
    "currencyCode",
    "unitOfMeasureCode",
    "minimumQuantity",
)


def _write_in_excluded(product_type: str, caption: str) -> Hook:
    def hook(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
        """BC §3.3/§3.4 post-filter: the setup's write-in product is never synchronized."""
        if ctx.direction != "to-dataverse":
            return values
        setup = integration_setup(ctx)
        number = code(ctx.source.fields.get("number"))
        if text(setup.get("writeInProductType")) == product_type and number == code(
            setup.get("writeInProductNo")
        ):
            raise IgnoredRecord(
                f"{caption} {number} is the write-in product of Sales & Receivables Setup and is "
                "never synchronized.",
                field="productnumber",
                remedy="Nothing to fix. To synchronize it, choose another Write-in Product No. in "
                "Sales & Receivables Setup.",
            )
        return values

    return hook


def product_negative_to_zero(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §3.3: a negative price or quantity on hand is written to the product as 0."""
    if ctx.direction != "to-dataverse":
        return values
    out = dict(values)
    for name in ("price", "quantityonhand"):
        value = out.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            out[name] = 0
    return out


def product_blocked_state(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §3.3: Blocked <-> product state.

    To Dataverse: a new product is made Active; later, Blocked = Yes retires it (statecode 1,
    statuscode 2) and Blocked = No makes it Active again (0, 1). To BC: Blocked = statecode is
    not Active.
    """
    if ctx.direction == "to-bc":
        state = ctx.source.fields.get("statecode")
        return values if state is None else {**values, "blocked": int(state) != PRODUCT_ACTIVE[0]}
    blocked = bool(ctx.source.fields.get("blocked")) and not ctx.inserting
    statecode, statuscode = PRODUCT_RETIRED if blocked else PRODUCT_ACTIVE
    return {**values, "statecode": statecode, "statuscode": statuscode}


def unit_of_measure_schedule_name(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §3.5: the unit schedule of unit of measure <code> is named ``NAV <code>``."""
    if ctx.direction != "to-dataverse" or "name" not in values:
        return values
    return {**values, "name": f"{NAV_PREFIX} {code(values['name'])}"}


def _price_key(row: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(text(row.get(k)) for k in SALES_PRICE_KEY)


def price_group_currency(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §3.8: a price list has the one currency of its group's sales prices (blank = LCY).

    Every sales price of the group must have the currency of the first one (BC's TestField);
    the price list's currency field, when it is being written, gets that currency code, which
    the CURRENCY lookup turns into the Dataverse currency.
    """
    if ctx.direction != "to-dataverse":
        return values
    group = code(ctx.source.fields.get("code"))
    where = f"salesType eq 'Customer Price Group' and {eq('salesCode', group)}"
    prices = sorted(ctx.reference.rows("salesPrices", where), key=_price_key)
    currency = code(prices[0].get("currencyCode")) if prices else ""
    for price in prices:
        other = code(price.get("currencyCode"))
        if other != currency:
            raise MappingError(
                f"Currency Code must be equal to '{currency}' in Sales Price: Item No.="
                f"{text(price.get('itemNo'))}, Sales Type=Customer Price Group, Sales Code={group}. "
                f"Current value is '{other}'.",
                field="transactioncurrencyid",
                remedy=f"Give every sales price of customer price group {group} the same currency "
                "(a Dataverse price list has one currency), then retry the record.",
            )
    _check_price_list_currency(ctx, group, currency)
    return {**values, PRICE_LIST_CURRENCY: currency} if PRICE_LIST_CURRENCY in values else values


def _check_price_list_currency(ctx: HookContext, group: str, currency: str) -> None:
    """BC §3.8: on modify the price list's currency is tested: it must still be the prices' one."""
    dest = ctx.destination
    if ctx.inserting or dest is None or ctx.coupled_bc is None:
        return
    dest_id = dest.fields.get(PRICE_LIST_CURRENCY)
    coupled = ctx.coupled_bc("CURRENCY", str(dest_id)) if dest_id else None
    current = code(coupled.get("code")) if coupled else ""  # the LCY currency is not coupled
    lcy = code(ctx.reference.lcy_code())
    if {current, currency} <= {"", lcy} or current == currency:
        return
    raise MappingError(
        f"The price list {group} in Dataverse is in currency '{current or lcy}', but the sales prices "
        f"of customer price group {group} are in '{currency or lcy}'. A price list's currency cannot "
        "change.",
        field="transactioncurrencyid",
        remedy=f"Give the prices of {group} the currency '{current or lcy}' again, or uncouple the group "
        "and delete its price list in Dataverse so that it is created again, then retry the record.",
    )


def product_vendor_name(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §3.3: the product's vendor name is the name of the BC vendor its vendor number names."""
    if ctx.direction != "to-dataverse" or "vendorid" not in values:
        return values
    number = text(values["vendorid"]).strip()
    vendors = ctx.reference.rows("vendors", eq("number", number)) if number else []
    return {**values, "vendorname": text(vendors[0].get("displayName")) if vendors else ""}


PRICE_UNIT_FIELDS = ("_uomid_value", "_uomscheduleid_value")


def sales_price_unit_of_measure(ctx: HookContext, values: dict[str, Any]) -> dict[str, Any]:
    """BC §3.9: a sales price without a unit of measure is priced in the item's base unit."""
    if ctx.direction != "to-dataverse" or not any(
        k in values and not code(values[k]) for k in PRICE_UNIT_FIELDS
    ):
        return values
    number = code(ctx.source.fields.get("itemNo"))
    items = ctx.reference.rows("integrationItems", eq("number", number))
    base = code(items[0].get("baseUnitOfMeasure")) if items else ""
    if not base:
        raise MappingError(
            f"Unit of Measure Code must have a value in Item: No.={number}. It cannot be zero or empty.",
            field="uomid",
            remedy=f"Give item {number} a Base Unit of Measure (or the sales price a Unit of Measure "
            "Code) in Business Central, then retry the record.",
        )
    return {**values, **{k: base for k in PRICE_UNIT_FIELDS if k in values and not code(values[k])}}


HOOKS: dict[str, Callable[[HookContext, dict[str, Any]], dict[str, Any]]] = {
    "item-write-in-excluded": _write_in_excluded("Item", "Item"),
    "resource-write-in-excluded": _write_in_excluded("Resource", "Resource"),
    "product-negative-to-zero": product_negative_to_zero,
    "product-blocked-state": product_blocked_state,
    "product-vendor-name": product_vendor_name,
    "unit-of-measure-schedule-name": unit_of_measure_schedule_name,
    "price-group-currency": price_group_currency,
    "sales-price-unit-of-measure": sales_price_unit_of_measure,
}
