"""Steps around writing a Dataverse row that BC hard-codes per table (``write_rule`` of a mapping).

The record synchronizer calls ``prepare_insert`` before it computes the values of an uncoupled
record it may create (BC's checks before an insert; what the new row refers to is made to exist),
``before_insert`` on the body of a new row, ``before_update`` just before it writes changes to
Dataverse (raising ``ReadOnlyRow`` leaves the row alone: the record is skipped), and
``after_write`` after an insert or a modify (never for an unchanged record: nothing was written).
A document's rule is also called around its lines (child mappings): ``before_lines`` with the
detail values about to be written, ``after_lines`` with the BC lines once they are written.
``RuleSteps`` does nothing at every step; a rule overrides the steps it needs. The rules are
registered by name in ``rule_registry`` (the posted invoice's steps are ``posted_invoice``).
- ``sales-order-state`` (SALESORDER-ORDER, BC §5.2): a Dataverse order can only be edited while
  Active, so it is set Active before a modify and, after the write, Invoiced when the BC order is
  fully invoiced, else Submitted.
- ``product-default-price-list`` (ITEM-PRODUCT, RESOURCE-PRODUCT, BC §3.3): a product gets BC's
  default price list (created with the local currency when missing) when it has none, and that
  list gets a product price in the product's default unit with amount = the product's price.
- ``unit-group`` (UNIT OF MEASURE, BC §3.5): the coupled ``NAV <code>`` unit group must be Active
  and hold one unit; that unit is renamed to the code.
- ``posted-sales-invoice`` (POSTEDSALESINV-INV, BC §6.1): in ``posted_invoice`` and
  ``invoice_finish`` (order link, price list, company, totals, Rounding line, state, read-only).
All are idempotent: a replay finds the state or the rows already there. Rows this code creates
have ids derived from what they are, so two workers (or a redelivery) never create two.
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sync_core.errors import AlreadyExistsError, MappingError
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.lookups import LookupResolver
from sync_core.sync.engine.on_the_fly import OnTheFly
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import Record, eq

# salesorder statecode / statuscode (§4.8)
ORDER_ACTIVE = (0, 1)  # Active / New
ORDER_SUBMITTED = (1, 3)  # Submitted / In Progress
ORDER_INVOICED = (4, 100003)  # Invoiced / Invoiced
ORDER_EDITABLE_STATES = (0,)
# BC: '%1 Default Price List' with its product name (PRODUCTNAME.SHORT)
DEFAULT_PRICE_LIST = "Business Central Default Price List"
PRICE_INPUTS = frozenset({"price", "_defaultuomid_value"})  # what the product price depends on
ROW_IDS = uuid.UUID("6f1c2a64-8d1e-4c55-9a3e-2b7d0c9e5a10")  # namespace of the ids derived here


class ReadOnlyRow(Exception):
    """The Dataverse row may not be written any more (a paid invoice): the record is skipped, with
    this message, and nothing is written or failed."""


class WriteRule(Protocol):
    def prepare_insert(self, ctx: SyncContext, source: Record, on_the_fly: OnTheFly) -> None: ...

    def before_insert(
        self, ctx: SyncContext, entity: str, body: dict[str, Any], source: Record
    ) -> dict[str, Any]: ...

    def before_update(self, ctx: SyncContext, entity: str, dest: Record) -> Record: ...

    def after_write(
        self, ctx: SyncContext, entity: str, source: Record, written: Record, changed: frozenset[str] | None
    ) -> Record:
        """``changed``: the Dataverse attributes a modify wrote (None after an insert)."""
        ...

    def before_lines(self, ctx: SyncContext, header: Record, lines: Sequence[Mapping[str, Any]]) -> None:
        """``lines``: the detail rows' values (by Dataverse read name) about to be written."""
        ...

    def after_lines(
        self, ctx: SyncContext, source: Record, header: Record, bc_lines: Sequence[Mapping[str, Any]]
    ) -> None:
        """``bc_lines``: the BC document's lines, all written to Dataverse."""
        ...


class RuleSteps:
    """A write rule that does nothing at any step (rules override the steps they need)."""

    def prepare_insert(self, ctx: SyncContext, source: Record, on_the_fly: OnTheFly) -> None:
        return None

    def before_insert(
        self, ctx: SyncContext, entity: str, body: dict[str, Any], source: Record
    ) -> dict[str, Any]:
        return body

    def before_update(self, ctx: SyncContext, entity: str, dest: Record) -> Record:
        return dest

    def after_write(
        self, ctx: SyncContext, entity: str, source: Record, written: Record, changed: frozenset[str] | None
    ) -> Record:
        return written

    def before_lines(self, ctx: SyncContext, header: Record, lines: Sequence[Mapping[str, Any]]) -> None:
        return None

    def after_lines(
        self, ctx: SyncContext, source: Record, header: Record, bc_lines: Sequence[Mapping[str, Any]]
    ) -> None:
        return None


def fully_invoiced(lines: Iterable[Mapping[str, Any]]) -> bool:
    """BC: at least one line invoiced, none outstanding, none shipped but not invoiced."""
    rows = list(lines)

    def qty(row: Mapping[str, Any], name: str) -> float:
        return float(row.get(name) or 0)

    invoiced = any(qty(r, "invoicedQuantity") != 0 for r in rows)
    outstanding = any(qty(r, "quantity") - qty(r, "shippedQuantity") != 0 for r in rows)
    shipped_not_invoiced = any(qty(r, "shippedQuantity") - qty(r, "invoicedQuantity") != 0 for r in rows)
    return invoiced and not outstanding and not shipped_not_invoiced


def _set_state(ctx: SyncContext, entity: str, row: Record, state: tuple[int, int]) -> Record:
    if (row.fields.get("statecode"), row.fields.get("statuscode")) == state:
        return row
    values = {"statecode": state[0], "statuscode": state[1]}
    return ctx.dataverse.update(entity, row.id, values, etag=row.etag or "*")


@dataclass(frozen=True)
class SalesOrderState(RuleSteps):
    """SALESORDER-ORDER: Active before a modify; Submitted or Invoiced after a write."""

    lines_nav: str = "salesOrderLines"

    def before_update(self, ctx: SyncContext, entity: str, dest: Record) -> Record:
        if dest.fields.get("statecode") in ORDER_EDITABLE_STATES:
            return dest
        return _set_state(ctx, entity, dest, ORDER_ACTIVE)

    def after_write(
        self, ctx: SyncContext, entity: str, source: Record, written: Record, changed: frozenset[str] | None
    ) -> Record:
        lines = ctx.bc.list_rows(f"salesOrders({source.id})/{self.lines_nav}")
        target = ORDER_INVOICED if fully_invoiced(lines) else ORDER_SUBMITTED
        return _set_state(ctx, entity, written, target)


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(ROW_IDS, "/".join(parts)))


def create_once(ctx: SyncContext, entity: str, values: dict[str, Any], row_id: str) -> Record:
    try:
        return ctx.dataverse.create(entity, values, record_id=row_id)
    except AlreadyExistsError:  # created meanwhile (another worker, or our earlier try)
        found = ctx.dataverse.get(entity, row_id)
        if found is None:
            raise
        return found


_PRICE_LISTS: weakref.WeakKeyDictionary[object, tuple[str, float]] = weakref.WeakKeyDictionary()
PRICE_LIST_TTL_S = 60.0  # how long a worker trusts the default price list id it found


@dataclass(frozen=True)
class ProductDefaultPriceList(RuleSteps):
    """ITEM-PRODUCT / RESOURCE-PRODUCT: the product's default price list and its price there.

    A new product is created with the list already set and its price row created straight away
    (a new product has none); a modify looks at the price row only when the price or the unit
    changed. The list's id is kept for a minute per worker.
    """

    name: str = DEFAULT_PRICE_LIST

    def before_insert(
        self, ctx: SyncContext, entity: str, body: dict[str, Any], source: Record
    ) -> dict[str, Any]:
        if body.get("pricelevelid@odata.bind"):
            return body
        return {**body, "pricelevelid@odata.bind": f"/pricelevels({self.price_list(ctx)})"}

    def after_write(
        self, ctx: SyncContext, entity: str, source: Record, written: Record, changed: frozenset[str] | None
    ) -> Record:
        has_list = bool(written.fields.get("_pricelevelid_value"))
        if changed is not None and has_list and not PRICE_INPUTS & changed:
            return written  # a modify that touched neither the price nor the unit: nothing to do
        if not has_list:  # BC sets it only when the product has none
            bind = {"pricelevelid@odata.bind": f"/pricelevels({self.price_list(ctx)})"}
            written = ctx.dataverse.update(entity, written.id, bind, etag=written.etag or "*")
        unit = written.fields.get("_defaultuomid_value")
        if unit:
            in_list = str(written.fields.get("_pricelevelid_value"))
            self._product_price(ctx, in_list, written, str(unit), new=changed is None)
        return written

    def price_list(self, ctx: SyncContext) -> str:
        cached = _PRICE_LISTS.get(ctx.dataverse)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        query = ModifiedQuery("pricelevels", filter=eq("name", self.name), select=("name",), page_size=1)
        found = next(iter(ctx.dataverse.iter_modified(query)), None)
        if found is None:
            values: dict[str, Any] = {"name": self.name}
            currency = LookupResolver(ctx).lcy_currency()
            if currency:
                values["transactioncurrencyid@odata.bind"] = f"/transactioncurrencies({currency})"
            found = create_once(ctx, "pricelevels", values, derived_id("pricelevel", self.name))
        _PRICE_LISTS[ctx.dataverse] = (found.id, time.monotonic() + PRICE_LIST_TTL_S)
        return found.id

    @staticmethod
    def _product_price(ctx: SyncContext, price_list: str, product: Record, unit: str, *, new: bool) -> None:
        amount = max(float(product.fields.get("price") or 0), 0.0)
        existing = None if new else price_row(ctx, price_list, product.id, unit)
        if existing is None:
            values = {
                "pricelevelid@odata.bind": f"/pricelevels({price_list})",
                "productid@odata.bind": f"/products({product.id})",
                "uomid@odata.bind": f"/uoms({unit})",
                "amount": amount,
                "pricingmethodcode": 1,
            }
            row_id = derived_id("productpricelevel", price_list, product.id, unit)
            existing = create_once(ctx, "productpricelevels", values, row_id)
        if float(existing.fields.get("amount") or 0) != amount:
            etag = existing.etag or "*"
            ctx.dataverse.update("productpricelevels", existing.id, {"amount": amount}, etag=etag)


def price_row(ctx: SyncContext, price_list: str, product_id: str, unit: str) -> Record | None:
    where = (
        f"_pricelevelid_value eq {price_list} and _productid_value eq {product_id} and _uomid_value eq {unit}"
    )
    query = ModifiedQuery("productpricelevels", filter=where, select=("amount",), page_size=2)
    return next(iter(ctx.dataverse.iter_modified(query)), None)


@dataclass(frozen=True)
class UnitGroup(RuleSteps):
    """UNIT OF MEASURE: the "NAV <code>" unit group must be Active and hold one unit, named <code>."""

    def before_update(self, ctx: SyncContext, entity: str, dest: Record) -> Record:
        name = str(dest.fields.get("name", ""))
        if dest.fields.get("statecode", 0) != 0:
            raise MappingError(
                f"The unit group {name} is inactive in Dataverse.",
                field="statecode",
                remedy=f"Activate the unit group {name} in Dataverse, then retry the record.",
            )
        units = self._units(ctx, dest.id)
        if len(units) > 1:
            raise MappingError(
                f"The unit group {name} contains more than one unit in Dataverse.",
                field="uoms",
                remedy=f"Remove the extra units of {name} (Business Central couples one unit per unit "
                "group when unit groups are off), then retry the record.",
            )
        return dest

    def after_write(
        self, ctx: SyncContext, entity: str, source: Record, written: Record, changed: frozenset[str] | None
    ) -> Record:
        code = str(written.fields.get("baseuomname") or "")
        for unit in self._units(ctx, written.id):
            if code and unit.fields.get("name") != code:  # BC renames the single unit to the code
                ctx.dataverse.update("uoms", unit.id, {"name": code}, etag=unit.etag or "*")
        return written

    @staticmethod
    def _units(ctx: SyncContext, schedule_id: str) -> list[Record]:
        query = ModifiedQuery("uoms", filter=f"_uomscheduleid_value eq {schedule_id}", select=("name",))
        return list(ctx.dataverse.iter_modified(query))
