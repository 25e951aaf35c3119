"""A posted sales invoice's steps around its Dataverse invoice (BC §6.1; write rule
``posted-sales-invoice``, declared by POSTEDSALESINV-INV).

Before an uncoupled invoice is inserted (``prepare_insert``):
- no item or resource on it may be Blocked (BC's TestField text names the first one);
- linked to a Dataverse order (a salesorder whose ordernumber is the invoice's Your Reference):
  that order's customer must still be the account coupled to the Sell-to customer, else BC's
  "Cannot create the invoice in Dataverse. The customer from the original ... was changed or is
  no longer coupled.";
- not linked: an uncoupled Sell-to customer is synchronized on the fly (``OnTheFly``; its items
  and resources are the lines': ``ChildLineSync`` with ``uncoupled_line_products``).
The new invoice's body (``before_insert``): linked -> the order's opportunity, order, price list,
name, customer and owner; not linked -> name = invoice No. and the price list in the invoice
currency ("Price List in <CUR>", created once with the currency factor; the LCY uses BC's default
price list). Both get the company stamp (``bcbi_companyid``, the ``cdm_company`` of this BC
company, when Dataverse has one).
An invoice no longer Active (Paid, Canceled) is never written again (``ReadOnlyRow``); its lines
are left alone too. While the invoice's creation is unfinished (``invoice_finish``), the lines'
prices go before the lines and the Rounding line, the totals and the state after them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sync_core.errors import MappingError
from sync_core.mapping.invoice_status import ACTIVE, current_state, describe
from sync_core.mapping.model import FieldMapping, IntegrationTableMapping
from sync_core.sync.context import SyncContext
from sync_core.sync.engine import invoice_finish
from sync_core.sync.engine.lookups import LookupResolver, field_label
from sync_core.sync.engine.on_the_fly import NotSynchronized, OnTheFly
from sync_core.sync.engine.write_rules import (
    ProductDefaultPriceList,
    ReadOnlyRow,
    RuleSteps,
    create_once,
    derived_id,
)
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import Record, eq

CUSTOMER = "_customerid_value"  # the invoice's lookups the rule follows (Dataverse's names)
CURRENCY = "_transactioncurrencyid_value"
CURRENCY_PRICE_LIST = "Price List in {}"  # BC's CurrencyPriceListNameTxt
# what an invoice linked to a Dataverse order copies from it: attribute -> entity set
FROM_ORDER = (("opportunityid", "opportunities"), ("pricelevelid", "pricelevels"))


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _first(ctx: SyncContext, entity: str, where: str) -> Record | None:
    return next(iter(ctx.dataverse.iter_modified(ModifiedQuery(entity, filter=where, page_size=1))), None)


class PostedSalesInvoice(RuleSteps):
    """The rule for one message: what it found (the linked order, the company) serves every step."""

    def __init__(self, mapping: IntegrationTableMapping) -> None:
        self.mapping = mapping
        self._orders: dict[str, Record | None] = {}
        self._company: str | None = None
        self._lookups: LookupResolver | None = None

    # -- before insert ----------------------------------------------------------------------------

    def prepare_insert(self, ctx: SyncContext, source: Record, on_the_fly: OnTheFly) -> None:
        check_not_blocked(ctx, self.mapping, source)
        if self._linked_order(ctx, source) is None:
            self._customer_on_the_fly(ctx, source, on_the_fly)

    def before_insert(
        self, ctx: SyncContext, entity: str, body: dict[str, Any], source: Record
    ) -> dict[str, Any]:
        order = self._linked_order(ctx, source)
        if order is not None:
            values = self._from_order(order)
        else:
            number = source.fields.get(self.mapping.bc_code_field or "number")
            price_list = self._price_list(ctx, source)
            values = {"name": number, "pricelevelid@odata.bind": f"/pricelevels({price_list})"}
        company = self._company_id(ctx)
        if company:
            values["bcbi_companyid@odata.bind"] = f"/cdm_companies({company})"
        return {**body, **values}

    # -- modify, lines --------------------------------------------------------------------------------

    def before_update(self, ctx: SyncContext, entity: str, dest: Record) -> Record:
        state = current_state(dest.fields)
        if state[0] != ACTIVE:
            number = dest.fields.get("invoicenumber") or dest.id
            raise ReadOnlyRow(
                f"The Dataverse invoice {number} is {describe(state)}: an invoice that is no longer "
                "Active is not written again."
            )
        return dest

    def before_lines(self, ctx: SyncContext, header: Record, lines: Sequence[Mapping[str, Any]]) -> None:
        if invoice_finish.creating(header):
            invoice_finish.line_prices(ctx, header, lines)

    def after_lines(
        self, ctx: SyncContext, source: Record, header: Record, bc_lines: Sequence[Mapping[str, Any]]
    ) -> None:
        if invoice_finish.creating(header):
            invoice_finish.finish(ctx, self.mapping.crm_entity, source, header, bc_lines)

    # -- the order link and the customer ----------------------------------------------------------

    def _linked_order(self, ctx: SyncContext, source: Record) -> Record | None:
        """The Dataverse order the invoice comes from (ordernumber = Your Reference), checked."""
        if source.id not in self._orders:
            reference = _text(source.fields.get("yourReference"))
            order = _first(ctx, "salesorders", eq("ordernumber", reference)) if reference else None
            if order is not None:
                self._check_order_customer(ctx, source, order)
            self._orders[source.id] = order
        return self._orders[source.id]

    def _check_order_customer(self, ctx: SyncContext, source: Record, order: Record) -> None:
        f = self._field(CUSTOMER)
        code = _text(source.fields.get(f.bc_field))
        account = self._resolver(ctx).coupled_crm_id(ctx.mapping(f.lookup), code) if code else None
        if account is None or account != order.fields.get(CUSTOMER):
            number = order.fields.get("ordernumber")
            raise MappingError(
                f"Cannot create the invoice in Dataverse. The customer from the original Dataverse sales "
                f"order {number} was changed or is no longer coupled.",
                field="customerid",
                remedy=f"Set the customer of Dataverse sales order {number} back to the account coupled to "
                f"customer {code} (or couple that account to customer {code}), then retry the invoice.",
            )

    def _customer_on_the_fly(self, ctx: SyncContext, source: Record, on_the_fly: OnTheFly) -> None:
        f = self._field(CUSTOMER)
        code = _text(source.fields.get(f.bc_field))
        if not code:
            return  # the field mapping says what a blank customer means
        target, cause = ctx.mapping(f.lookup), ""
        try:
            found = on_the_fly.crm_id(target, code)
        except NotSynchronized as exc:
            found, cause = None, f" {exc.message}"
        if found is None:
            raise MappingError(
                f"{field_label(f.bc_field)} {code} must be coupled to a record in Dataverse.{cause}",
                field=f.crm_field,
                remedy=f"Fix what stops the {target.name} record {code} from being synchronized "
                f'(python -m sync_core errors --mapping "{target.name}"), or couple it, then retry.',
            )

    def _from_order(self, order: Record) -> dict[str, Any]:
        fields = order.fields
        values: dict[str, Any] = {
            "name": fields.get("name"),
            "salesorderid@odata.bind": f"/salesorders({order.id})",
        }
        for attribute, entity_set in FROM_ORDER:
            value = fields.get(f"_{attribute}_value")
            if value:
                values[f"{attribute}@odata.bind"] = f"/{entity_set}({value})"
        values[self._field(CUSTOMER).write_name] = f"/accounts({fields.get(CUSTOMER)})"
        owner = fields.get("_ownerid_value")
        if owner:
            owners = "teams" if owner == fields.get("_owningteam_value") else "systemusers"
            values["ownerid@odata.bind"] = f"/{owners}({owner})"
        return values

    # -- price list and company -------------------------------------------------------------------

    def _price_list(self, ctx: SyncContext, source: Record) -> str:
        """BC's price list in the invoice currency (the LCY: the default price list)."""
        f = self._field(CURRENCY)
        code = _text(source.fields.get(f.bc_field))
        if not code:
            return ProductDefaultPriceList().price_list(ctx)
        currency = self._resolver(ctx).coupled_crm_id(ctx.mapping(f.lookup), code)
        if currency is None:
            raise MappingError(
                f"{field_label(f.bc_field)} {code} must be coupled to a record in Dataverse.",
                field=f.crm_field,
                remedy=f'Synchronize the currency (python -m sync_core run "{f.lookup}"), then retry.',
            )
        name = CURRENCY_PRICE_LIST.format(code)
        found = _first(ctx, "pricelevels", f"{eq('name', name)} and {CURRENCY} eq {currency}")
        if found is not None:
            return found.id
        values: dict[str, Any] = {
            "name": name,
            "transactioncurrencyid@odata.bind": f"/transactioncurrencies({currency})",
        }
        factor = float(source.fields.get("currencyFactor") or 0)
        if factor > 0:
            values["exchangerate"] = factor
        return create_once(ctx, "pricelevels", values, derived_id("pricelevel", name)).id

    def _company_id(self, ctx: SyncContext) -> str:
        """The ``cdm_company`` named as this BC company, "" when Dataverse has none (read once)."""
        if self._company is None:
            name = ctx.reference.company_name() if ctx.reference else ""
            found = _first(ctx, "cdm_companies", eq("cdm_name", name)) if name else None
            self._company = found.id if found else ""
        return self._company

    # -- helpers ---------------------------------------------------------------------------------------

    def _field(self, crm_field: str) -> FieldMapping:
        found = next((f for f in self.mapping.fields if f.crm_field == crm_field and f.lookup), None)
        if found is None:  # the catalog refuses such a mapping file: a deployment's own copy
            raise MappingError(
                f"{self.mapping.name} maps no {crm_field} through a lookup, which its write rule needs.",
                field=crm_field,
                remedy="Restore the field mapping in the mapping file.",
            )
        return found

    def _resolver(self, ctx: SyncContext) -> LookupResolver:
        if self._lookups is None:
            self._lookups = LookupResolver(ctx)
        return self._lookups


def check_not_blocked(ctx: SyncContext, mapping: IntegrationTableMapping, source: Record) -> None:
    """BC: ``TestField(Blocked, false)`` on the item or resource of every line (its first refusal)."""
    seen: set[tuple[str, str]] = set()
    for child in (m for m in ctx.catalog if m.parent == mapping.name):
        products = dict(child.line_products)
        nav = child.bc_navigation or child.bc_entity
        for row in ctx.bc.list_rows(f"{mapping.bc_entity}({source.id})/{nav}"):
            kind, number = _text(row.get("type")), _text(row.get("number"))
            if kind not in products or not number or (kind, number) in seen:
                continue
            seen.add((kind, number))
            target = ctx.mapping(products[kind])
            found = list(ctx.bc.list_rows(target.bc_entity, eq(target.bc_code_field, number)))
            if found and found[0].get("blocked"):
                raise MappingError(
                    f"Blocked must be equal to 'No'  in {kind}: No.={number}. Current value is 'Yes'.",
                    field="productid",
                    remedy=f"Unblock {kind.lower()} {number} in Business Central (or cancel the invoice "
                    "with a corrective credit memo), then retry the invoice.",
                )
