"""What a CRM document refers to, found in BC: customer, currency, option codes, products, setup.

Each answer is read through the couplings and the companion API, cached for one document, and
every refusal is a ``DataError`` with BC's text and a remedy (bc-integration §5.1 step 4 and 7).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync_core.errors import DataError
from sync_core.mapping.model import FieldMapping
from sync_core.sales.crm_document import CrmDocument, CrmLine, number
from sync_core.sales.lines import LineProduct
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.lookups import LookupResolver
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import eq

CUSTOMER_TYPE = 3  # account customertypecode Customer
PRODUCT_ACTIVE = 0
PRODUCT_STATES = {0: "Active", 1: "Retired", 2: "Draft", 3: "Under Revision"}
# producttypecode -> (BC line type, the mapping coupling the product, what BC calls it)
PRODUCT_TYPES = {1: ("Item", "ITEM-PRODUCT", "an item"), 3: ("Resource", "RESOURCE-PRODUCT", "a resource")}
PRODUCT_SETS = {"Item": "integrationItems", "Resource": "resources"}
# the document's option attribute -> (the BC header field, the option mapping translating it)
OPTION_FIELDS = (
    ("shippingmethodcode", "shippingAgentCode", "SHIPPING AGENT"),
    ("paymenttermscode", "paymentTermsCode", "PAYMENT TERMS"),
    ("freighttermscode", "shipmentMethodCode", "SHIPMENT METHOD"),
)


def document_word(doc: CrmDocument) -> str:
    return "Order" if doc.kind == "salesorder" else "Quote"


class SalesReferences:
    """The BC side of one CRM document's references."""

    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self._lookups = LookupResolver(ctx)
        self._setup: Mapping[str, Any] | None = None
        self._products: dict[tuple[str, str], LineProduct] = {}
        self._company: str | None = None

    def setup(self) -> Mapping[str, Any]:
        if self._setup is None:
            rows = list(self.ctx.bc.list_rows("integrationSetup"))
            self._setup = rows[0] if rows else {}
        return self._setup

    def company_id(self) -> str:
        """The Dataverse ``cdm_company`` of this BC company (by name), "" when Dataverse has none."""
        if self._company is None:
            name = self.ctx.reference.company_name() if self.ctx.reference else ""
            query = ModifiedQuery("cdm_companies", filter=eq("cdm_name", name), page_size=1)
            found = next(iter(self.ctx.dataverse.iter_modified(query)), None) if name else None
            self._company = found.id if found else ""
        return self._company

    def other_company(self, doc: CrmDocument) -> bool:
        """BC §5.4: a document stamped with another company's ``bcbi_companyid`` is not ours."""
        stamped = str(doc.get("_bcbi_companyid_value", ""))
        return bool(stamped) and stamped != self.company_id()

    # -- customer ---------------------------------------------------------------------------------

    def customer(self, doc: CrmDocument) -> Mapping[str, Any]:
        """The BC customer of the document's account (or the contact's parent account)."""
        customer_id = str(doc.get("_customerid_value", ""))
        account = self.ctx.dataverse.get("accounts", customer_id) if customer_id else None
        if account is None and customer_id:
            contact = self.ctx.dataverse.get("contacts", customer_id)
            parent = str(contact.fields.get("_parentcustomerid_value") or "") if contact else ""
            account = self.ctx.dataverse.get("accounts", parent) if parent else None
        if account is None:
            raise DataError(
                f"There is no potential customer defined on the Dataverse sales {document_word(doc).lower()} "
                f"{doc.number}.",
                remedy="Set the customer of the document in Dynamics 365 Sales, then process it again.",
            )
        name = str(account.fields.get("name") or account.id)
        if int(number(account.fields.get("customertypecode"))) != CUSTOMER_TYPE:
            raise DataError(
                f"The selected type of the {name} Dataverse account is not customer.",
                remedy=f"Set the relationship type of {name} to Customer, then process the document again.",
            )
        coupling = self.ctx.stores.couplings.get_by_crm("CUSTOMER", account.id)
        row = self.ctx.bc.get("integrationCustomers", coupling.bc_id) if coupling else None
        if coupling is None or coupling.state != "coupled" or row is None:
            raise DataError(
                f"There is no customer coupled to Dataverse account {name}.",
                remedy=f'Couple the account or create it in BC (python -m sync_core create-in-bc "CUSTOMER" '
                f"--crm-id {account.id}), then process the document again.",
            )
        return row.fields

    # -- currency and option codes -----------------------------------------------------------------

    def currency_code(self, doc: CrmDocument) -> str:
        """BC's code of the document currency: blank for LCY; an unknown currency is BC's error."""
        currency_id = str(doc.get("_transactioncurrencyid_value", ""))
        row = self.ctx.dataverse.get("transactioncurrencies", currency_id) if currency_id else None
        iso = str(row.fields.get("isocurrencycode") or "").upper() if row else ""
        lcy = self.ctx.reference.lcy_code().upper() if self.ctx.reference else ""
        if not iso or iso == lcy:
            return ""
        if not list(self.ctx.bc.list_rows("currencies", eq("code", iso), ("code",))):
            raise DataError(
                f"The Currency {iso} of Dataverse {document_word(doc).lower()} {doc.number} cannot be found: "
                f"cannot find Currency {iso} in Business Central.",
                remedy=f"Create the currency {iso} in Business Central, then process the document again.",
            )
        return iso

    def option_codes(self, doc: CrmDocument) -> dict[str, str]:
        """The BC codes of the document's option fields, through the option mappings."""
        codes: dict[str, str] = {}
        for attribute, bc_field, option_mapping in OPTION_FIELDS:
            value = doc.get(attribute)
            if value in (None, ""):
                continue
            f = FieldMapping(attribute, bc_field, direction="to-bc", option_map=option_mapping)
            codes[bc_field] = self._lookups.bc_code(f, value)
        return codes

    # -- products ---------------------------------------------------------------------------------

    def product(self, doc: CrmDocument, line: CrmLine, vat_bus_group: str) -> LineProduct:
        """The line's BC item or resource (read once per product and document), or the write-in."""
        key = (line.product_id, vat_bus_group)
        if key not in self._products:
            self._products[key] = self._product(doc, line, vat_bus_group)
        return self._products[key]

    def _product(self, doc: CrmDocument, line: CrmLine, vat_bus_group: str) -> LineProduct:
        if not line.product_id:
            return self._write_in(doc)
        product = self.ctx.dataverse.get("products", line.product_id)
        if product is None:
            raise DataError(f"The Dataverse product {line.product_id} does not exist.")
        label = str(product.fields.get("productnumber") or product.fields.get("name") or product.id)
        state = int(number(product.fields.get("statecode")))
        if state != PRODUCT_ACTIVE:
            raise DataError(
                f"State must be equal to 'Active' in Dataverse product {label}. Current value is "
                f"'{PRODUCT_STATES.get(state, state)}'.",
                remedy=f"Activate the product {label} in Dynamics 365 Sales, then process it again.",
            )
        kind = int(number(product.fields.get("producttypecode")))
        if kind not in PRODUCT_TYPES:
            raise DataError(f"Unexpected value of product type code {kind} of Dataverse product {label}.")
        line_type, mapping, what = PRODUCT_TYPES[kind]
        coupling = self.ctx.stores.couplings.get_by_crm(mapping, product.id)
        if coupling is None or coupling.state != "coupled":
            raise DataError(
                f"The Dataverse product {label} is not coupled to {what}.",
                remedy=f'Couple it or synchronize it (python -m sync_core run "{mapping}"), then process '
                "the document again.",
            )
        return self._bc_product(line_type, coupling.bc_id, vat_bus_group)

    def _write_in(self, doc: CrmDocument) -> LineProduct:
        setup = self.setup()
        number_ = str(setup.get("writeInProductNo") or "")
        if not number_:
            raise DataError(
                f"Dataverse {document_word(doc)} {doc.number} contains a write-in product. You must choose "
                "the default write-in product in Sales & Receivables Setup window.",
                remedy="Set Write-in Product No. in Sales & Receivables Setup in BC, then process it again.",
            )
        line_type = str(setup.get("writeInProductType") or "Item")
        rows = list(self.ctx.bc.list_rows(PRODUCT_SETS[line_type], eq("number", number_)))
        row = rows[0] if rows else {}
        description = str(row.get("description") or row.get("name") or "")
        return LineProduct(line_type, number_, description, write_in=True)

    def _bc_product(self, line_type: str, bc_id: str, vat_bus_group: str) -> LineProduct:
        row = self.ctx.bc.get(PRODUCT_SETS[line_type], bc_id)
        if row is None:
            raise DataError(f"The coupled {line_type.lower()} {bc_id} no longer exists in Business Central.")
        f = row.fields
        return LineProduct(
            type=line_type,
            number=str(f.get("number") or ""),
            description=str(f.get("description") or f.get("name") or ""),
            price_includes_vat=bool(f.get("priceIncludesVat")),
            vat_bus_posting_gr_price=str(f.get("vatBusPostingGrPrice") or ""),
            vat_percent=self.vat_percent(vat_bus_group, str(f.get("vatProdPostingGroup") or "")),
        )

    def vat_percent(self, bus_group: str, prod_group: str) -> float:
        """VAT % of the pair (BC's VAT Posting Setup; the small table is cached with the reference data)."""
        if not bus_group or not prod_group or self.ctx.reference is None:
            return 0.0
        for row in self.ctx.reference.rows("vatPostingSetups"):
            if (row.get("vatBusPostingGroup"), row.get("vatProdPostingGroup")) == (bus_group, prod_group):
                return number(row.get("vatPercent"))
        return 0.0

    def freight_account(self, doc: CrmDocument) -> str:
        account = str(self.setup().get("freightGlAccountNo") or "")
        if not account:
            raise DataError(
                "Freight G/L Acc. No. must have a value in Sales & Receivables Setup: Primary Key=. "
                "It cannot be zero or empty.",
                remedy=f"Set Freight G/L Acc. No. in BC, then process Dataverse {document_word(doc).lower()} "
                f"{doc.number} again.",
            )
        return account
