"""The Business Central API v2.0 + companion API emulator over real HTTP (api-facts §E)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.bc_emulator import BcEmulator
from sandbox.odata.server import Fault
from sandbox.seed import SANDBOX_CLIENT_ID, seed_id

AUDIENCE = "https://api.businesscentral.dynamics.com"
TOKENS = {
    "good": {"appid": SANDBOX_CLIENT_ID, "oid": "sp-bcsync", "aud": AUDIENCE},
    "other": {"appid": "someone-else", "oid": "sp-other", "aud": AUDIENCE},
    "wrong-aud": {"appid": SANDBOX_CLIENT_ID, "oid": "sp-bcsync", "aud": "https://graph.microsoft.com"},
}


@pytest.fixture(scope="module")
def bc() -> Iterator[BcEmulator]:
    emulator = BcEmulator(token_verifier=TOKENS.get)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def fresh(bc: BcEmulator) -> None:
    bc.seed_demo()
    bc.clear_knobs()
    bc.reset_counters()


class Api:
    """Tiny client: paths relative to the v2.0 or companion company root."""

    def __init__(self, bc: BcEmulator, token: str = "good") -> None:
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self.v2 = f"{bc.api_url}/companies({bc.company_id})/"
        self.companion = f"{bc.companion_url}/companies({bc.company_id})/"

    def call(self, method: str, path: str, companion: bool = False, **kw: Any) -> requests.Response:
        url = path if path.startswith("http") else (self.companion if companion else self.v2) + path
        return self.session.request(method, url, **kw)

    def get(self, path: str, companion: bool = False, **kw: Any) -> requests.Response:
        return self.call("GET", path, companion, **kw)

    def value(self, path: str, companion: bool = False, **kw: Any) -> list[dict]:
        response = self.get(path, companion, **kw)
        assert response.status_code == 200, response.text
        return response.json()["value"]


@pytest.fixture
def api(bc: BcEmulator) -> Api:
    return Api(bc)


def error(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# -- roots, auth ----------------------------------------------------------------------------------


def test_companies_and_roots(api: Api, bc: BcEmulator) -> None:
    assert bc.api_url == f"{bc.url}/v2.0/sandbox-tenant/production/api/v2.0"
    companies = api.value(f"{bc.api_url}/companies")
    assert [(c["id"], c["name"]) for c in companies] == [(bc.company_id, "CRONUS Sandbox")]
    assert api.get(f"{bc.api_url}/companies({uuid.uuid4()})/customers").status_code == 404
    assert api.get("integrationCustomers").status_code == 404  # companion set on the v2.0 root
    assert api.get("customers", companion=True).status_code == 404
    assert error(api.get("nosuchset")) == (404, "BadRequest_NotFound")


def test_auth_is_checked(bc: BcEmulator) -> None:
    url = f"{bc.api_url}/companies"
    missing = requests.get(url)
    assert missing.status_code == 401 and "WWW-Authenticate" in missing.headers
    assert missing.json()["error"]["code"] == "Authentication_InvalidCredentials"
    for token in ("bogus", "wrong-aud"):
        assert requests.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer good"}).status_code == 200


# -- queries ---------------------------------------------------------------------------------------


def test_filter_select_orderby_top(api: Api) -> None:
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


def test_datetime_filter_on_last_modified(api: Api, bc: BcEmulator) -> None:
    rows = api.value("items?$orderby=lastModifiedDateTime&$select=number,lastModifiedDateTime")
    watermark = rows[3]["lastModifiedDateTime"]
    later = api.value(f"items?$filter=lastModifiedDateTime gt {watermark}&$orderby=lastModifiedDateTime")
    assert [r["number"] for r in later] == [r["number"] for r in rows[4:]]
    time.sleep(0.01)
    bc.update("items", seed_id("bc", "item", "1896-S"), {"unitPrice": 999.0})
    newest = api.value(f"items?$filter=lastModifiedDateTime gt {rows[-1]['lastModifiedDateTime']}")
    assert [r["number"] for r in newest] == ["1896-S"]


def test_paging_with_maxpagesize(api: Api, bc: BcEmulator) -> None:
    for i in range(41):
        bc.insert("customers", {"displayName": f"Bulk {i}"})
    url: str | None = api.v2 + "customers?$select=number"
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


def test_expand_lines_and_nested_paths(api: Api, bc: BcEmulator) -> None:
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
    invoices = api.value("postedSalesInvoices?$expand=lines&$filter=number eq '103003'", companion=True)
    assert [ln["type"] for ln in invoices[0]["lines"]] == ["Item", "G/L Account"]
    customer = api.get(f"customers({seed_id('bc', 'customer', '10000')})?$expand=customerFinancialDetail")
    assert customer.json()["customerFinancialDetail"]["balance"] == 1000.0


def test_companion_and_v2_share_rows(api: Api) -> None:
    cannon = seed_id("bc", "customer", "10000")
    v2 = api.get(f"customers({cannon})").json()
    companion = api.get(f"integrationCustomers({cannon})", companion=True).json()
    assert companion["name"] == v2["displayName"] and companion["@odata.etag"] == v2["@odata.etag"]
    assert companion["lastModifiedDateTime"] == v2["lastModifiedDateTime"]
    response = api.call(
        "PATCH",
        f"integrationCustomers({cannon})",
        companion=True,
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
    company_contact = api.value(
        f"integrationContacts?$filter=number eq '{companion['companyContactNo']}'", companion=True
    )[0]
    assert company_contact["name"] == "Cannon Renamed" and company_contact["relatedCustomerNo"] == "10000"


def test_exchange_rates_exist_for_all_but_jpy(api: Api) -> None:
    rates = api.value("currencyExchangeRates", companion=True)
    assert sorted(r["currencyCode"] for r in rates) == ["CAD", "DKK", "EUR", "GBP"]
    assert sorted(c["code"] for c in api.value("currencies")) == ["CAD", "DKK", "EUR", "GBP", "JPY"]
    setup = api.value("integrationSetup", companion=True)
    assert setup[0]["lcyCode"] == "USD"


# -- writes ----------------------------------------------------------------------------------------


def test_post_returns_201_with_server_fields(api: Api) -> None:
    response = api.call("POST", "customers", json={"displayName": "New Co", "currencyCode": "eur"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["currencyCode"] == "EUR" and body["number"].startswith("C")
    assert body["currencyId"] == seed_id("bc", "currency", "EUR") and body["@odata.etag"].startswith('W/"')
    contact = api.value(
        f"integrationContacts?$filter=relatedCustomerNo eq '{body['number']}'", companion=True
    )
    assert [(c["type"], c["businessRelation"], c["name"]) for c in contact] == [
        ("Company", "Customer", "New Co")
    ]
    currency = api.call("POST", "currencies", json={"code": "nok", "displayName": "Krone"}).json()
    assert currency["code"] == "NOK"


def test_write_validation_errors(api: Api) -> None:
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
        assert error(api.call("POST", "customers", json=body)) == expected, body
    assert error(api.call("POST", "customerFinancialDetails", json={})) == (
        405,
        "BadRequest_MethodNotAllowed",
    )


def test_patch_needs_if_match_and_stale_etag_is_409(api: Api) -> None:
    item = seed_id("bc", "item", "1900-S")
    etag = api.get(f"items({item})").json()["@odata.etag"]
    missing = api.call("PATCH", f"items({item})", json={"unitPrice": 1.0})
    assert error(missing) == (400, "BadRequest_InvalidToken")
    ok = api.call("PATCH", f"items({item})", json={"unitPrice": 2.0}, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.json()["unitPrice"] == 2.0 and ok.json()["@odata.etag"] != etag
    stale = api.call("PATCH", f"items({item})", json={"unitPrice": 3.0}, headers={"If-Match": etag})
    assert error(stale) == (409, "Request_EntityChanged")
    assert stale.json()["error"]["message"].startswith("Another user has already changed the record.")
    star = api.call(
        "PATCH",
        f"integrationItems({item})",
        companion=True,
        json={"blocked": True},
        headers={"If-Match": "*"},
    )
    assert star.status_code == 200 and api.get(f"items({item})").json()["blocked"] is True
    assert api.call("DELETE", f"items({item})", headers={"If-Match": etag}).status_code == 409
    assert api.call("DELETE", f"items({item})").status_code == 204
    assert error(api.get(f"items({item})")) == (404, "Internal_RecordNotFound")


def test_contacts_names_and_deep_insert(api: Api) -> None:
    company_no = api.value("integrationCustomers?$filter=number eq '40000'", companion=True)[0][
        "companyContactNo"
    ]
    person = api.call(
        "POST",
        "integrationContacts",
        companion=True,
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
    order = api.call(
        "POST",
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
    line = api.call(
        "POST",
        f"salesOrders({body['id']})/salesOrderLines",
        json={"itemId": seed_id("bc", "item", "1900-S"), "quantity": 1},
    )
    assert line.status_code == 201 and line.json()["sequence"] == 20000
    assert line.json()["description"] == "PARIS Guest Chair, black"
    bad = api.call(
        "POST",
        "salesOrders",
        json={"customerNumber": "40000", "salesOrderLines": [{"lineObjectNumber": "1936-S", "quantity": 1}]},
    )  # blocked item: nothing is created
    assert bad.status_code == 400 and len(api.value("salesOrders")) == 3


def test_bound_actions_post_documents(api: Api) -> None:
    quote = seed_id("bc", "salesQuotes", "S-QUO10001")
    assert api.call("POST", f"salesQuotes({quote})/Microsoft.NAV.makeOrder").status_code == 204
    assert api.value("salesQuotes") == [] and len(api.value("salesOrders")) == 3
    order = seed_id("bc", "salesOrders", "S-ORD101002")
    assert api.call("POST", f"salesOrders({order})/Microsoft.NAV.shipAndInvoice").status_code == 204
    posted = api.value(
        "postedSalesInvoices?$filter=sellToCustomerNo eq '40000'&$expand=lines", companion=True
    )
    assert posted[0]["amount"] == 1806.2 and len(posted[0]["lines"]) == 2
    invoice = seed_id("bc", "salesInvoices", "S-INV102001")
    assert api.call("POST", f"salesInvoices({invoice})/Microsoft.NAV.post").status_code == 204
    cad = api.value("postedSalesInvoices?$filter=currencyCode eq 'CAD'", companion=True)[0]
    assert cad["currencyFactor"] == round(1 / 0.73, 6)


# -- $batch ----------------------------------------------------------------------------------------


def _batch(api: Api, bc: BcEmulator, requests_: list[dict], atomic: bool) -> requests.Response:
    headers = {"Isolation": "snapshot"} if atomic else {}
    return api.session.post(f"{bc.api_url}/$batch", json={"requests": requests_}, headers=headers)


def _ops(bc: BcEmulator) -> list[dict]:
    base = f"companies({bc.company_id})"
    item = seed_id("bc", "item", "1906-S")
    return [
        {
            "id": "1",
            "method": "POST",
            "url": f"{base}/customers",
            "body": {"displayName": "Batch A"},
            "headers": {"Content-Type": "application/json"},
        },
        {
            "id": "2",
            "method": "PATCH",
            "url": f"{base}/items({item})",
            "body": {"unitPrice": 1.5},
            "headers": {"If-Match": "*"},
        },
        {"id": "3", "method": "POST", "url": f"{base}/customers", "body": {"displayName": "B", "nope": 1}},
        {"id": "4", "method": "GET", "url": f"{base}/currencies?$select=code"},
    ]


def test_json_batch_without_isolation_keeps_successes(api: Api, bc: BcEmulator) -> None:
    response = _batch(api, bc, _ops(bc), atomic=False)
    assert response.status_code == 200
    statuses = {r["id"]: r["status"] for r in response.json()["responses"]}
    assert statuses == {"1": 201, "2": 200, "3": 400, "4": 200}
    assert any(c["displayName"] == "Batch A" for c in api.value("customers"))
    counters = bc.counters()
    assert counters["by_method"]["BATCH"] == 1 and counters["writes"] == 3
    assert counters["by_entity"]["customers"]["POST"] == 2


def test_json_batch_with_snapshot_isolation_rolls_back(api: Api, bc: BcEmulator) -> None:
    response = _batch(api, bc, _ops(bc), atomic=True)
    assert response.status_code == 200
    answers = response.json()["responses"]
    assert [(a["id"], a["status"]) for a in answers] == [("3", 400)]
    assert not any(c["displayName"] == "Batch A" for c in api.value("customers"))
    assert api.get(f"items({seed_id('bc', 'item', '1906-S')})").json()["unitPrice"] == 281.4
    ok = _batch(api, bc, [op for op in _ops(bc) if op["id"] != "3"], atomic=True)
    assert [a["status"] for a in ok.json()["responses"]] == [201, 200, 200]
    assert (
        api.session.post(
            f"{bc.companion_url}/$batch",
            json={
                "requests": [
                    {"id": "x", "method": "GET", "url": f"companies({bc.company_id})/shippingAgents"}
                ]
            },
        ).json()["responses"][0]["status"]
        == 200
    )
    too_many = _batch(api, bc, [_ops(bc)[3]] * 101, atomic=False)
    assert too_many.status_code == 400


# -- knobs, counters, admin -------------------------------------------------------------------------


def test_rate_limit_is_per_user(api: Api, bc: BcEmulator) -> None:
    bc.set_knobs(rate_limit=(2, 30.0))
    assert [api.get("currencies").status_code for _ in range(2)] == [200, 200]
    throttled = api.get("currencies")
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["error"]["code"] == "Application_TooManyRequests"
    assert Api(bc, "other").get("currencies").status_code == 200
    bc.clear_knobs()
    assert api.get("currencies").status_code == 200


def test_faults_latency_and_counters(api: Api, bc: BcEmulator) -> None:
    bc.set_knobs(
        faults=[
            Fault(status=503, count=1, method="PATCH", retry_after=3),
            Fault(status=500, count=1, entity="items"),
        ]
    )
    assert error(api.get("items")) == (500, "Internal_ServerError")
    assert api.get("items").status_code == 200
    item = seed_id("bc", "item", "1900-S")
    failed = api.call("PATCH", f"items({item})", json={"unitPrice": 1.0}, headers={"If-Match": "*"})
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "3"
    bc.set_knobs(latency_ms=150)
    started = time.monotonic()
    api.get("currencies")
    assert time.monotonic() - started >= 0.15
    counters = bc.counters()
    assert counters["total"] == 4 and counters["writes"] == 1
    assert counters["by_entity"]["items"] == {"GET": 2, "PATCH": 1}
    bc.reset_counters()
    assert bc.counters()["total"] == 0


def test_admin_routes(bc: BcEmulator) -> None:
    admin = bc.url + "/_admin"
    created = requests.post(
        admin + "/records/integrationItems", json={"number": "ADM-1", "description": "Admin"}
    )
    assert created.status_code == 201
    item = created.json()
    assert (
        requests.patch(admin + f"/records/items/{item['id']}", json={"inventory": 7}).json()["inventory"] == 7
    )
    assert any(r["number"] == "ADM-1" for r in requests.get(admin + "/records/items").json()["value"])
    assert requests.delete(admin + f"/records/items/{item['id']}").status_code == 204
    requests.post(admin + "/knobs", json={"rate_limit": [1, 60]})
    assert bc.knobs()["rate_limit"] == (1, 60.0)
    assert requests.post(admin + "/knobs/clear").status_code == 200 and bc.knobs()["rate_limit"] is None
    assert requests.get(admin + "/counters").json()["total"] == 0
    assert requests.post(admin + "/seed").status_code == 204
