"""Declared tables of the Dataverse emulator (api-facts §A.3/§A.4, bc-integration-behaviour §3).

Each :class:`EntityDef` lists the writable attributes, lookups (with their target entity sets),
read-only attributes, the writable ones valid for create only (IsValidForUpdate = False) or for
update only (IsValidForCreate = False), state/status model, required and unique attributes, and
collection-valued navigation properties for ``$expand``. Attribute lists are generous: they cover
BC's default field mappings plus common columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.dataverse_schema_platform import platform_entities

SYSTEM_FIELDS = [
    "createdon", "modifiedon", "versionnumber", "_createdby_value", "_modifiedby_value",
    "_createdonbehalfby_value", "_modifiedonbehalfby_value", "overriddencreatedon",
    "importsequencenumber", "timezoneruleversionnumber", "utcconversiontimezonecode",
]  # fmt: skip
USER_OWNED = ["_owninguser_value", "_owningteam_value", "_owningbusinessunit_value"]
ORG_OWNED = ["_organizationid_value"]

ADDRESS1 = (
    "address1_name address1_line1 address1_line2 address1_line3 address1_postalcode "
    "address1_city address1_country address1_county address1_stateorprovince "
    "address1_telephone1 address1_fax address1_freighttermscode address1_shippingmethodcode "
    "address1_primarycontactname"
)
BILLTO = (
    "billto_name billto_line1 billto_line2 billto_line3 billto_city billto_country "
    "billto_postalcode billto_stateorprovince billto_contactname billto_telephone billto_fax"
)
SHIPTO = (
    "shipto_name shipto_line1 shipto_line2 shipto_line3 shipto_city shipto_country "
    "shipto_postalcode shipto_stateorprovince shipto_contactname shipto_telephone shipto_fax "
    "shipto_freighttermscode"
)
DOC = (
    "name description freightamount discountamount discountpercentage totalamount "
    "totalamountlessfreight totallineitemamount totaltax totaldiscountamount "
    "totallineitemdiscountamount paymenttermscode shippingmethodcode freighttermscode "
    "ispricelocked willcall requestdeliveryby exchangerate bcbi_businesscentralordernumber "
    f"{BILLTO} {SHIPTO}"
)
DOC_LOOKUPS = (
    "customerid:accounts|contacts pricelevelid:pricelevels transactioncurrencyid:transactioncurrencies "
    "opportunityid:opportunities ownerid:systemusers|teams bcbi_companyid:cdm_companies"
)
LINE = (
    "quantity priceperunit ispriceoverridden isproductoverridden productdescription productname "
    "description lineitemnumber sequencenumber manualdiscountamount volumediscountamount tax "
    "baseamount extendedamount producttypecode requestdeliveryby willcall exchangerate "
    "bcbi_businesscentrallinenumber "
    "shipto_name shipto_line1 shipto_line2 shipto_line3 shipto_city shipto_country "
    "shipto_postalcode shipto_stateorprovince shipto_contactname shipto_telephone"
)
LINE_LOOKUPS = "productid:products uomid:uoms transactioncurrencyid:transactioncurrencies"
LINE_READ_ONLY = ("productnumber",)  # a copy of the product's number, filled by Dataverse
LINE_CREATE_ONLY = frozenset({"isproductoverridden", "producttypecode"})
# IsValidForCreate = False (the pricing engine computes them; an update may set them, as BC does
# right after inserting a line)
LINE_UPDATE_ONLY = frozenset({"baseamount", "extendedamount", "volumediscountamount"})
# a document's totals: valid for update only (BC's proxy table "CRM Invoice": ExternalAccess = Modify)
DOC_TOTALS = frozenset(
    {
        "totalamount",
        "totallineitemamount",
        "totallineitemdiscountamount",
        "totalamountlessfreight",
        "totaldiscountamount",
        "totaltax",
    }
)


@dataclass(frozen=True)
class Lookup:
    attr: str
    targets: tuple[str, ...]

    @property
    def value_field(self) -> str:
        return f"_{self.attr}_value"


@dataclass(frozen=True)
class EntityDef:
    set_name: str
    logical: str
    key: str
    attributes: frozenset[str]
    lookups: dict[str, Lookup]
    read_only: frozenset[str] = frozenset()
    ownership: str = "user"  # user | org | none
    states: dict[int, int] | None = None  # statecode -> default statuscode
    statuses: dict[int, int] | None = None  # statuscode -> statecode
    required: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    create_only: frozenset[str] = frozenset()  # IsValidForUpdate = False
    update_only: frozenset[str] = frozenset()  # IsValidForCreate = False
    children: dict[str, tuple[str, str]] = field(default_factory=dict)
    autonumber: tuple[str, str] | None = None
    editable_states: tuple[int, ...] | None = None
    parent: tuple[str, str] | None = None  # (parent set, lookup value field) for detail lines
    initial_state: tuple[int, int] | None = None
    write_only: frozenset[str] = frozenset()  # IsValidForRead = False (e.g. serviceendpoint.authvalue)
    platform: bool = False  # a seeded platform table: the Web API refuses Create, Update and Delete
    closed_states: tuple[int, ...] = ()  # left only for an editable state (sandbox.dataverse_states)

    @property
    def system_fields(self) -> list[str]:
        extra = USER_OWNED if self.ownership == "user" else ORG_OWNED if self.ownership == "org" else []
        return SYSTEM_FIELDS + extra

    @property
    def readable(self) -> frozenset[str]:
        names = {self.key, *self.attributes, *self.read_only, *self.system_fields}
        names |= {lk.value_field for lk in self.lookups.values()}
        if self.states:
            names |= {"statecode", "statuscode"}
        return frozenset(names - self.write_only)

    @property
    def writable(self) -> frozenset[str]:
        names = set(self.attributes) | {self.key}
        if self.states:
            names |= {"statecode", "statuscode"}
        return frozenset(names)

    @property
    def writable_on_create(self) -> frozenset[str]:
        """What a (non-admin) create may name: the writable attributes but the update-only ones."""
        return self.writable - self.update_only

    @property
    def writable_on_update(self) -> frozenset[str]:
        """What an update may change: the writable attributes but the create-only ones."""
        return self.writable - self.create_only


def _lookups(spec: str, owned: bool) -> dict[str, Lookup]:
    out: dict[str, Lookup] = {}
    for item in spec.split():
        attr, _, targets = item.partition(":")
        out[attr] = Lookup(attr, tuple(targets.split("|")))
    if owned and "ownerid" not in out:
        out["ownerid"] = Lookup("ownerid", ("systemusers", "teams"))
    return out


def _statuses(pairs: str) -> dict[int, int]:
    """``"1:0 2:0 3:1"`` (statuscode:statecode) as a dict."""
    return {int(a): int(b) for a, b in (p.split(":") for p in pairs.split())}


def entity(set_name: str, logical: str, attrs: str, lookups: str = "", **kw: object) -> EntityDef:
    ownership = str(kw.get("ownership", "user"))
    return EntityDef(
        set_name=set_name,
        logical=logical,
        key=f"{logical}id",
        attributes=frozenset(attrs.split()),
        lookups=_lookups(lookups, ownership == "user"),
        **kw,  # type: ignore[arg-type]
    )


ACTIVE_INACTIVE = {"states": {0: 1, 1: 2}, "statuses": _statuses("1:0 2:1")}

ENTITIES: dict[str, EntityDef] = {
    e.set_name: e
    for e in (
        entity(
            "accounts",
            "account",
            f"name accountnumber {ADDRESS1} emailaddress1 emailaddress2 emailaddress3 fax "
            "websiteurl telephone1 telephone2 telephone3 paymenttermscode creditlimit creditonhold "
            "customertypecode description revenue numberofemployees industrycode "
            "accountcategorycode shippingmethodcode donotemail exchangerate",
            "transactioncurrencyid:transactioncurrencies primarycontactid:contacts "
            "parentaccountid:accounts defaultpricelevelid:pricelevels bcbi_companyid:cdm_companies "
            "nav_accountstatisticsid:nav_accountstatisticses",
            children={"contact_customer_accounts": ("contacts", "_parentcustomerid_value")},
            **ACTIVE_INACTIVE,
        ),
        entity(
            "contacts",
            "contact",
            f"firstname middlename lastname salutation jobtitle emailaddress1 emailaddress2 "
            f"{ADDRESS1} telephone1 telephone2 telephone3 mobilephone fax pager websiteurl "
            "description birthdate gendercode donotemail exchangerate",
            "parentcustomerid:accounts|contacts transactioncurrencyid:transactioncurrencies "
            "bcbi_companyid:cdm_companies",
            read_only=frozenset({"fullname"}),
            **ACTIVE_INACTIVE,
        ),
        entity(
            "systemusers",
            "systemuser",
            "fullname firstname lastname internalemailaddress personalemailaddress mobilephone "
            "address1_telephone1 jobtitle title domainname applicationid "
            "azureactivedirectoryobjectid isdisabled islicensed isintegrationuser accessmode "
            "caltype _businessunitid_value",
            ownership="none",
        ),
        entity("teams", "team", "name teamtype description _businessunitid_value", ownership="none"),
        entity(
            "transactioncurrencies",
            "transactioncurrency",
            "currencyname isocurrencycode currencysymbol exchangerate currencyprecision",
            ownership="org",
            required=(
                "currencyname",
                "isocurrencycode",
                "currencysymbol",
                "exchangerate",
                "currencyprecision",
            ),
            unique=(("isocurrencycode",),),
            **ACTIVE_INACTIVE,
        ),
        entity(
            "uomschedules",
            "uomschedule",
            "name baseuomname description",
            ownership="org",
            required=("name", "baseuomname"),
            unique=(("name",),),
            children={"uomschedule_uoms": ("uoms", "_uomscheduleid_value")},
            **ACTIVE_INACTIVE,
        ),
        entity(
            "uoms",
            "uom",
            "name quantity",
            "uomscheduleid:uomschedules baseuom:uoms",
            read_only=frozenset({"isschedulebaseuom"}),
            ownership="none",
            required=("name", "_uomscheduleid_value"),
            parent=("uomschedules", "_uomscheduleid_value"),
        ),
        entity(
            "products",
            "product",
            "productnumber name description price standardcost currentcost stockvolume "
            "stockweight vendorid vendorname vendorpartnumber quantityonhand quantitydecimal "
            "producttypecode productstructure isstockitem suppliername size exchangerate",
            "defaultuomscheduleid:uomschedules defaultuomid:uoms pricelevelid:pricelevels "
            "transactioncurrencyid:transactioncurrencies parentproductid:products "
            "bcbi_companyid:cdm_companies",
            ownership="org",
            required=("productnumber", "name"),
            unique=(("productnumber",),),
            states={0: 1, 1: 2, 2: 0, 3: 3},
            statuses=_statuses("1:0 2:1 0:2 3:3"),
            initial_state=(2, 0),
        ),
        entity(
            "pricelevels",
            "pricelevel",
            "name description begindate enddate exchangerate",
            "transactioncurrencyid:transactioncurrencies bcbi_companyid:cdm_companies",
            ownership="org",
            required=("name",),
            unique=(("name",),),
            states={0: 100001, 1: 100002},
            statuses=_statuses("100001:0 100002:1"),
            children={"price_level_product_price_levels": ("productpricelevels", "_pricelevelid_value")},
        ),
        entity(
            "productpricelevels",
            "productpricelevel",
            "amount percentage pricingmethodcode roundingpolicycode roundingoptioncode "
            "roundingoptionamount quantitysellingcode exchangerate",
            "pricelevelid:pricelevels productid:products uomid:uoms uomscheduleid:uomschedules "
            "transactioncurrencyid:transactioncurrencies",
            read_only=frozenset({"productnumber"}),  # filled from the product
            ownership="none",
            required=("_pricelevelid_value", "_productid_value", "_uomid_value"),
            unique=(("_pricelevelid_value", "_productid_value", "_uomid_value"),),
            create_only=frozenset({"pricelevelid"}),
        ),
        entity(
            "opportunities",
            "opportunity",
            "name description estimatedvalue estimatedclosedate actualclosedate actualvalue "
            "closeprobability stepname salesstage purchasetimeframe budgetamount exchangerate",
            "parentcontactid:contacts parentaccountid:accounts customerid:accounts|contacts "
            "transactioncurrencyid:transactioncurrencies pricelevelid:pricelevels "
            "bcbi_companyid:cdm_companies",
            states={0: 1, 1: 3, 2: 4},
            statuses=_statuses("1:0 2:0 3:1 4:2 5:2"),
        ),
        entity(
            "quotes",
            "quote",
            f"{DOC} quotenumber revisionnumber effectivefrom effectiveto closedon",
            DOC_LOOKUPS,
            states={0: 1, 1: 2, 2: 4, 3: 7},
            statuses=_statuses("1:0 2:1 3:1 4:2 5:3 6:3 7:3"),
            children={"quote_details": ("quotedetails", "_quoteid_value")},
            autonumber=("quotenumber", "QUO-01001-"),
            update_only=DOC_TOTALS,
            editable_states=(0,),
        ),
        entity(
            "quotedetails",
            "quotedetail",
            LINE,
            f"quoteid:quotes {LINE_LOOKUPS}",
            read_only=frozenset(LINE_READ_ONLY),
            create_only=LINE_CREATE_ONLY,
            update_only=LINE_UPDATE_ONLY,
            required=("_quoteid_value",),
            parent=("quotes", "_quoteid_value"),
        ),
        entity(
            "salesorders",
            "salesorder",
            f"{DOC} ordernumber submitdate submitstatus submitstatusdescription datefulfilled "
            "lastbackofficesubmit",
            f"{DOC_LOOKUPS} quoteid:quotes",
            states={0: 1, 1: 3, 2: 4, 3: 100001, 4: 100003},
            statuses=_statuses("1:0 2:0 3:1 4:2 100001:3 100002:3 100003:4"),
            children={"salesorder_details": ("salesorderdetails", "_salesorderid_value")},
            autonumber=("ordernumber", "ORD-01001-"),
            update_only=DOC_TOTALS,  # api-facts: IsValidForCreate = False
            editable_states=(0,),
        ),
        entity(
            "salesorderdetails",
            "salesorderdetail",
            f"{LINE} salesorderdetailname quantityshipped quantitybackordered quantitycancelled",
            f"salesorderid:salesorders quotedetailid:quotedetails {LINE_LOOKUPS}",
            read_only=frozenset(LINE_READ_ONLY),
            create_only=LINE_CREATE_ONLY,
            update_only=LINE_UPDATE_ONLY,
            required=("_salesorderid_value",),
            parent=("salesorders", "_salesorderid_value"),
        ),
        entity(
            "invoices",
            "invoice",
            f"{DOC} invoicenumber duedate datedelivered",
            f"{DOC_LOOKUPS} salesorderid:salesorders",
            states={0: 1, 1: 3, 2: 100001, 3: 100003},
            statuses=_statuses("1:0 2:0 3:1 4:0 5:0 6:0 7:1 100001:2 100002:2 100003:3"),
            children={"invoice_details": ("invoicedetails", "_invoiceid_value")},
            autonumber=("invoicenumber", "INV-01001-"),
            create_only=frozenset({"invoicenumber"}),
            update_only=DOC_TOTALS,
            editable_states=(0,),
            closed_states=(1, 2, 3),  # api-facts §I: a Paid or Canceled invoice is set Active first
        ),
        entity(
            "invoicedetails",
            "invoicedetail",
            f"{LINE} actualdeliveryon quantityshipped quantitybackordered quantitycancelled",
            f"invoiceid:invoices salesorderdetailid:salesorderdetails {LINE_LOOKUPS}",
            read_only=frozenset(LINE_READ_ONLY),
            create_only=LINE_CREATE_ONLY,
            update_only=LINE_UPDATE_ONLY,
            required=("_invoiceid_value",),
            parent=("invoices", "_invoiceid_value"),
        ),
        entity(
            "annotations",
            "annotation",
            "subject notetext isdocument filename mimetype documentbody objecttypecode",
            "objectid:accounts|contacts|salesorders|quotes|invoices|opportunities|products",
            read_only=frozenset({"filesize"}),
        ),
        entity(
            "posts",
            "post",
            "text largetext source type",
            "regardingobjectid:accounts|contacts|salesorders|quotes|invoices|opportunities",
            ownership="org",
            required=("text",),
            create_only=frozenset({"text", "regardingobjectid"}),
        ),
        entity(  # BC's integration solution (bc-integration §6.2, api-facts §I)
            "nav_accountstatisticses",
            "nav_accountstatistics",
            "nav_name nav_customerno nav_balancelcy nav_outstandingorderslcy "
            "nav_shippednotinvoicedlcy nav_outstandinginvoiceslcy nav_totallcy nav_creditlimitlcy "
            "nav_overdueamountslcy nav_overdueamountsasof nav_totalsaleslcy "
            "nav_invoicedprepaymentamountlcy",
            "transactioncurrencyid:transactioncurrencies",
            ownership="org",
        ),
        entity(
            "cdm_companies",
            "cdm_company",
            "cdm_name cdm_companycode",
            ownership="org",
            **ACTIVE_INACTIVE,
        ),
        *platform_entities(entity, _statuses),
    )
}

LOGICAL_TO_SET = {e.logical: e.set_name for e in ENTITIES.values()}
