"""BC's default integration table mappings (bc-integration-behaviour §2-§3) as the catalog declares them.

Each mapping's table settings and field mappings are written out here as BC shows them, and every
BC field and Dataverse attribute a mapping names is checked against the emulators' schemas (a name
they do not know would be a 400 from the real APIs too).
Directions: B = bidirectional, TO = to-dataverse (BC's ToIntegrationTable), FROM = to-bc.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from sandbox.bc_emulator import BcEmulator
from sandbox.bc_schema import VIEWS
from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.dataverse_schema import ENTITIES, LOGICAL_TO_SET
from sandbox.odata.filter import evaluate, fields_in, parse_filter
from sync_core.mapping.catalog import default_catalog, load_catalog
from sync_core.mapping.model import FieldMapping, IntegrationTableMapping

B, TO, FROM = "bidirectional", "to-dataverse", "to-bc"
DIRECTIONS = {"B": B, "TO": TO, "FROM": FROM}


def fields(*tables: str) -> tuple[tuple[str, str, str, bool], ...]:
    """Rows ``<BC field or -> <Dataverse attribute> <B|TO|FROM> [off]`` -> (bc, crm, direction, enabled)."""
    rows = []
    for line in "\n".join(tables).splitlines():
        if not line.split("#")[0].strip():
            continue
        bc, crm, direction, *rest = line.split("#")[0].split()
        rows.append(("" if bc == "-" else bc, crm, DIRECTIONS[direction], rest != ["off"]))
    return tuple(rows)


@dataclass(frozen=True)
class Expected:
    bc_entity: str
    crm_entity: str
    direction: str
    fields: tuple[tuple[str, str, str, bool], ...]  # (BC field, Dataverse attribute, direction, enabled)
    table_filter: str = ""
    integration_table_filter: str = ""
    synch_only_coupled: bool = True
    dependencies: tuple[str, ...] = ()
    interval: int = 30
    inactivity: int = 720
    scheduled: bool = True
    timer: str = ""
    hooks: tuple[str, ...] = ()


# Person ownership: Salesperson Code -> ownerid; BC's constant owneridtype = systemuser is the
# bind's target (/systemusers(<id>)), so it has no row. A "-" BC field is a constant.
OWNER = "salespersonCode  _ownerid_value  TO"
ADDRESS = """
address            address1_line1            B
address2           address1_line2            B
postCode           address1_postalcode       B
city               address1_city             B
countryRegionCode  address1_country          B
county             address1_stateorprovince  B
"""
SHIP_TO = """
shipToName               shipto_name              TO
shipToAddress            shipto_line1             TO
shipToAddress2           shipto_line2             TO
shipToCity               shipto_city              TO
shipToCountryRegionCode  shipto_country           TO
shipToPostCode           shipto_postalcode        TO
shipToCounty             shipto_stateorprovince   TO
"""
BILL_TO = SHIP_TO.replace("shipTo", "billTo").replace("shipto_", "billto_")

# fmt: off
EXPECTED: dict[str, Expected] = {
    "SALESPEOPLE": Expected("salespeoplePurchasers", "systemusers", FROM, fields("""
        email         internalemailaddress  FROM
        displayName   fullname              FROM
        phoneNo       mobilephone           FROM
        jobTitle      jobtitle              FROM  off  # extra; B in BC, only ever From in a From mapping
        email2        personalemailaddress  FROM  off  # extra
        """),
        integration_table_filter="isdisabled eq false and islicensed eq true and isintegrationuser eq false",
        inactivity=1440, hooks=("salesperson-code",),
    ),
    "CURRENCY": Expected("currencies", "transactioncurrencies", TO, fields("""
        code          isocurrencycode       TO
        symbol        currencysymbol        TO
        displayName   currencyname          TO
        """),
        hooks=("currency-exchange-rate",),
    ),
    "UNIT OF MEASURE": Expected("unitsOfMeasure", "uomschedules", TO, fields("""
        code          baseuomname           TO
        code          name                  TO   # "NAV <code>" (hook), the match field
        """),
        timer="sync_unit_of_measure", hooks=("unit-of-measure-schedule-name",),
    ),
    "PAYMENT TERMS": Expected("paymentTerms", "accounts.paymenttermscode", TO, fields("code label TO"),
                              inactivity=1440),
    "SHIPMENT METHOD": Expected("shipmentMethods", "accounts.address1_freighttermscode", TO,
                                fields("code label TO"), inactivity=1440),
    "SHIPPING AGENT": Expected("shippingAgents", "accounts.address1_shippingmethodcode", TO,
                               fields("code label TO"), inactivity=1440),
    "CUSTOMER": Expected("integrationCustomers", "accounts", B, fields(OWNER, ADDRESS, """
        name                name                           B
        contact             address1_primarycontactname    B
        currencyCode        _transactioncurrencyid_value   B
        email               emailaddress1                  B
        faxNo               fax                            B
        homePage            websiteurl                     B
        phoneNo             telephone1                     B
        shipmentMethodCode  address1_freighttermscode      B
        shippingAgentCode   address1_shippingmethodcode    B
        paymentTermsCode    paymenttermscode               B
        creditLimitLcy      creditlimit                    TO
        primaryContactNo    _primarycontactid_value        B
        -                   customertypecode               TO        # CRM template BCICUSTOME, on insert
        number              accountnumber                  TO   off  # extra
        mobilePhoneNo       telephone2                     B    off  # extra
        """),
        table_filter="blocked eq ' '",
        integration_table_filter="statecode eq 0 and customertypecode eq 3",
        dependencies=("SALESPEOPLE", "CURRENCY", "PAYMENT TERMS", "SHIPMENT METHOD", "SHIPPING AGENT"),
        hooks=("customer-inactive-blocked",),
    ),
    "CONTACT": Expected("integrationContacts", "contacts", B, fields(OWNER, ADDRESS, """
        currencyCode       _transactioncurrencyid_value   B
        email              emailaddress1                  B
        faxNo              fax                            B
        firstName          firstname                      B
        middleName         middlename                     B
        surname            lastname                       B
        homePage           websiteurl                     B
        mobilePhoneNo      mobilephone                    B
        pager              pager                          B
        phoneNo            telephone1                     B
        relatedCustomerNo  _parentcustomerid_value        TO        # hard-coded parent account
        salutationCode     salutation                     B    off  # extra
        """),
        # BC's post-filter (company without a customer relation: ignored) is relatedCustomerNo ne ''
        table_filter="type eq 'Person' and companyNo ne '' and relatedCustomerNo ne ''",
        integration_table_filter="_parentcustomerid_value ne null and statecode eq 0",
        dependencies=("CUSTOMER",),
        hooks=("contact-type-person", "contact-customer-company", "contact-company-from-account"),
    ),
    "ITEM-PRODUCT": Expected("integrationItems", "products", B, fields("""
        number             productnumber                  TO
        description        name                           B
        unitPrice          price                          TO
        unitCost           standardcost                   TO
        unitCost           currentcost                    TO
        unitVolume         stockvolume                    TO
        grossWeight        stockweight                    TO
        vendorNo           vendorid                       TO
        vendorItemNo       vendorpartnumber               TO
        inventory          quantityonhand                 TO
        baseUnitOfMeasure  _defaultuomscheduleid_value    B
        baseUnitOfMeasure  _defaultuomid_value            TO   # hard-coded: its base unit
        -                  producttypecode                TO   # hard-coded: SalesInventory
        -                  quantitydecimal                TO   # hard-coded: 2 on insert
        -                  _transactioncurrencyid_value   TO   # hard-coded: LCY on insert
        """),
        table_filter="blocked eq false",
        integration_table_filter="producttypecode eq 1 and statecode eq 0",
        dependencies=("UNIT OF MEASURE",), inactivity=1440, timer="sync_item_product",
        hooks=(
            "item-write-in-excluded",
            "product-negative-to-zero",
            "product-blocked-state",
            "product-vendor-name",
        ),
    ),
    "RESOURCE-PRODUCT": Expected("resources", "products", B, fields("""
        number             productnumber                  TO
        name               name                           B
        unitPrice          price                          TO
        unitCost           standardcost                   TO
        unitCost           currentcost                    TO
        vendorNo           vendorid                       TO
        capacity           quantityonhand                 TO
        baseUnitOfMeasure  _defaultuomscheduleid_value    TO   # hard-coded in classic mode
        baseUnitOfMeasure  _defaultuomid_value            TO   # hard-coded: its base unit
        -                  producttypecode                TO   # hard-coded: Services
        -                  quantitydecimal                TO
        -                  _transactioncurrencyid_value   TO
        """),
        table_filter="blocked eq false",
        integration_table_filter="producttypecode eq 3 and statecode eq 0",
        dependencies=("UNIT OF MEASURE",),
        hooks=(
            "resource-write-in-excluded",
            "product-negative-to-zero",
            "product-blocked-state",
            "product-vendor-name",
        ),
    ),
    "CUSTPRCGRP-PRICE": Expected("customerPriceGroups", "pricelevels", TO, fields("""
        code         name                           TO
        description  description                    TO   # hard-coded in BC
        code         _transactioncurrencyid_value   TO   # the group's prices' currency (hook)
        """),
        dependencies=("CURRENCY", "ITEM-PRODUCT"), inactivity=1440, hooks=("price-group-currency",),
    ),
    "SALESPRC-PRODPRICE": Expected("salesPrices", "productpricelevels", TO, fields("""
        salesCode     _pricelevelid_value            TO
        itemNo        _productid_value               TO
        currencyCode  _transactioncurrencyid_value   TO
        -             pricingmethodcode              TO
        unitPrice     amount                         TO
        unitOfMeasureCode  _uomid_value              TO   # hard-coded: the unit's base unit
        unitOfMeasureCode  _uomscheduleid_value      TO   # hard-coded
        """),
        table_filter="salesType eq 'Customer Price Group' and salesCode ne ''",
        synch_only_coupled=False, dependencies=("CUSTPRCGRP-PRICE", "ITEM-PRODUCT"), inactivity=1440,
        hooks=("sales-price-unit-of-measure",),
    ),
    "OPPORTUNITY": Expected("opportunities", "opportunities", B, fields(OWNER, """
        description           name                     B
        contactNo             _parentcontactid_value   TO
        contactCompanyNo      _parentaccountid_value   TO
        estimatedValueLcy     estimatedvalue           TO
        estimatedClosingDate  estimatedclosedate       TO
        dateClosed            actualclosedate          TO   off  # extra
        probability           closeprobability         TO   off  # extra
        currentValueLcy       actualvalue              TO   off  # extra
        """),
        table_filter="status eq 'Not Started' or status eq 'In Progress'",
        synch_only_coupled=False, dependencies=("CONTACT",), scheduled=False,
        hooks=("opportunity-parent-account",),
    ),
    "POSTEDSALESINV-INV": Expected("postedSalesInvoices", "invoices", TO, fields(OWNER, SHIP_TO, BILL_TO, """
        number                 invoicenumber                  TO
        currencyCode           _transactioncurrencyid_value   TO
        dueDate                duedate                        TO
        shipmentDate           datedelivered                  TO
        amount                 totalamountlessfreight         TO
        amountIncludingVat     totalamount                    TO
        invoiceDiscountAmount  discountamount                 TO
        shippingAgentCode      shippingmethodcode             TO
        paymentTermsCode       paymenttermscode               TO
        workDescription        description                    TO
        sellToCustomerNo       _customerid_value              TO   # §6.1, before insert
        """),
        dependencies=("ITEM-PRODUCT", "RESOURCE-PRODUCT", "OPPORTUNITY"), inactivity=1440,
        timer="sync_postedsalesinv_inv", hooks=("invoice-shipment-method-description",),
    ),
    "POSTEDSALESLINE-INV": Expected("postedSalesInvoiceLines", "invoicedetails", TO, fields("""
        quantity            quantity               TO
        lineDiscountAmount  manualdiscountamount   TO
        unitPrice           priceperunit           TO
        -                   ispriceoverridden      TO
        amount              baseamount             TO
        amountIncludingVat  extendedamount         TO
        """),
        synch_only_coupled=False, dependencies=("POSTEDSALESINV-INV",), scheduled=False,
    ),
    "SALESORDER-ORDER": Expected("salesOrders", "salesorders", TO, fields("""
        number                   ordernumber                    TO
        salesperson              _ownerid_value                 TO
        currencyCode             _transactioncurrencyid_value   TO
        shipToName               shipto_name                    TO
        shipToAddressLine1       shipto_line1                   TO
        shipToAddressLine2       shipto_line2                   TO
        shipToCity               shipto_city                    TO
        shipToCountry            shipto_country                 TO
        shipToPostCode           shipto_postalcode              TO
        shipToState              shipto_stateorprovince         TO
        billToName               billto_name                    TO
        billToAddressLine1       billto_line1                   TO
        billToAddressLine2       billto_line2                   TO
        billToCity               billto_city                    TO
        billToCountry            billto_country                 TO
        billToPostCode           billto_postalcode              TO
        billToState              billto_stateorprovince         TO
        totalAmountExcludingTax  totalamountlessfreight         TO
        totalAmountIncludingTax  totalamount                    TO
        discountAmount           discountamount                 TO
        requestedDeliveryDate    requestdeliveryby              TO
        """),
        table_filter="status eq 'Open'",  # v2.0 "Open" is BC's Released
        dependencies=("ITEM-PRODUCT", "RESOURCE-PRODUCT", "OPPORTUNITY"),
    ),
}
# fmt: on


# (mapping, Dataverse attribute) -> what else the field mapping declares
FIELD_FLAGS: dict[tuple[str, str], dict[str, Any]] = {
    **{
        (m, "_ownerid_value"): {"lookup": "SALESPEOPLE", "not_null": True, "crm_write": "ownerid@odata.bind"}
        for m in ("CUSTOMER", "CONTACT", "OPPORTUNITY", "POSTEDSALESINV-INV", "SALESORDER-ORDER")
    },
    **{
        (m, "_transactioncurrencyid_value"): {"lookup": "CURRENCY"}
        for m in ("CUSTOMER", "CONTACT", "SALESPRC-PRODPRICE", "POSTEDSALESINV-INV", "SALESORDER-ORDER")
    },
    ("CURRENCY", "isocurrencycode"): {"match": True},
    ("SALESPEOPLE", "internalemailaddress"): {"match": True},  # ours: couple by e-mail, never duplicate
    ("UNIT OF MEASURE", "name"): {"match": True},
    ("PAYMENT TERMS", "label"): {"match": True},
    ("SHIPMENT METHOD", "label"): {"match": True},
    ("SHIPPING AGENT", "label"): {"match": True},
    ("CUSTOMER", "paymenttermscode"): {"option_map": "PAYMENT TERMS"},
    ("CUSTOMER", "address1_freighttermscode"): {"option_map": "SHIPMENT METHOD"},
    ("CUSTOMER", "address1_shippingmethodcode"): {"option_map": "SHIPPING AGENT"},
    ("POSTEDSALESINV-INV", "paymenttermscode"): {"option_map": "PAYMENT TERMS"},
    ("POSTEDSALESINV-INV", "shippingmethodcode"): {"option_map": "SHIPPING AGENT"},
    ("CUSTOMER", "_primarycontactid_value"): {"lookup": "CONTACT", "clear_on_failed": True},
    ("CUSTOMER", "customertypecode"): {"constant": 3, "on_insert_only": True},
    ("CONTACT", "_parentcustomerid_value"): {
        "lookup": "CUSTOMER",
        "crm_write": "parentcustomerid_account@odata.bind",
    },
    ("ITEM-PRODUCT", "_defaultuomscheduleid_value"): {"lookup": "UNIT OF MEASURE"},
    **{
        (m, "_defaultuomid_value"): {"lookup": "UNIT OF MEASURE", "base_unit": True}
        for m in ("ITEM-PRODUCT", "RESOURCE-PRODUCT")
    },
    ("RESOURCE-PRODUCT", "_defaultuomscheduleid_value"): {"lookup": "UNIT OF MEASURE"},
    ("ITEM-PRODUCT", "producttypecode"): {"constant": 1, "on_insert_only": False},
    ("RESOURCE-PRODUCT", "producttypecode"): {"constant": 3, "on_insert_only": False},
    **{
        (m, "quantitydecimal"): {"constant": 2, "on_insert_only": True}
        for m in ("ITEM-PRODUCT", "RESOURCE-PRODUCT")
    },
    **{
        (m, "_transactioncurrencyid_value"): {"constant": "", "lookup": "CURRENCY", "on_insert_only": True}
        for m in ("ITEM-PRODUCT", "RESOURCE-PRODUCT")
    },
    ("CUSTPRCGRP-PRICE", "_transactioncurrencyid_value"): {"lookup": "CURRENCY", "on_insert_only": True},
    ("SALESPRC-PRODPRICE", "_pricelevelid_value"): {"lookup": "CUSTPRCGRP-PRICE", "match": True},
    ("SALESPRC-PRODPRICE", "_productid_value"): {"lookup": "ITEM-PRODUCT", "match": True},
    ("SALESPRC-PRODPRICE", "_uomid_value"): {"lookup": "UNIT OF MEASURE", "base_unit": True, "match": True},
    ("SALESPRC-PRODPRICE", "_uomscheduleid_value"): {"lookup": "UNIT OF MEASURE"},
    ("SALESPRC-PRODPRICE", "pricingmethodcode"): {"constant": 1},
    ("OPPORTUNITY", "_parentcontactid_value"): {"lookup": "CONTACT"},
    ("OPPORTUNITY", "_parentaccountid_value"): {"lookup": "CUSTOMER"},
    ("POSTEDSALESINV-INV", "_customerid_value"): {
        "lookup": "CUSTOMER",
        "crm_write": "customerid_account@odata.bind",
        "on_insert_only": True,
    },
    ("POSTEDSALESLINE-INV", "ispriceoverridden"): {"constant": True},
    # BC's ExternalAccess of the proxy tables' columns: Insert = create only, Modify = update only
    ("POSTEDSALESINV-INV", "invoicenumber"): {"crm_access": "insert"},
    ("POSTEDSALESINV-INV", "totalamountlessfreight"): {"crm_access": "modify"},
    ("POSTEDSALESINV-INV", "totalamount"): {"crm_access": "modify"},
    ("POSTEDSALESLINE-INV", "baseamount"): {"crm_access": "modify"},
    ("SALESORDER-ORDER", "totalamountlessfreight"): {"crm_access": "modify"},
    ("SALESORDER-ORDER", "totalamount"): {"crm_access": "modify"},
    ("POSTEDSALESLINE-INV", "extendedamount"): {"crm_access": "modify"},
}

BC_CODE_FIELDS = {
    "CURRENCY": "code",
    "SALESPEOPLE": "code",
    "UNIT OF MEASURE": "code",
    "PAYMENT TERMS": "code",
    "SHIPMENT METHOD": "code",
    "SHIPPING AGENT": "code",
    "CUSTOMER": "number",
    "CONTACT": "number",
    "ITEM-PRODUCT": "number",
    "RESOURCE-PRODUCT": "number",
    "CUSTPRCGRP-PRICE": "code",
    "OPPORTUNITY": "number",
    "POSTEDSALESINV-INV": "number",
}

# BC fields and Dataverse attributes that hooks write (must exist and be writable too)
HOOK_WRITES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "product-blocked-state": (("blocked",), ("statecode", "statuscode")),
    "customer-inactive-blocked": (("blocked",), ()),
    "contact-type-person": (("type",), ()),
    "contact-company-from-account": (("companyNo",), ()),
    "product-vendor-name": ((), ("vendorname",)),
    "salesperson-code": (("code",), ()),
    "currency-exchange-rate": ((), ("exchangerate", "currencyprecision")),
    "invoice-shipment-method-description": ((), ("description",)),
}

# Dataverse attributes whose value (a BC code, before the lookup) a hook replaces
HOOK_REWRITES = {
    "opportunity-parent-account": "_parentaccountid_value",  # contact company -> its customer
    "price-group-currency": "_transactioncurrencyid_value",  # group code -> its prices' currency
    "unit-of-measure-schedule-name": "name",  # code -> NAV <code>
}

MAPPINGS = sorted(EXPECTED)


def _mapping(name: str) -> IntegrationTableMapping:
    return default_catalog().get(name)


def test_the_default_catalog_is_all_of_bcs_default_mappings_and_loads() -> None:
    assert default_catalog().names() == MAPPINGS
    assert load_catalog().names() == MAPPINGS  # lookups, option maps, parents, dependencies check out


@pytest.mark.parametrize("name", MAPPINGS)
def test_table_settings_are_bcs(name: str) -> None:
    m, want = _mapping(name), EXPECTED[name]
    assert (m.bc_entity, m.crm_entity, m.direction) == (want.bc_entity, want.crm_entity, want.direction)
    assert (m.table_filter, m.integration_table_filter) == (want.table_filter, want.integration_table_filter)
    assert m.synch_only_coupled is want.synch_only_coupled
    assert m.dependencies == want.dependencies
    assert (m.scheduled, m.interval_minutes, m.inactivity_timeout_minutes) == (
        want.scheduled,
        want.interval,
        want.inactivity,
    )
    assert m.hooks == want.hooks
    assert m.bc_code_field == BC_CODE_FIELDS.get(name, "")
    assert (m.update_conflict_resolution, m.deletion_conflict_resolution) == ("none", "none")
    if want.timer:
        assert m.function_name == want.timer


@pytest.mark.parametrize("name", MAPPINGS)
def test_field_mappings_are_bcs(name: str) -> None:
    actual = sorted((f.bc_field, f.crm_field, f.direction, f.enabled) for f in _mapping(name).fields)
    assert actual == sorted(EXPECTED[name].fields)


def _flags(f: FieldMapping) -> dict[str, Any]:
    defaults = FieldMapping(crm_field=f.crm_field)
    keys = (
        "constant",
        "on_insert_only",
        "match",
        "lookup",
        "option_map",
        "clear_on_failed",
        "not_null",
        "base_unit",
        "crm_access",
    )
    return {k: getattr(f, k) for k in keys if getattr(f, k) != getattr(defaults, k)}


@pytest.mark.parametrize("name", MAPPINGS)
def test_lookups_options_constants_and_flags(name: str) -> None:
    for f in _mapping(name).fields:
        want = FIELD_FLAGS.get((name, f.crm_field), {})
        crm_write = want.get("crm_write")
        if f.lookup:
            attr = f.crm_field.removeprefix("_").removesuffix("_value")
            assert f.crm_write == (crm_write or f"{attr}@odata.bind"), f.crm_field
        assert _flags(f) == {k: v for k, v in want.items() if k != "crm_write" and v is not False}, (
            f.crm_field
        )


def test_option_mappings_and_the_child_mapping() -> None:
    for name, attr in (
        ("PAYMENT TERMS", "paymenttermscode"),
        ("SHIPMENT METHOD", "address1_freighttermscode"),
        ("SHIPPING AGENT", "address1_shippingmethodcode"),
    ):
        m = _mapping(name)
        assert (m.kind, m.crm_key, m.create_new_if_no_match) == ("option", attr, True)
    lines = _mapping("POSTEDSALESLINE-INV")
    assert (lines.parent, lines.scheduled, lines.in_full_sync) == ("POSTEDSALESINV-INV", False, False)
    # BC §2.2: the lines and SALESORDER-ORDER (unidirectional mode) are left out of the review
    excluded = {"POSTEDSALESLINE-INV", "SALESORDER-ORDER"}
    assert {m.name for m in default_catalog() if not m.in_full_sync} == excluded
    assert _mapping("CURRENCY").create_new_if_no_match


def test_timers_only_for_mappings_bc_schedules() -> None:
    timers = {m.function_name for m in default_catalog() if m.scheduled}
    assert "sync_opportunity" not in timers and "sync_postedsalesline_inv" not in timers
    assert {"sync_unit_of_measure", "sync_item_product", "sync_payment_terms", "sync_salespeople"} <= timers
    assert len(timers) == 14


def test_dependency_order_is_bcs_full_sync_waves() -> None:
    catalog, done, waves = default_catalog(), set[str](), []
    while len(done) < len(catalog.names()):
        wave = {m.name for m in catalog if m.name not in done and set(m.dependencies) <= done}
        assert wave, "dependency cycle"
        waves.append(wave)
        done |= wave
    assert waves == [
        {"SALESPEOPLE", "CURRENCY", "UNIT OF MEASURE", "PAYMENT TERMS", "SHIPMENT METHOD", "SHIPPING AGENT"},
        {"CUSTOMER", "ITEM-PRODUCT", "RESOURCE-PRODUCT"},
        {"CONTACT", "CUSTPRCGRP-PRICE"},
        {"OPPORTUNITY", "SALESPRC-PRODPRICE"},
        {"POSTEDSALESINV-INV", "SALESORDER-ORDER"},
        {"POSTEDSALESLINE-INV"},
    ]


# -- against the emulators' schemas ---------------------------------------------------------------


def _crm_set_and_attr(m: IntegrationTableMapping) -> tuple[str, str | None]:
    entity_set, _, attr = m.crm_entity.partition(".")
    return entity_set, attr or None


@pytest.mark.parametrize("name", MAPPINGS)
def test_every_bc_field_exists_in_the_bc_emulator(name: str) -> None:
    m = _mapping(name)
    view = VIEWS[m.bc_entity]
    specs = view.by_api
    assert not m.bc_code_field or m.bc_code_field in view.names
    for f in m.fields:
        if not f.bc_field:
            continue
        assert f.bc_field in view.names, f"{m.bc_entity} has no field {f.bc_field}"
        if f.flows("to-bc"):
            assert not specs[f.bc_field].read_only, f"{m.bc_entity}.{f.bc_field} is read-only"
        target = f.lookup or f.option_map
        rel = specs[f.bc_field].rel
        rewritten = any(HOOK_REWRITES.get(h) == f.crm_field for h in m.hooks)
        if target and rel and not rewritten:  # the code names a row of the looked-up mapping's BC table
            assert rel == VIEWS[default_catalog().get(target).bc_entity].table, f.bc_field
    for hook in m.hooks:
        for bc_field in HOOK_WRITES.get(hook, ((), ()))[0]:
            assert bc_field in view.names and not specs[bc_field].read_only, (hook, bc_field)


def _check_lookup(m: IntegrationTableMapping, f: FieldMapping) -> None:
    edef = ENTITIES[m.crm_entity]
    attr = f.crm_field.removeprefix("_").removesuffix("_value")
    assert attr in edef.lookups, f"{m.crm_entity} has no lookup {attr}"
    targets = edef.lookups[attr].targets
    nav = f.crm_write.removesuffix("@odata.bind")
    if nav != attr:  # a polymorphic lookup bound to one target: <attr>_<logical>
        assert nav.startswith(f"{attr}_") and LOGICAL_TO_SET[nav[len(attr) + 1 :]] in targets, nav
    if f.lookup:
        target = "uoms" if f.base_unit else default_catalog().get(f.lookup).crm_entity
        assert target in targets, (f.crm_field, f.lookup)


@pytest.mark.parametrize("name", MAPPINGS)
def test_every_dataverse_attribute_exists_in_the_dataverse_emulator(name: str) -> None:
    m = _mapping(name)
    entity_set, option_attr = _crm_set_and_attr(m)
    edef = ENTITIES[entity_set]
    if m.kind == "option":
        assert option_attr == m.crm_key and option_attr in edef.writable
        assert [f.crm_field for f in m.fields] == ["label"]
        return
    assert (m.crm_logical_name, m.crm_key) == (edef.logical, edef.key)
    for f in m.fields:
        if f.crm_field.startswith("_") and f.crm_field.endswith("_value"):
            _check_lookup(m, f)
        elif f.direction in (TO, B):  # enabled or not: an operator may enable it
            _check_writable(entity_set, f)
        else:
            assert f.crm_field in edef.readable, f"{entity_set} has no attribute {f.crm_field}"
    for hook in m.hooks:  # a hook writes on create and on update alike
        for attr in HOOK_WRITES.get(hook, ((), ()))[1]:
            _check_writable(entity_set, FieldMapping(crm_field=attr), hook)


def _check_writable(entity_set: str, f: FieldMapping, hook: str = "") -> None:
    """A value sent to Dataverse: nothing Dataverse refuses on create (update-only columns are
    "modify") or on update (create-only columns are "insert"), and no read-only column."""
    edef, name = ENTITIES[entity_set], f"{entity_set}.{f.crm_field}" + (f" ({hook})" if hook else "")
    assert f.crm_field not in edef.read_only, f"{name} is read-only in Dataverse: do not map it"
    if f.sent_on_create:
        assert f.crm_field in edef.writable_on_create, f"{name} is not valid for create"
    if f.sent_on_update:
        assert f.crm_field in edef.writable_on_update, f"{name} is not valid for update"
    assert f.sent_on_create or f.sent_on_update, name
    if f.crm_field in edef.update_only:
        assert f.crm_access == "modify", f'{name} is update-only: declare crm_access = "modify"'


def test_the_child_mapping_reads_its_parents_lines() -> None:
    parent = VIEWS[_mapping("POSTEDSALESINV-INV").bc_entity]
    assert parent.nav["lines"][0] == _mapping("POSTEDSALESLINE-INV").bc_entity


@pytest.mark.parametrize("name", [n for n in MAPPINGS if EXPECTED[n].table_filter])
def test_table_filters_name_only_fields_of_the_bc_entity(name: str) -> None:
    m = _mapping(name)
    assert fields_in(parse_filter(m.table_filter)) <= VIEWS[m.bc_entity].names


@pytest.mark.parametrize("name", [n for n in MAPPINGS if EXPECTED[n].integration_table_filter])
def test_integration_filters_name_only_attributes_of_the_dataverse_entity(name: str) -> None:
    m = _mapping(name)
    assert fields_in(parse_filter(m.integration_table_filter)) <= ENTITIES[m.crm_entity].readable


@pytest.fixture(scope="module")
def seeded() -> tuple[BcEmulator, DataverseEmulator]:
    bc, dv = BcEmulator(), DataverseEmulator()
    bc.seed_demo()
    dv.seed_demo()
    return bc, dv


# BC's rule for each filter, in plain Python, over the seeded demo rows
BC_RULES = {
    "CUSTOMER": lambda r: r["blocked"] == " ",
    "CONTACT": lambda r: r["type"] == "Person" and r["companyNo"] != "" and r["relatedCustomerNo"] != "",
    "ITEM-PRODUCT": lambda r: r["blocked"] is False,
    "RESOURCE-PRODUCT": lambda r: r["blocked"] is False,
    "SALESPRC-PRODPRICE": lambda r: r["salesType"] == "Customer Price Group" and r["salesCode"] != "",
    "OPPORTUNITY": lambda r: r["status"] in ("Not Started", "In Progress"),
    "SALESORDER-ORDER": lambda r: r["status"] == "Open",
}
DV_RULES = {
    "SALESPEOPLE": lambda r: not r["isdisabled"] and r["islicensed"] and not r["isintegrationuser"],
    "CUSTOMER": lambda r: r["statecode"] == 0 and r["customertypecode"] == 3,
    "CONTACT": lambda r: r["_parentcustomerid_value"] is not None and r["statecode"] == 0,
}


@pytest.mark.parametrize("name", sorted(BC_RULES))
def test_table_filter_selects_what_bc_selects_in_the_demo_company(
    name: str, seeded: tuple[BcEmulator, DataverseEmulator]
) -> None:
    m, rows = _mapping(name), seeded[0].rows(_mapping(name).bc_entity)
    node = parse_filter(m.table_filter)
    assert [r["id"] for r in rows if evaluate(node, r)] == [r["id"] for r in rows if BC_RULES[name](r)]


@pytest.mark.parametrize("name", sorted(DV_RULES))
def test_integration_filter_selects_what_bc_selects_in_the_demo_org(
    name: str, seeded: tuple[BcEmulator, DataverseEmulator]
) -> None:
    m = _mapping(name)
    rows = seeded[1].rows(m.crm_entity)
    node = parse_filter(m.integration_table_filter)
    selected = [r[m.crm_key] for r in rows if evaluate(node, r, ci=True)]
    assert selected == [r[m.crm_key] for r in rows if DV_RULES[name](r)] and selected


def test_bc_code_field_lookups_and_option_maps_name_fields_bc_can_filter_on() -> None:
    for m in default_catalog():
        if m.bc_code_field:
            spec = VIEWS[m.bc_entity].by_api[m.bc_code_field]
            assert spec.code and not spec.getter, m.name  # a stored code field: <code> eq '<value>'
