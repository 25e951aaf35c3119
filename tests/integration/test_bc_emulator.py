"""The Business Central API v2.0 + companion API emulator over real HTTP (api-facts §E)."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from sandbox.bc_emulator import BcEmulator
from sandbox.seed import seed_id
from tests.integration.emulator_clients import BcApi, error

pytestmark = pytest.mark.usefixtures("fresh_bc")


@pytest.fixture
def api(bc: BcEmulator) -> BcApi:
    return BcApi(bc)


# -- roots, auth ----------------------------------------------------------------------------------


def test_companies_and_roots(api: BcApi, bc: BcEmulator) -> None:
    assert bc.api_url == f"{bc.url}/v2.0/sandbox-tenant/production/api/v2.0"
    companies = api.value(f"{bc.api_url}/companies")
    assert [(c["id"], c["name"]) for c in companies] == [(bc.company_id, "CRONUS Sandbox")]
    assert api.get(f"{bc.api_url}/companies({uuid.uuid4()})/customers").status_code == 404
    assert api.get("integrationCustomers").status_code == 404  # companion set on the v2.0 root
    assert api.companion.get("customers").status_code == 404
    assert error(api.get("nosuchset")) == (404, "BadRequest_NotFound")
    tenantless = f"{bc.url}/v2.0/production/api/v2.0/companies({bc.company_id})/currencies"
    assert len(api.value(tenantless)) == 5
    assert api.get(f"{bc.url}/v2.0/sandbox-tenant/sandbox/api/v2.0/companies").status_code == 404


def test_auth_is_checked(bc: BcEmulator) -> None:
    url = f"{bc.api_url}/companies"
    missing = requests.get(url)
    assert missing.status_code == 401 and "WWW-Authenticate" in missing.headers
    assert missing.json()["error"]["code"] == "Authentication_InvalidCredentials"
    for token in ("bogus", "wrong-aud"):
        assert requests.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer good"}).status_code == 200


# -- queries ---------------------------------------------------------------------------------------


def test_filter_select_orderby_top(api: BcApi) -> None:
    rows = api.value(
        "customers?$filter=country eq 'GB' and (blocked eq ' ' or number eq '50000')"
        "&$select=number,displayName&$orderby=number desc&$top=3"
    )
    assert [r["number"] for r in rows] == ["50000", "30000", "20000"]
    assert set(rows[0]) == {"@odata.etag", "number", "displayName"}
    cannon = seed_id("bc", "customer", "10000")
    assert [r["number"] for r in api.value(f"customers?$filter=id eq {cannon}")] == ["10000"]
    assert len(api.value("customers?$filter=currencyCode eq ''")) == 4
    assert [r["number"] for r in api.value("customers?$filter=startswith(displayName,'The')")] == ["10000"]
    assert api.value("customers?$filter=displayName eq 'the cannon group plc'") == []  # case-sensitive
    assert error(api.get("customers?$select=number,nope")) == (400, "BadRequest")
    assert error(api.get("customers?$filter=number eqq '1'")) == (400, "BadRequest")


def test_ids_joined_by_or_give_what_a_scan_gives(api: BcApi) -> None:
    """``id eq a or id eq b ...`` is looked up by key; the answer is the scan's."""
    ids = [seed_id("bc", "customer", n) for n in ("30000", "10000")] + [str(uuid.uuid4())]
    by_key = api.value("customers?$filter=" + " or ".join(f"id eq {i}" for i in ids))
    scanned = api.value("customers?$filter=(" + " or ".join(f"id eq {i}" for i in ids) + ") and number ne ''")
    assert [r["number"] for r in by_key] == [r["number"] for r in scanned]
    assert sorted(r["number"] for r in by_key) == ["10000", "30000"]
    other = seed_id("bc", "item", "1906-S")
    assert api.value(f"customers?$filter=id eq {other}") == []  # another table's id


def test_datetime_filter_on_last_modified(api: BcApi, bc: BcEmulator) -> None:
    rows = api.value("items?$orderby=lastModifiedDateTime&$select=number,lastModifiedDateTime")
    watermark = rows[3]["lastModifiedDateTime"]
    later = api.value(f"items?$filter=lastModifiedDateTime gt {watermark}&$orderby=lastModifiedDateTime")
    assert [r["number"] for r in later] == [r["number"] for r in rows[4:]]
    time.sleep(0.01)
    bc.update("items", seed_id("bc", "item", "1896-S"), {"unitPrice": 999.0})
    newest = api.value(f"items?$filter=lastModifiedDateTime gt {rows[-1]['lastModifiedDateTime']}")
    assert [r["number"] for r in newest] == ["1896-S"]


def test_paging_with_maxpagesize(api: BcApi, bc: BcEmulator) -> None:
    for i in range(41):
        bc.insert("customers", {"displayName": f"Bulk {i}"})
    url: str | None = api.url("customers?$select=number")
    seen: list[str] = []
    pages = 0
    while url:
        response = api.get(url, headers={"Prefer": "odata.maxpagesize=10"})
        assert response.headers["Preference-Applied"] == "odata.maxpagesize=10"
        body = response.json()
        seen += [r["number"] for r in body["value"]]
        url, pages = body.get("@odata.nextLink"), pages + 1
        assert url is None or (url.startswith(bc.url) and "$skiptoken=" in url)
    assert pages == 5 and len(seen) == len(set(seen)) == 50 and seen == sorted(seen)
    assert api.get("customers", headers={"Prefer": "odata.maxpagesize=20001"}).status_code == 413


def test_expand_lines_and_nested_paths(api: BcApi, bc: BcEmulator) -> None:
    orders = api.value(
        "salesOrders?$expand=salesOrderLines($select=lineObjectNumber,quantity)"
        "&$select=number,totalAmountExcludingTax"
    )
    first = orders[0]
    assert first["number"] == "S-ORD101001" and first["totalAmountExcludingTax"] == 1563.6
    assert [(ln["lineObjectNumber"], ln["quantity"]) for ln in first["salesOrderLines"]] == [
        ("1896-S", 1),
        ("1906-S", 2),
    ]
    order_id = seed_id("bc", "salesOrders", "S-ORD101001")
    nested = api.value(f"salesOrders({order_id})/salesOrderLines")
    assert [ln["sequence"] for ln in nested] == [10000, 20000]
    assert len(api.value("salesOrderLines")) == 4
    invoices = api.companion.value("postedSalesInvoices?$expand=lines&$filter=number eq '103003'")
    assert [ln["type"] for ln in invoices[0]["lines"]] == ["Item", "G/L Account"]
    customer = api.get(f"customers({seed_id('bc', 'customer', '10000')})?$expand=customerFinancialDetail")
    assert customer.json()["customerFinancialDetail"]["balance"] == 1000.0


def test_companion_and_v2_share_rows(api: BcApi) -> None:
    cannon = seed_id("bc", "customer", "10000")
    v2 = api.get(f"customers({cannon})").json()
    companion = api.companion.get(f"integrationCustomers({cannon})").json()
    assert companion["name"] == v2["displayName"] and companion["@odata.etag"] == v2["@odata.etag"]
    assert companion["lastModifiedDateTime"] == v2["lastModifiedDateTime"]
    response = api.companion.patch(
        f"integrationCustomers({cannon})",
        json={"name": "Cannon Renamed", "faxNo": "+44 1"},
        headers={"If-Match": companion["@odata.etag"]},
    )
    assert response.status_code == 200, response.text
    after = api.get(f"customers({cannon})").json()
    assert after["displayName"] == "Cannon Renamed" and after["@odata.etag"] == response.json()["@odata.etag"]
    assert (
        after["@odata.etag"] != v2["@odata.etag"]
        and after["lastModifiedDateTime"] > v2["lastModifiedDateTime"]
    )
    company_contact = api.companion.value(
        f"integrationContacts?$filter=number eq '{companion['companyContactNo']}'"
    )[0]
    assert company_contact["name"] == "Cannon Renamed" and company_contact["relatedCustomerNo"] == "10000"


def test_exchange_rates_exist_for_all_but_jpy(api: BcApi) -> None:
    rates = api.companion.value("currencyExchangeRates")
    assert sorted(r["currencyCode"] for r in rates) == ["CAD", "DKK", "EUR", "GBP"]
    assert sorted(c["code"] for c in api.value("currencies")) == ["CAD", "DKK", "EUR", "GBP", "JPY"]
    setup = api.companion.value("integrationSetup")
    assert setup[0]["lcyCode"] == "USD"


# -- writes ----------------------------------------------------------------------------------------


def test_post_returns_201_with_server_fields(api: BcApi) -> None:
    response = api.post("customers", json={"displayName": "New Co", "currencyCode": "eur"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["currencyCode"] == "EUR" and body["number"].startswith("C")
    assert body["currencyId"] == seed_id("bc", "currency", "EUR") and body["@odata.etag"].startswith('W/"')
    contact = api.companion.value(f"integrationContacts?$filter=relatedCustomerNo eq '{body['number']}'")
    assert [(c["type"], c["businessRelation"], c["name"]) for c in contact] == [
        ("Company", "Customer", "New Co")
    ]
    currency = api.post("currencies", json={"code": "nok", "displayName": "Krone"}).json()
    assert currency["code"] == "NOK"


def test_write_validation_errors(api: BcApi) -> None:
    cases = [
        ({"displayName": "x", "id": str(uuid.uuid4())}, (400, "BadRequest_InvalidOperation")),
        ({"displayName": "x", "balanceDue": 5}, (400, "BadRequest_InvalidOperation")),
        ({"displayName": "x", "faxNo": "1"}, (400, "BadRequest")),
        ({"displayName": "x" * 101}, (400, "Application_StringExceededLength")),
        ({"displayName": "x", "currencyCode": "XXX"}, (400, "Internal_InvalidTableRelation")),
        ({"displayName": "x", "blocked": "Sometimes"}, (400, "BadRequest")),
        ({"displayName": "x", "creditLimit": "lots"}, (400, "BadRequest")),
        ({"number": "10000", "displayName": "dup"}, (409, "Internal_EntityWithSameKeyExists")),
    ]
    for body, expected in cases:
        assert error(api.post("customers", json=body)) == expected, body
    assert error(api.post("customerFinancialDetails", json={})) == (
        405,
        "BadRequest_MethodNotAllowed",
    )


def test_patch_needs_if_match_and_stale_etag_is_409(api: BcApi) -> None:
    item = seed_id("bc", "item", "1900-S")
    etag = api.get(f"items({item})").json()["@odata.etag"]
    missing = api.patch(f"items({item})", json={"unitPrice": 1.0})
    assert error(missing) == (400, "BadRequest_InvalidToken")
    ok = api.patch(f"items({item})", json={"unitPrice": 2.0}, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.json()["unitPrice"] == 2.0 and ok.json()["@odata.etag"] != etag
    stale = api.patch(f"items({item})", json={"unitPrice": 3.0}, headers={"If-Match": etag})
    assert error(stale) == (409, "Request_EntityChanged")
    assert stale.json()["error"]["message"].startswith("Another user has already changed the record.")
    star = api.companion.patch(
        f"integrationItems({item})",
        json={"blocked": True},
        headers={"If-Match": "*"},
    )
    assert star.status_code == 200 and api.get(f"items({item})").json()["blocked"] is True
    assert api.delete(f"items({item})", headers={"If-Match": etag}).status_code == 409
    assert api.delete(f"items({item})").status_code == 204
    assert error(api.get(f"items({item})")) == (404, "Internal_RecordNotFound")


def test_contacts_names_and_deep_insert(api: BcApi) -> None:
    company_no = api.companion.value("integrationCustomers?$filter=number eq '40000'")[0]["companyContactNo"]
    person = api.companion.post(
        "integrationContacts",
        json={
            "type": "Person",
            "companyNo": company_no,
            "firstName": "Ada",
            "middleName": "B",
            "surname": "Lovelace",
        },
    )
    assert person.status_code == 201 and person.json()["name"] == "Ada B Lovelace"
    assert person.json()["relatedCustomerNo"] == "40000"
    order = api.post(
        "salesOrders",
        json={
            "customerNumber": "40000",
            "externalDocumentNumber": "ord-42",
            "salesOrderLines": [{"lineType": "Item", "lineObjectNumber": "1928-S", "quantity": 3}],
        },
    )
    assert order.status_code == 201, order.text
    body = order.json()
    assert body["externalDocumentNumber"] == "ORD-42" and body["customerName"] == "Deerfield Graphics Company"
    assert body["totalAmountExcludingTax"] == round(3 * 54.9, 2)
    line = api.post(
        f"salesOrders({body['id']})/salesOrderLines",
        json={"itemId": seed_id("bc", "item", "1900-S"), "quantity": 1},
    )
    assert line.status_code == 201 and line.json()["sequence"] == 20000
    assert line.json()["description"] == "PARIS Guest Chair, black"
    bad = api.post(
        "salesOrders",
        json={"customerNumber": "40000", "salesOrderLines": [{"lineObjectNumber": "1936-S", "quantity": 1}]},
    )  # blocked item: nothing is created
    assert bad.status_code == 400 and len(api.value("salesOrders")) == 3


def test_bound_actions_post_documents(api: BcApi) -> None:
    quote = seed_id("bc", "salesQuotes", "S-QUO10001")
    assert api.post(f"salesQuotes({quote})/Microsoft.NAV.makeOrder").status_code == 204
    assert api.value("salesQuotes") == [] and len(api.value("salesOrders")) == 3
    order = seed_id("bc", "salesOrders", "S-ORD101002")
    assert api.post(f"salesOrders({order})/Microsoft.NAV.shipAndInvoice").status_code == 204
    posted = api.companion.value("postedSalesInvoices?$filter=sellToCustomerNo eq '40000'&$expand=lines")
    assert posted[0]["amount"] == 1806.2 and len(posted[0]["lines"]) == 2
    invoice = seed_id("bc", "salesInvoices", "S-INV102001")
    assert api.post(f"salesInvoices({invoice})/Microsoft.NAV.post").status_code == 204
    cad = api.companion.value("postedSalesInvoices?$filter=currencyCode eq 'CAD'")[0]
    assert cad["currencyFactor"] == round(1 / 0.73, 6)
