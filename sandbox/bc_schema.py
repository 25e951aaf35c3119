"""Entity sets of the BC emulator: API v2.0 (api-facts §E.2/§E.3) and the companion API.

A view maps API fields onto a stored table; several views may share one table (v2.0 ``customers``
and companion ``integrationCustomers`` are the same rows). Field spec mini-language:
``api[=stored][:flag]...`` with flags ``ro`` (read-only), ``n`` number, ``b`` boolean, ``d`` date,
``g`` GUID, ``c`` code (upper-cased on write), an integer max length, ``rel(table)`` (the code must
exist in that table), ``link(table)`` (a GUID shown for the code stored in ``stored``),
``get(name)`` (computed, read-only), ``enum(A|B)`` (``_`` = a blank option ``" "``), ``t`` a
UTC datetime and ``map(A=x|B=y)`` (an option whose API caption differs from the stored one: API
``A`` is stored ``x``; a stored value may be shown by several pairs, the first wins).
A view may show only some rows of its table (``where``: the stored ``documentType`` values);
the sales-document views are declared in :mod:`sandbox.bc_documents_schema`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sandbox.bc_documents_schema import (
    COMPANION_DOCUMENT_VIEWS,
    DOCUMENT_KEYS,
    DOCUMENT_NESTED_ONLY,
    DOCUMENT_SERIES,
    DOCUMENT_TABLES,
    V2_DOCUMENT_VIEWS,
)

V2 = "v2.0"
COMPANION = "bcsync/integration/v1.0"

# table -> (code field used by links/relations, BC table caption, caption of the code field)
TABLES = {
    "customer": ("number", "Customer", "No."),
    "contact": ("number", "Contact", "No."),
    "item": ("number", "Item", "No."),
    "unitOfMeasure": ("code", "Unit of Measure", "Code"),
    "currency": ("code", "Currency", "Code"),
    "salesperson": ("code", "Salesperson/Purchaser", "Code"),
    "paymentTerms": ("code", "Payment Terms", "Code"),
    "shipmentMethod": ("code", "Shipment Method", "Code"),
    "shippingAgent": ("code", "Shipping Agent", "Code"),
    "vendor": ("number", "Vendor", "No."),
    "resource": ("number", "Resource", "No."),
    "customerPriceGroup": ("code", "Customer Price Group", "Code"),
    "salesPrice": ("", "Sales Price", ""),
    "opportunity": ("number", "Opportunity", "No."),
    "currencyExchangeRate": ("", "Currency Exchange Rate", ""),
    "postedSalesInvoice": ("number", "Sales Invoice Header", "No."),
    "postedSalesInvoiceLine": ("", "Sales Invoice Line", ""),
    "integrationSetup": ("", "Integration Setup", ""),
    "itemAvailability": ("", "Item Availability by Location", ""),
    "company": ("name", "Company", "Name"),
    **DOCUMENT_TABLES,
}
# table -> stored fields forming the primary key besides the code field
COMPOSITE_KEYS = {
    "salesPrice": (
        "itemNo",
        "salesType",
        "salesCode",
        "startingDate",
        "currencyCode",
        "unitOfMeasureCode",
        "minimumQuantity",
    ),
    "currencyExchangeRate": ("currencyCode", "startingDate"),
    "itemAvailability": ("itemNo", "locationCode"),
    **DOCUMENT_KEYS,
}
NUMBER_SERIES = {
    "customer": ("C{:05d}", 10, 10),
    "contact": ("CT{:06d}", 1, 1),
    "item": ("{:d}", 70000, 10),
    "resource": ("R{:04d}", 10, 10),
    "opportunity": ("OP{:06d}", 1, 1),
    "salesOrder": ("S-ORD{:06d}", 101001, 1),
    "salesQuote": ("S-QUO{:05d}", 10001, 1),
    "salesInvoice": ("S-INV{:06d}", 102001, 1),
    "postedSalesInvoice": ("{:d}", 103001, 1),
    **DOCUMENT_SERIES,
}


@dataclass(frozen=True)
class BcField:
    api: str
    stored: str
    kind: str = "s"  # s n b d g t
    read_only: bool = False
    code: bool = False
    max_len: int | None = None
    rel: str | None = None
    link: str | None = None
    getter: str | None = None
    enum: tuple[str, ...] | None = None
    mapping: tuple[tuple[str, str], ...] | None = None  # (API caption, stored value) pairs

    @property
    def default(self) -> object:
        if self.enum:
            return self.enum[0]
        return {
            "n": 0,
            "b": False,
            "d": "0001-01-01",
            "t": "0001-01-01T00:00:00Z",
            "g": "00000000-0000-0000-0000-000000000000",
        }.get("g" if self.link else self.kind, "")

    def to_stored(self, value: object) -> object:
        if self.mapping is None:
            return value
        return next((stored for api, stored in self.mapping if api == value), value)

    def to_api(self, value: object) -> object:
        if self.mapping is None:
            return value
        return next((api for api, stored in self.mapping if stored == value), value)


@dataclass(frozen=True)
class BcView:
    name: str
    table: str
    api: str
    fields: tuple[BcField, ...]
    nav: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (child view, fk)
    single_nav: dict[str, str] = field(default_factory=dict)  # name -> view sharing the id
    get_only: bool = False
    scoped: bool = True
    entity_type: str = ""
    where: tuple[str, ...] = ()  # the stored documentType values the view shows (all when empty)
    order: tuple[str, ...] = ()  # default $orderby (BC's primary key) when not the usual one
    patch: bool = True  # False: POST, GET and DELETE only

    @property
    def by_api(self) -> dict[str, BcField]:
        return {f.api: f for f in self.fields}

    @property
    def names(self) -> frozenset[str]:
        return frozenset(f.api for f in self.fields)

    def shows(self, row: dict) -> bool:
        return not self.where or row.get("documentType") in self.where


def parse_field(spec: str) -> BcField:
    head, *flags = re.split(r":(?![^(]*\))", spec)
    api, _, stored = head.partition("=")
    kw: dict[str, object] = {}
    for flag in flags:
        if flag == "ro":
            kw["read_only"] = True
        elif flag in ("n", "b", "d", "g", "t"):
            kw["kind"] = flag
        elif flag == "c":
            kw["code"] = True
        elif flag.isdigit():
            kw["max_len"] = int(flag)
        elif flag.startswith("map("):
            pairs = tuple(tuple(_caption(v) for v in p.split("=", 1)) for p in flag[4:-1].split("|"))
            kw["mapping"] = pairs
            kw["enum"] = tuple(dict.fromkeys(api for api, _ in pairs))
        elif flag.startswith(("rel(", "link(", "get(", "enum(")):
            name, arg = flag[:-1].split("(", 1)
            kw[name if name != "get" else "getter"] = (
                tuple(_caption(v) for v in arg.split("|")) if name == "enum" else arg
            )
        else:
            raise ValueError(f"unknown flag {flag!r} in {spec!r}")
    if kw.get("getter"):
        kw["read_only"] = True
    return BcField(api, stored or api, **kw)  # type: ignore[arg-type]


def _caption(value: str) -> str:
    """Enum spelling in the spec -> BC caption (``_`` or ``_x0020_`` = space)."""
    return " " if value == "_" else value.replace("_x0020_", " ")


def view(name: str, table: str, specs: str, api: str = V2, **kw: object) -> BcView:
    base = ["id:g:ro", "lastModifiedDateTime:ro"] if kw.pop("system", True) else []
    fields = tuple(parse_field(s) for s in base + specs.split())
    return BcView(name, table, api, fields, entity_type=kw.pop("entity_type", name[:-1]), **kw)  # type: ignore[arg-type]


ADDR_V2 = (
    "addressLine1=address:100 addressLine2=address2:50 city:30 state=county:30 "
    "country=countryRegionCode:c:10 postalCode=postCode:c:20"
)
ADDR_C = "address:100 address2:50 postCode:c:20 city:30 countryRegionCode:c:10 county:30"
C_CODE = "code:c:10"

VIEWS_LIST = [
    view(
        "companies",
        "company",
        "systemVersion:ro name:ro:30 displayName:ro:250 "
        "businessProfileId:ro systemCreatedAt:ro systemModifiedAt:ro",
        scoped=False,
        get_only=True,
        entity_type="company",
    ),
    view(
        "customers",
        "customer",
        f"number:c:20 displayName=name:100 type:enum(Company|Person) {ADDR_V2} phoneNumber=phoneNo:30 "
        "email:80 website=homePage:80 salespersonCode:c:20:rel(salesperson) balanceDue=balance:n:ro "
        "creditLimit=creditLimitLcy:n taxLiable:b taxAreaId:g taxAreaDisplayName:ro "
        "taxRegistrationNumber:20 currencyId=currencyCode:link(currency) "
        "currencyCode:c:10:rel(currency) paymentTermsId=paymentTermsCode:link(paymentTerms) "
        "shipmentMethodId=shipmentMethodCode:link(shipmentMethod) paymentMethodId:g "
        "blocked:enum(_|Ship|Invoice|All)",
        single_nav={"customerFinancialDetail": "customerFinancialDetails"},
    ),
    view(
        "customerFinancialDetails",
        "customer",
        "id:g:ro number:ro balance:n:ro totalSalesExcludingTax=totalSales:n:ro overdueAmount:n:ro",
        get_only=True,
        system=False,
        entity_type="customerFinancialDetail",
    ),
    view(
        "contacts",
        "contact",
        f"number:c:20 type:enum(Company|Person) displayName=name:100 jobTitle:30 "
        f"companyNumber=companyNo:c:20:rel(contact) companyName:get(company_name) "
        f"contactBusinessRelation:get(business_relation) {ADDR_V2} phoneNumber=phoneNo:30 "
        "mobilePhoneNumber=mobilePhoneNo:30 email:80 website=homePage:80 searchName:get(search_name) "
        "privacyBlocked:b taxRegistrationNumber:20 lastInteractionDate:d:ro",
    ),
    view(
        "items",
        "item",
        "number:c:20 displayName=description:100 displayName2=description2:50 "
        "type:enum(Inventory|Service|Non-Inventory) itemCategoryId:g itemCategoryCode:c:20 blocked:b "
        "gtin:14 inventory:n:ro unitPrice:n priceIncludesTax:b unitCost:n taxGroupId:g "
        "taxGroupCode:c:20 baseUnitOfMeasureId=baseUnitOfMeasure:link(unitOfMeasure) "
        "baseUnitOfMeasureCode=baseUnitOfMeasure:c:10:rel(unitOfMeasure) "
        "generalProductPostingGroupId:g generalProductPostingGroupCode:c:20 "
        "inventoryPostingGroupId:g inventoryPostingGroupCode:c:20",
    ),
    view(
        "unitsOfMeasure",
        "unitOfMeasure",
        f"{C_CODE} displayName=description:50 internationalStandardCode:c:10 symbol:10",
        entity_type="unitOfMeasure",
    ),
    view(
        "currencies",
        "currency",
        f"{C_CODE} displayName=description:30 symbol:10 amountDecimalPlaces:5 amountRoundingPrecision:n",
        entity_type="currency",
    ),
    view(
        "salespeoplePurchasers",
        "salesperson",
        "code:c:20 displayName=name:50 email:80 email2:80 phoneNo:30 jobTitle:30 commisionPercent:n "
        "privacyBlocked:b blocked:b",
        entity_type="salespersonPurchaser",
    ),
    view(
        "paymentTerms",
        "paymentTerms",
        f"{C_CODE} displayName=description:100 "
        "dueDateCalculation:32 discountDateCalculation:32 discountPercent:n "
        "calculateDiscountOnCreditMemos:b",
        entity_type="paymentTerm",
    ),
    view("shipmentMethods", "shipmentMethod", f"{C_CODE} displayName=description:100"),
    view("vendors", "vendor", "number:c:20 displayName=name:100 blocked:10", entity_type="vendor"),
    *(view(name, table, specs, **kw) for name, table, specs, kw in V2_DOCUMENT_VIEWS),
    # -- companion API (bc-companion-api.md) --
    view(
        "integrationCustomers",
        "customer",
        f"number:c:20 name:100 contact:100 {ADDR_C} currencyCode:c:10:rel(currency) email:80 "
        "faxNo:30 homePage:80 phoneNo:30 mobilePhoneNo:30 "
        "shipmentMethodCode:c:10:rel(shipmentMethod) shippingAgentCode:c:10:rel(shippingAgent) "
        "paymentTermsCode:c:10:rel(paymentTerms) creditLimitLcy:n primaryContactNo:c:20:rel(contact) "
        "salespersonCode:c:20:rel(salesperson) blocked:enum(_|Ship|Invoice|All) companyContactNo:ro "
        "vatBusPostingGroup:c:20",
        api=COMPANION,
        entity_type="integrationCustomer",
    ),
    view(
        "integrationContacts",
        "contact",
        f"number:c:20 type:enum(Company|Person) companyNo:c:20:rel(contact) "
        f"companyName:get(company_name) name:100 firstName:30 middleName:30 surname:30 {ADDR_C} "
        "currencyCode:c:10:rel(currency) email:80 faxNo:30 homePage:80 mobilePhoneNo:30 pager:30 "
        "phoneNo:30 salespersonCode:c:20:rel(salesperson) salutationCode:c:10 "
        "businessRelation:get(business_relation) relatedCustomerNo:get(related_customer)",
        api=COMPANION,
        entity_type="integrationContact",
    ),
    view(
        "integrationItems",
        "item",
        "number:c:20 description:100 unitPrice:n unitCost:n unitVolume:n grossWeight:n "
        "vendorNo:c:20 vendorItemNo:50 inventory:n:ro baseUnitOfMeasure:c:10:rel(unitOfMeasure) "
        "blocked:b priceIncludesVat=priceIncludesTax:b vatBusPostingGrPrice:c:20 vatProdPostingGroup:c:20",
        api=COMPANION,
        entity_type="integrationItem",
    ),
    view(  # extension 1.1: one row per item and location, read-only
        "itemAvailability",
        "itemAvailability",
        "itemId=itemNo:link(item) itemNo:c:20:rel(item) locationCode:c:10 inventory:n "
        "qtyOnSalesOrders:n:get(qty_on_sales_orders) qtyOnPurchOrders:n "
        "availableQuantity:n:get(available_quantity)",
        api=COMPANION,
        get_only=True,
        entity_type="itemAvailability",
    ),
    view(
        "resources",
        "resource",
        "number:c:20 name:100 type:enum(Person|Machine) baseUnitOfMeasure:c:10:rel(unitOfMeasure) "
        "unitPrice:n unitCost:n vendorNo:c:20 capacity:n:ro blocked:b",
        api=COMPANION,
    ),
    view("customerPriceGroups", "customerPriceGroup", f"{C_CODE} description:100", api=COMPANION),
    view(
        "salesPrices",
        "salesPrice",
        "itemNo:c:20:rel(item) salesType:enum(Customer|Customer_x0020_Price_x0020_Group|"
        "All_x0020_Customers|Campaign) salesCode:c:20 currencyCode:c:10:rel(currency) startingDate:d "
        "unitOfMeasureCode:c:10:rel(unitOfMeasure) minimumQuantity:n unitPrice:n",
        api=COMPANION,
    ),
    view(
        "opportunities",
        "opportunity",
        "number:c:20 description:100 contactNo:c:20:rel(contact) contactCompanyNo:c:20:rel(contact) "
        "salespersonCode:c:20:rel(salesperson) "
        "status:enum(Not_x0020_Started|In_x0020_Progress|Won|Lost) estimatedValueLcy:n "
        "estimatedClosingDate:d dateClosed:d probability:n currentValueLcy:n:ro",
        api=COMPANION,
        entity_type="opportunity",
    ),
    view("shippingAgents", "shippingAgent", f"{C_CODE} name:50", api=COMPANION),
    view(
        "currencyExchangeRates",
        "currencyExchangeRate",
        "currencyCode:c:10:rel(currency) startingDate:d exchangeRateAmount:n relationalExchangeRateAmount:n",
        api=COMPANION,
    ),
    *(view(name, table, specs, api=COMPANION, **kw) for name, table, specs, kw in COMPANION_DOCUMENT_VIEWS),
    view(
        "integrationSetup",
        "integrationSetup",
        "lcyCode:c:10 writeInProductType:enum(Item|Resource) writeInProductNo:c:20 "
        "freightGlAccountNo:c:20 salesOrderIntegration:b autoCreateSalesOrders:b autoProcessQuotes:b",
        api=COMPANION,
        get_only=True,
    ),
]
VIEWS: dict[str, BcView] = {v.name: v for v in VIEWS_LIST}
# sets that are only reachable through their parent's navigation (not listed on their own)
NESTED_ONLY = set(DOCUMENT_NESTED_ONLY)
