"""The default party mappings end to end: SALESPEOPLE, CUSTOMER, CONTACT and OPPORTUNITY (BC §2.1,
§3.1, §3.2, §3.7, §3.12, §4.8) against the BC and Dataverse emulators and Azurite.

Each test shows what the catalog's mapping itself does: its direction, its table and
integration-table filters (read by the emulators' real OData filtering, through the mapping job or
the full-sync scan), its field mappings (enabled, disabled, one-way, insert-only), its lookups
(owner through the SALESPEOPLE couplings, currency, parent account, contact) and its hard-coded
hooks. Single records go through ``RecordSynchronizer`` (reason ``command`` = BC's "Synchronize
now" / "Create in ...", which creates uncoupled records); scheduled runs through
``run_mapping_job`` and the record queue.
"""

from __future__ import annotations

import json

from sandbox.seed import seed_id
from sandbox.stack import SandboxStack
from sync_core.app import wiring
from sync_core.sync.commands import couplings
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.outcome import Outcome
from sync_core.sync.engine.record import RecordSynchronizer
from sync_core.sync.jobs.mapping_job import full_scan_query, run_mapping_job
from sync_core.sync.messages import RecordMessage
from tests.e2e.host import deliver_all, fire_timer, queued, user_functions
from tests.e2e.operator_support import command_json, run_command

SALESPEOPLE_USERS = {"JO": "salesperson_jo", "PS": "salesperson_ps", "OF": "salesperson_of"}
OPTION_TIMERS = ("sync_payment_terms", "sync_shipment_method", "sync_shipping_agent")


def _ctx() -> SyncContext:
    return wiring.services().sync_context()


def _sync(ctx: SyncContext, mapping: str, direction: str, source_id: str, reason: str = "command") -> Outcome:
    msg = RecordMessage(mapping, direction, source_id, "job-parties", reason)  # type: ignore[arg-type]
    return RecordSynchronizer(ctx).process(msg)


def _fields(row: dict, *names: str) -> dict:
    """The named fields of a row (what a test compares with the expected values)."""
    return {name: row[name] for name in names}


def _crm_id(ctx: SyncContext, mapping: str, bc_id: str) -> str:
    coupling = ctx.stores.couplings.get_by_bc(mapping, bc_id)
    assert coupling is not None and coupling.state == "coupled"
    return coupling.crm_id


def _bc_id(ctx: SyncContext, mapping: str, crm_id: str) -> str:
    coupling = ctx.stores.couplings.get_by_crm(mapping, crm_id)
    assert coupling is not None and coupling.state == "coupled"
    return coupling.bc_id


def _job(stack: SandboxStack, ctx: SyncContext, mapping: str) -> dict[str, list[str]]:
    """Run the mapping's scheduled job, deliver its messages; the source ids enqueued per direction."""
    run_mapping_job(ctx, mapping)
    conn = stack.azurite.connection_string
    bodies = deliver_all(conn) if queued(conn) else []
    out: dict[str, list[str]] = {}
    for body in map(json.loads, bodies):
        out.setdefault(body["direction"], []).append(body["source_id"])
    return out


def _scan(ctx: SyncContext, mapping: str, direction: str) -> set[str]:
    """The ids a full synchronization (or a first scheduled run) reads: the mapping's filters applied."""
    source = ctx.bc if direction == "to-dataverse" else ctx.dataverse
    query = full_scan_query(ctx, ctx.mapping(mapping), direction)  # type: ignore[arg-type]
    return {r.id for r in source.iter_modified(query)}


def _couple_salespeople(stack: SandboxStack, ctx: SyncContext) -> None:
    """SALESPEOPLE for the seeded users: matched to BC's JO/PS/OF by e-mail, never duplicated."""
    for user in SALESPEOPLE_USERS.values():
        outcome = _sync(ctx, "SALESPEOPLE", "to-bc", stack.dataverse.ids[user])
        assert outcome.outcome in ("unchanged", "modified"), outcome


def _sync_option_mappings(stack: SandboxStack) -> None:
    for timer in OPTION_TIMERS:
        fire_timer(timer)
        deliver_all(stack.azurite.connection_string)


def _sync_currencies(stack: SandboxStack) -> None:
    fire_timer("sync_currency")
    deliver_all(stack.azurite.connection_string)


def _customer_ready(stack: SandboxStack, ctx: SyncContext) -> None:
    """CUSTOMER's dependencies (SALESPEOPLE, CURRENCY, the option mappings) synchronized."""
    _couple_salespeople(stack, ctx)
    _sync_currencies(stack)
    _sync_option_mappings(stack)


def _customer_id(number: str) -> str:
    return seed_id("bc", "customer", number)


def _user(stack: SandboxStack, key: str) -> str:
    return stack.dataverse.ids[key]


# -- SALESPEOPLE ----------------------------------------------------------------------------------


def test_salespeople_come_from_enabled_licensed_users_with_generated_codes(stack: SandboxStack) -> None:
    ctx = _ctx()
    jo = seed_id("bc", "salesperson", "JO")
    refused = _sync(ctx, "SALESPEOPLE", "to-dataverse", jo)
    assert refused.outcome == "failed" and "not configured for to-dataverse" in refused.message

    # a user with a salesperson's e-mail is coupled to it (JO keeps its code), not duplicated
    _couple_salespeople(stack, ctx)
    assert _bc_id(ctx, "SALESPEOPLE", _user(stack, "salesperson_jo")) == jo
    assert len(stack.bc.rows("salespeoplePurchasers")) == 3

    # new users get BC's generated codes; e-mail, name and mobile phone flow, job title does not
    sara = _sync(ctx, "SALESPEOPLE", "to-bc", _user(stack, "sales_user_1"))
    sam = _sync(ctx, "SALESPEOPLE", "to-bc", _user(stack, "sales_user_2"))
    assert (sara.outcome, sam.outcome) == ("inserted", "inserted")
    sara_sp = stack.bc.get("salespeoplePurchasers", sara.destination_id)
    assert sara_sp is not None
    assert {k: sara_sp[k] for k in ("code", "displayName", "email", "phoneNo", "jobTitle")} == {
        "code": "SP NO. 00001",
        "displayName": "Sara Sales",
        "email": "sara.sales@cronus-sandbox.example",
        "phoneNo": "+1 425 555 0140",
        "jobTitle": "",  # jobtitle "Sales Manager": the extra field mapping is disabled
    }
    assert stack.bc.get("salespeoplePurchasers", sam.destination_id)["code"] == "SP NO. 00002"

    # the integration-table filter: no disabled, unlicensed (the integration user) or integration user
    users = {u["fullname"]: u["systemuserid"] for u in stack.dataverse.rows("systemusers")}
    assert _scan(ctx, "SALESPEOPLE", "to-bc") == {
        users[n]
        for n in ("Alex Admin", "Sara Sales", "Sam Seller", "Jim Olive", "Peter Saddow", "Otis Falls")
    }
    stack.dataverse.update("systemusers", users["Alex Admin"], {"isintegrationuser": True})
    assert users["Alex Admin"] not in _scan(ctx, "SALESPEOPLE", "to-bc")

    # scheduled runs: only coupled users, only the enabled fields, only users inside the filter
    _job(stack, ctx, "SALESPEOPLE")  # settles the watermark
    stack.dataverse.update(
        "systemusers",
        users["Sara Sales"],
        {
            "mobilephone": "+1 425 555 0199",
            "jobtitle": "VP Sales",
            "personalemailaddress": "sara@home.example",
        },
    )
    stack.dataverse.update("systemusers", users["Jim Olive"], {"fullname": "Jim Olive-Green"})
    stack.dataverse.update("systemusers", users["Sam Seller"], {"isdisabled": True, "mobilephone": "+1 0"})
    stack.dataverse.update("systemusers", users["Peter Saddow"], {"islicensed": False, "fullname": "P. S."})
    enqueued = set(_job(stack, ctx, "SALESPEOPLE")["to-bc"])  # (+ BC's 1 s re-read overlap)
    assert {users["Sara Sales"], users["Jim Olive"]} <= enqueued
    assert not {users["Sam Seller"], users["Peter Saddow"], users["Alex Admin"]} & enqueued
    sara_sp = stack.bc.get("salespeoplePurchasers", sara.destination_id)
    assert (sara_sp["phoneNo"], sara_sp["jobTitle"], sara_sp["email2"]) == ("+1 425 555 0199", "", "")
    jim = stack.bc.get("salespeoplePurchasers", jo)
    assert (jim["code"], jim["displayName"]) == ("JO", "Jim Olive-Green")  # the code is never renamed
    assert stack.bc.get("salespeoplePurchasers", sam.destination_id)["phoneNo"] == "+1 425 555 0141"
    ps = stack.bc.get("salespeoplePurchasers", seed_id("bc", "salesperson", "PS"))
    assert ps["displayName"] == "Peter Saddow"
    assert len(stack.bc.rows("salespeoplePurchasers")) == 5


# -- CUSTOMER ---------------------------------------------------------------------------------------


def test_customer_to_account_owner_currency_and_one_way_fields(stack: SandboxStack) -> None:
    ctx = _ctx()
    selangorian = _customer_id("20000")  # GBP, salesperson JO, primary contact Mindy Martin
    accounts_before = len(stack.dataverse.rows("accounts"))
    failed = _sync(ctx, "CUSTOMER", "to-dataverse", selangorian)
    assert (failed.outcome, failed.message) == (
        "failed",
        "Salesperson Code JO must be coupled to a record in Dataverse.",
    )
    assert ctx.stores.sync_errors.list("CUSTOMER")[0].field == "_ownerid_value"
    assert len(stack.dataverse.rows("accounts")) == accounts_before

    _customer_ready(stack, ctx)
    stack.bc.update("integrationCustomers", selangorian, {"mobilePhoneNo": "+44 7700 900001"})
    assert _sync(ctx, "CUSTOMER", "to-dataverse", selangorian).outcome == "inserted"
    account = stack.dataverse.get("accounts", _crm_id(ctx, "CUSTOMER", selangorian))
    gbp = next(r for r in stack.dataverse.rows("transactioncurrencies") if r["isocurrencycode"] == "GBP")
    assert _fields(
        account,
        "name",
        "address1_line1",
        "address1_city",
        "address1_postalcode",
        "address1_country",
        "address1_primarycontactname",
        "telephone1",
        "emailaddress1",
        "websiteurl",
        "creditlimit",
        "customertypecode",
        "_ownerid_value",
        "_transactioncurrencyid_value",
    ) == {
        "name": "Selangorian Ltd.",
        "address1_line1": "153 Thomas Drive",
        "address1_city": "Coventry",
        "address1_postalcode": "CV6 1GY",
        "address1_country": "GB",
        "address1_primarycontactname": "Mindy Martin",
        "telephone1": "+44 20 7946 0200",
        "emailaddress1": "info20000@example.com",
        "websiteurl": "www.customer20000.example",
        "creditlimit": 20000.0,
        "customertypecode": 3,  # BC's CRM template BCICUSTOME
        "_ownerid_value": _user(stack, "salesperson_jo"),  # the user coupled to salesperson JO
        "_transactioncurrencyid_value": gbp["transactioncurrencyid"],
    }
    # Primary Contact No. is "Clear Value on Failed Sync": Mindy is not coupled, the account is written
    assert account["_primarycontactid_value"] is None
    # the disabled extra field mappings: No. -> accountnumber, Mobile Phone No. <-> telephone2
    assert (account["accountnumber"], account["telephone2"]) == (None, None)

    # the account became a vendor in Dataverse; a later BC change of a one-way field keeps it so
    stack.dataverse.update("accounts", account["accountid"], {"customertypecode": 11})
    stack.bc.update("integrationCustomers", selangorian, {"salespersonCode": "PS", "creditLimitLcy": 5000.0})
    modified = _sync(ctx, "CUSTOMER", "to-dataverse", selangorian, "modified")
    assert (modified.outcome, modified.message) == ("modified", "changed _ownerid_value, creditlimit")
    account = stack.dataverse.get("accounts", account["accountid"])
    assert (account["_ownerid_value"], account["creditlimit"]) == (_user(stack, "salesperson_ps"), 5000.0)
    assert account["customertypecode"] == 11  # insert-only constant

    # Not Null: a customer without salesperson writes no owner (Dataverse's default: the caller)
    haddock = _customer_id("30000")
    stack.bc.update("integrationCustomers", haddock, {"salespersonCode": ""})
    assert _sync(ctx, "CUSTOMER", "to-dataverse", haddock).outcome == "inserted"
    no_owner = stack.dataverse.get("accounts", _crm_id(ctx, "CUSTOMER", haddock))
    assert no_owner["_ownerid_value"] == ctx.dataverse.whoami()


def test_account_changes_flow_back_and_filters_keep_blocked_customers_and_inactive_accounts_out(
    stack: SandboxStack,
) -> None:
    ctx = _ctx()
    _customer_ready(stack, ctx)
    cannon = _customer_id("10000")
    assert _sync(ctx, "CUSTOMER", "to-dataverse", cannon).outcome == "inserted"
    account_id = _crm_id(ctx, "CUSTOMER", cannon)
    _job(stack, ctx, "CUSTOMER")  # settles both watermarks

    # BC -> Dataverse; the integration user's own write is not read back (echo suppression)
    stack.bc.update("integrationCustomers", cannon, {"phoneNo": "+44 20 1111 2222"})
    assert _job(stack, ctx, "CUSTOMER") == {"to-dataverse": [cannon]}
    assert stack.dataverse.get("accounts", account_id)["telephone1"] == "+44 20 1111 2222"
    assert _job(stack, ctx, "CUSTOMER") == {}

    # Dataverse -> BC: bidirectional fields flow; owner and credit limit are BC -> Dataverse only
    stack.dataverse.update(
        "accounts",
        account_id,
        {
            "name": "Cannon Group (CRM)",
            "address1_line1": "1 New Street",
            "address1_postalcode": " b27 9zz ",
            "telephone1": "+44 20 3333 4444",
            "creditlimit": 1.0,
            "ownerid@odata.bind": f"/systemusers({_user(stack, 'sales_user_1')})",
        },
    )
    assert _job(stack, ctx, "CUSTOMER") == {"to-bc": [account_id]}
    customer = stack.bc.get("integrationCustomers", cannon)
    assert {k: customer[k] for k in ("name", "address", "postCode", "phoneNo")} == {
        "name": "Cannon Group (CRM)",
        "address": "1 New Street",
        "postCode": "B27 9ZZ",  # a BC code field: trimmed, upper-cased
        "phoneNo": "+44 20 3333 4444",
    }
    assert (customer["creditLimitLcy"], customer["salespersonCode"]) == (15000.0, "PS")

    # the integration-table filter: active customer accounts only (statecode 0, customertypecode 3)
    seeded = {a["name"]: a["accountid"] for a in stack.dataverse.rows("accounts")}
    read = _scan(ctx, "CUSTOMER", "to-bc")
    assert seeded["Fabrikam, Inc."] in read and account_id in read
    assert seeded["Adventure Works Cycles"] not in read  # a vendor (11)

    # an inactive account is outside the filter: the scheduled run leaves it out ...
    stack.dataverse.update("accounts", account_id, {"statecode": 1, "statuscode": 2, "name": "Cannon (old)"})
    assert "to-bc" not in _job(stack, ctx, "CUSTOMER")  # (BC's own write is re-read, then unchanged)
    assert stack.bc.get("integrationCustomers", cannon)["blocked"] == " "
    # ... and "Synchronize now" applies BC's hard-coded rule: inactive account -> customer Blocked All
    assert _sync(ctx, "CUSTOMER", "to-bc", account_id).outcome == "modified"
    customer = stack.bc.get("integrationCustomers", cannon)
    assert (customer["blocked"], customer["name"]) == ("All", "Cannon (old)")

    # the table filter: a blocked customer's changes are not sent any more
    stack.bc.update("integrationCustomers", cannon, {"phoneNo": "+44 20 5555 6666"})
    assert _job(stack, ctx, "CUSTOMER") == {}
    assert cannon not in _scan(ctx, "CUSTOMER", "to-dataverse")
    assert stack.dataverse.get("accounts", account_id)["telephone1"] == "+44 20 3333 4444"

    # a customer blocked for Ship already keeps that (the rule only blocks a not-blocked customer)
    selangorian = _customer_id("20000")
    assert _sync(ctx, "CUSTOMER", "to-dataverse", selangorian).outcome == "inserted"
    stack.bc.update("integrationCustomers", selangorian, {"blocked": "Ship"})
    other_id = _crm_id(ctx, "CUSTOMER", selangorian)
    stack.dataverse.update("accounts", other_id, {"statecode": 1, "statuscode": 2})
    assert _sync(ctx, "CUSTOMER", "to-bc", other_id).outcome in ("unchanged", "modified")
    assert stack.bc.get("integrationCustomers", selangorian)["blocked"] == "Ship"


def test_account_created_in_bc_takes_the_bidirectional_fields_and_currency(stack: SandboxStack) -> None:
    ctx = _ctx()
    _customer_ready(stack, ctx)
    eur = next(r for r in stack.dataverse.rows("transactioncurrencies") if r["isocurrencycode"] == "EUR")
    account = stack.dataverse.insert(
        "accounts",
        {
            "name": "Wingtip Toys GmbH",
            "address1_line1": "Hafenstrasse 1",
            "address1_city": "Hamburg",
            "address1_postalcode": "20457",
            "address1_country": "de",
            "emailaddress1": "info@wingtip.example",
            "telephone1": "+49 40 123",
            "telephone2": "+49 170 123",
            "creditlimit": 99.0,
            "customertypecode": 3,
            "transactioncurrencyid@odata.bind": f"/transactioncurrencies({eur['transactioncurrencyid']})",
            "ownerid@odata.bind": f"/systemusers({_user(stack, 'salesperson_jo')})",
        },
    )
    outcome = _sync(ctx, "CUSTOMER", "to-bc", account["accountid"])
    assert outcome.outcome == "inserted"
    customer = stack.bc.get("integrationCustomers", outcome.destination_id)
    assert _fields(
        customer,
        "name",
        "address",
        "city",
        "postCode",
        "countryRegionCode",
        "email",
        "phoneNo",
        "currencyCode",
        "mobilePhoneNo",
        "creditLimitLcy",
        "salespersonCode",
        "blocked",
    ) == {
        "name": "Wingtip Toys GmbH",
        "address": "Hafenstrasse 1",
        "city": "Hamburg",
        "postCode": "20457",
        "countryRegionCode": "DE",
        "email": "info@wingtip.example",
        "phoneNo": "+49 40 123",
        "currencyCode": "EUR",  # the currency coupled to the account's transactioncurrencyid
        "mobilePhoneNo": "",  # telephone2: disabled extra field mapping
        "creditLimitLcy": 0,  # creditlimit: BC -> Dataverse only
        "salespersonCode": "",  # ownerid: BC -> Dataverse only
        "blocked": " ",
    }
    # an account in the LCY currency (USD) is a customer with a blank currency code
    fabrikam = seed_id("dv", "account", "Fabrikam, Inc.")
    created = _sync(ctx, "CUSTOMER", "to-bc", fabrikam)
    assert created.outcome == "inserted"
    assert stack.bc.get("integrationCustomers", created.destination_id)["currencyCode"] == ""


# -- CONTACT ----------------------------------------------------------------------------------------


def test_contact_filters_parent_account_owner_and_names(stack: SandboxStack) -> None:
    ctx = _ctx()
    # the table filter: persons of a company that has a customer (not companies, not the prospect)
    persons = {
        "Mark McArthur",
        "Emily Bryce",
        "Mindy Martin",
        "Peter Houston",
        "Ian Deberry",
        "Klaus Mielberg",
        "Freja Holm",
        "Olivia Tremblay",
    }
    assert _scan(ctx, "CONTACT", "to-dataverse") == {seed_id("bc", "contact", p) for p in persons}
    # the integration-table filter: active contacts with a parent (Yvonne McKay has none)
    with_parent = {"Mark McArthur", "Nancy Davolio", "Rene Valdes"}
    assert _scan(ctx, "CONTACT", "to-bc") == {seed_id("dv", "contact", p) for p in with_parent}
    rene = seed_id("dv", "contact", "Rene Valdes")
    stack.dataverse.update("contacts", rene, {"statecode": 1, "statuscode": 2})
    assert rene not in _scan(ctx, "CONTACT", "to-bc")

    # parentcustomerid is the account coupled to the customer of the contact's company
    emily = seed_id("bc", "contact", "Emily Bryce")
    failed = _sync(ctx, "CONTACT", "to-dataverse", emily)
    assert failed.outcome == "failed"
    assert failed.message.endswith("10000 must be coupled to a record in Dataverse.")
    _couple_salespeople(stack, ctx)
    _sync_option_mappings(stack)
    cannon = _customer_id("10000")
    assert _sync(ctx, "CUSTOMER", "to-dataverse", cannon).outcome == "inserted"
    stack.bc.update(
        "integrationContacts",
        emily,
        {
            "salespersonCode": "JO",
            "middleName": "Anne",
            "mobilePhoneNo": "+44 7700 900123",
            "salutationCode": "MS",
        },
    )
    assert _sync(ctx, "CONTACT", "to-dataverse", emily).outcome == "inserted"
    contact_id = _crm_id(ctx, "CONTACT", emily)
    contact = stack.dataverse.get("contacts", contact_id)
    assert _fields(
        contact,
        "firstname",
        "middlename",
        "lastname",
        "emailaddress1",
        "telephone1",
        "mobilephone",
        "_parentcustomerid_value",
        "_ownerid_value",
        "salutation",
    ) == {
        "firstname": "Emily",
        "middlename": "Anne",
        "lastname": "Bryce",
        "emailaddress1": "emily@example.com",
        "telephone1": "+44 20 7946 0999",
        "mobilephone": "+44 7700 900123",
        "_parentcustomerid_value": _crm_id(ctx, "CUSTOMER", cannon),  # not the seeded Cannon account
        "_ownerid_value": _user(stack, "salesperson_jo"),
        "salutation": None,  # Salutation Code: disabled extra field mapping
    }
    assert contact["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"

    # Dataverse -> BC on a schedule: names flow; parent and owner are BC -> Dataverse only
    _job(stack, ctx, "CONTACT")  # settles both watermarks
    fabrikam = seed_id("dv", "account", "Fabrikam, Inc.")
    stack.dataverse.update(
        "contacts",
        contact_id,
        {
            "firstname": "Em",
            "lastname": "Bryce-Smith",
            "parentcustomerid_account@odata.bind": f"/accounts({fabrikam})",
            "ownerid@odata.bind": f"/systemusers({_user(stack, 'sales_user_1')})",
        },
    )
    assert _job(stack, ctx, "CONTACT") == {"to-bc": [contact_id]}
    person = stack.bc.get("integrationContacts", emily)
    assert (person["firstName"], person["surname"], person["name"]) == (
        "Em",
        "Bryce-Smith",
        "Em Anne Bryce-Smith",
    )
    assert (person["companyNo"], person["salespersonCode"], person["type"]) == ("CT000001", "JO", "Person")


def test_contact_created_from_dataverse_is_a_person_and_prospects_are_ignored(stack: SandboxStack) -> None:
    ctx = _ctx()
    nancy = seed_id("dv", "contact", "Nancy Davolio")
    # her account (Fabrikam) is not a BC customer yet: BC has no company for her
    refused = _sync(ctx, "CONTACT", "to-bc", nancy)
    assert refused.outcome == "failed"
    assert refused.message == "The contact cannot be synchronized because the company does not exist."
    fabrikam = _sync(ctx, "CUSTOMER", "to-bc", seed_id("dv", "account", "Fabrikam, Inc."), "command")
    assert fabrikam.outcome == "inserted"
    created = _sync(ctx, "CONTACT", "to-bc", nancy, "restore")
    assert created.outcome == "inserted"
    person = stack.bc.get("integrationContacts", created.destination_id)
    company = stack.bc.get("integrationCustomers", fabrikam.destination_id)["companyContactNo"]
    assert company and person["companyNo"] == company  # the customer's company contact
    assert (person["type"], person["firstName"], person["surname"], person["email"]) == (
        "Person",
        "Nancy",
        "Davolio",
        "nancy.davolio@example.com",
    )

    # BC's post-filter: a person whose company has no customer is never synchronized (not an error)
    kevin = seed_id("bc", "contact", "Kevin Prospect")
    contacts_before = len(stack.dataverse.rows("contacts"))
    ignored = _sync(ctx, "CONTACT", "to-dataverse", kevin)
    assert ignored.outcome == "skipped" and "no customer" in ignored.message
    assert len(stack.dataverse.rows("contacts")) == contacts_before
    assert ctx.stores.couplings.get_by_bc("CONTACT", kevin) is None
    assert [e.source_id for e in ctx.stores.sync_errors.list("CONTACT")] == [nancy]  # her first try


def _partner_contact(stack: SandboxStack, first: str, last: str) -> tuple[str, str]:
    """A Dataverse account that is neither a customer nor a vendor, and a contact under it."""
    account = stack.dataverse.insert("accounts", {"name": f"{last} Partners", "customertypecode": None})
    contact = stack.dataverse.insert(
        "contacts",
        {
            "firstname": first,
            "lastname": last,
            "parentcustomerid_account@odata.bind": f"/accounts({account['accountid']})",
        },
    )
    return str(account["accountid"]), str(contact["contactid"])


def test_create_in_bc_of_a_contact_under_a_non_customer_account(stack: SandboxStack) -> None:
    """BC's TestSynchCRMContactWithNonCustomerCRMAccountParent, through ``create-in-bc``."""
    account, contact = _partner_contact(stack, "Pat", "Litware")
    customers_before = len(stack.bc.rows("integrationCustomers"))
    created = command_json("create-in-bc", "CONTACT", "--crm-id", contact)["created"]
    assert created["outcome"] == "inserted"
    person = stack.bc.get("integrationContacts", created["destination_id"])
    assert (person["type"], person["companyNo"], person["firstName"], person["surname"]) == (
        "Person",
        "",
        "Pat",
        "Litware",
    )
    assert _bc_id(_ctx(), "CONTACT", contact) == created["destination_id"]
    assert len(stack.bc.rows("integrationCustomers")) == customers_before  # no customer created
    assert _ctx().stores.couplings.get_by_crm("CUSTOMER", account) is None
    # a Customer-type parent that is not coupled: BC has no company for the contact
    refused = run_command(
        "create-in-bc", "CONTACT", "--crm-id", seed_id("dv", "contact", "Nancy Davolio"), expect=1
    )
    assert "The contact cannot be synchronized because the company does not exist." in refused.stderr


# -- OPPORTUNITY ------------------------------------------------------------------------------------


def test_opportunity_parent_contact_account_owner_and_one_way_values(stack: SandboxStack) -> None:
    ctx = _ctx()
    assert "sync_opportunity" not in user_functions()  # no job queue entry in BC
    op1, op2 = seed_id("bc", "opportunity", "OP000001"), seed_id("bc", "opportunity", "OP000002")
    assert _scan(ctx, "OPPORTUNITY", "to-dataverse") == {op1, op2}  # OP000003 is Won

    _couple_salespeople(stack, ctx)
    _sync_option_mappings(stack)
    cannon = _customer_id("10000")
    assert _sync(ctx, "CUSTOMER", "to-dataverse", cannon).outcome == "inserted"
    mark = seed_id("bc", "contact", "Mark McArthur")
    assert _sync(ctx, "CONTACT", "to-dataverse", mark).outcome == "inserted"

    ian = stack.bc.get("integrationContacts", seed_id("bc", "contact", "Ian Deberry"))
    failed = _sync(ctx, "OPPORTUNITY", "to-dataverse", op2, "modified")
    assert failed.outcome == "failed" and failed.message.startswith("Contact No")
    assert failed.message.endswith(f"{ian['number']} must be coupled to a record in Dataverse.")

    # Synch. Only Coupled Records = No: a scheduled-style message inserts the uncoupled opportunity
    stack.bc.update("opportunities", op1, {"dateClosed": "2025-08-01"})
    inserted = _sync(ctx, "OPPORTUNITY", "to-dataverse", op1, "modified")
    assert inserted.outcome == "inserted"
    opportunity = stack.dataverse.get("opportunities", inserted.destination_id)
    assert _fields(
        opportunity,
        "name",
        "_parentcontactid_value",
        "_parentaccountid_value",
        "_ownerid_value",
        "estimatedvalue",
        "estimatedclosedate",
        "closeprobability",
        "actualvalue",
        "actualclosedate",
    ) == {
        "name": "Furniture for new Cannon office",
        "_parentcontactid_value": _crm_id(ctx, "CONTACT", mark),
        "_parentaccountid_value": _crm_id(ctx, "CUSTOMER", cannon),  # contact company CT000001 -> 10000
        "_ownerid_value": _user(stack, "salesperson_ps"),
        "estimatedvalue": 25000.0,
        "estimatedclosedate": "2025-09-30",
        "closeprobability": None,  # the extra field mappings are disabled
        "actualvalue": None,
        "actualclosedate": None,
    }

    # Dataverse -> BC: only name <-> description; the estimate is BC -> Dataverse only
    stack.dataverse.update(
        "opportunities",
        opportunity["opportunityid"],
        {"name": "Cannon office, phase 1", "estimatedvalue": 1.0},
    )
    back = _sync(ctx, "OPPORTUNITY", "to-bc", opportunity["opportunityid"], "modified")
    assert (back.outcome, back.message) == ("modified", "changed description")
    row = stack.bc.get("opportunities", op1)
    assert (row["description"], row["estimatedValueLcy"]) == ("Cannon office, phase 1", 25000.0)

    # BC -> Dataverse: owner, estimate and closing date follow; probability does not
    stack.bc.update(
        "opportunities",
        op1,
        {
            "salespersonCode": "JO",
            "estimatedValueLcy": 30000.0,
            "estimatedClosingDate": "2025-10-31",
            "probability": 80,
        },
    )
    again = _sync(ctx, "OPPORTUNITY", "to-dataverse", op1, "modified")
    assert again.message == "changed _ownerid_value, estimatedclosedate, estimatedvalue"
    opportunity = stack.dataverse.get("opportunities", opportunity["opportunityid"])
    assert (
        opportunity["_ownerid_value"],
        opportunity["estimatedvalue"],
        opportunity["closeprobability"],
    ) == (
        _user(stack, "salesperson_jo"),
        30000.0,
        None,
    )
    assert opportunity["name"] == "Cannon office, phase 1"

    # parentaccountid is blank when the contact's company has no customer (Litware, a prospect)
    kevin = stack.bc.get("integrationContacts", seed_id("bc", "contact", "Kevin Prospect"))
    yvonne = seed_id("dv", "contact", "Yvonne McKay")
    couplings.couple(ctx, "CONTACT", kevin["id"], yvonne)  # coupled by hand (never synchronized)
    prospect = stack.bc.insert(
        "opportunities",
        {
            "number": "OP000009",
            "description": "Litware pilot",
            "contactNo": kevin["number"],
            "contactCompanyNo": kevin["companyNo"],
            "salespersonCode": "OF",
            "status": "Not Started",
            "estimatedValueLcy": 500.0,
        },
    )
    litware = _sync(ctx, "OPPORTUNITY", "to-dataverse", prospect["id"], "modified")
    assert litware.outcome == "inserted"
    pilot = stack.dataverse.get("opportunities", litware.destination_id)
    assert (pilot["_parentcontactid_value"], pilot["_parentaccountid_value"]) == (yvonne, None)
    assert pilot["_ownerid_value"] == _user(stack, "salesperson_of")
