"""The Dataverse Web API emulator over real HTTP (api-facts §A, §B, §C)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.seed import seed_id
from tests.integration.emulator_clients import DataverseApi

pytestmark = pytest.mark.usefixtures("fresh_dv")


@pytest.fixture
def api(dv: DataverseEmulator) -> DataverseApi:
    return DataverseApi(dv)


def names(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row.get("name") for row in response.json()["value"]]


# -- auth and callers -------------------------------------------------------------------------------


def test_whoami_is_the_integration_app_user(api: DataverseApi, dv: DataverseEmulator) -> None:
    body = api.get("WhoAmI").json()
    assert body["UserId"] == dv.ids["integration_user"]
    assert body["BusinessUnitId"] == dv.ids["business_unit"] and body["OrganizationId"]


def test_missing_or_bad_token_is_401(dv: DataverseEmulator) -> None:
    response = requests.get(dv.api_url + "accounts")
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    assert response.json()["error"]["code"] == "0x80072560"
    for token in ("nope", "wrong-aud"):
        assert (
            requests.get(dv.api_url + "accounts", headers={"Authorization": f"Bearer {token}"}).status_code
            == 401
        )


def test_unknown_application_is_403(dv: DataverseEmulator) -> None:
    response = requests.get(dv.api_url + "WhoAmI", headers={"Authorization": "Bearer stranger"})
    assert response.status_code == 403


def test_caller_object_id_impersonates(api: DataverseApi, dv: DataverseEmulator) -> None:
    sara = dv.get("systemusers", dv.ids["sales_user_1"])
    headers = {"CallerObjectId": sara["azureactivedirectoryobjectid"]}
    assert api.get("WhoAmI", headers=headers).json()["UserId"] == dv.ids["sales_user_1"]
    assert api.get("WhoAmI", headers={"CallerObjectId": str(uuid.uuid4())}).status_code == 403


def test_start_without_seed_is_empty() -> None:
    empty = DataverseEmulator()
    empty.start(seed=False)
    try:
        assert requests.get(empty.api_url + "accounts").json()["value"] == []
        empty.seed_demo()
        assert len(requests.get(empty.api_url + "accounts").json()["value"]) == 4
    finally:
        empty.stop()


def test_modifiedby_is_the_caller_and_human_updates_are_stamped(
    api: DataverseApi, dv: DataverseEmulator
) -> None:
    response = api.post(
        "accounts",
        json={"name": "Northwind"},
        headers={"Prefer": "return=representation"},
    )
    row = response.json()
    assert row["_modifiedby_value"] == row["_createdby_value"] == dv.ids["integration_user"]
    assert row["_ownerid_value"] == dv.ids["integration_user"]
    changed = dv.update("accounts", row["accountid"], {"telephone1": "555"})
    assert changed["_modifiedby_value"] == dv.ids["human_user"]
    assert changed["modifiedon"] > row["modifiedon"]
    other = dv.update("accounts", row["accountid"], {"fax": "1"}, by_user=dv.ids["sales_user_1"])
    assert other["_modifiedby_value"] == dv.ids["sales_user_1"]


# -- queries ---------------------------------------------------------------------------------------


def test_filter_operators(api: DataverseApi, dv: DataverseEmulator) -> None:
    assert names(api.get("accounts?$filter=name eq 'the cannon group plc'")) == ["The Cannon Group PLC"]
    assert len(names(api.get("accounts?$filter=customertypecode eq 3 and statecode eq 0"))) == 3
    assert names(
        api.get(
            "accounts?$filter=(address1_city eq 'Bothell' or address1_city eq 'Seattle')"
            " and customertypecode ne 3",
        )
    ) == ["Adventure Works Cycles"]
    assert len(names(api.get("accounts?$filter=_primarycontactid_value eq null"))) == 3
    mark = seed_id("dv", "contact", "Mark McArthur")
    assert names(api.get(f"accounts?$filter=_primarycontactid_value eq {mark.upper()}")) == [
        "The Cannon Group PLC"
    ]
    assert len(names(api.get("accounts?$filter=contains(name,'works') or startswith(name,'fab')"))) == 2


def test_keys_joined_by_or_give_what_a_scan_gives(api: DataverseApi, dv: DataverseEmulator) -> None:
    """``accountid eq a or ...`` is looked up by key (any case); the answer is the scan's."""
    rows = api.get("accounts?$select=accountid&$orderby=name asc").json()["value"]
    ids = [rows[0]["accountid"].upper(), rows[2]["accountid"], str(uuid.uuid4())]
    terms = " or ".join(f"accountid eq {i}" for i in ids)
    by_key = names(api.get(f"accounts?$filter={terms}"))
    assert by_key == names(api.get(f"accounts?$filter=({terms}) and statecode ne 9"))
    assert len(by_key) == 2
    contact = seed_id("dv", "contact", "Mark McArthur")
    assert names(api.get(f"accounts?$filter=accountid eq {contact}")) == []


def test_datetime_filter_on_modifiedon(api: DataverseApi, dv: DataverseEmulator) -> None:
    rows = api.get("accounts?$select=modifiedon&$orderby=modifiedon asc").json()["value"]
    middle = rows[1]["modifiedon"]
    later = api.get(f"accounts?$filter=modifiedon gt {middle}&$orderby=modifiedon asc").json()["value"]
    assert [r["modifiedon"] for r in later] == [r["modifiedon"] for r in rows[2:]]
    plus = middle.replace("Z", "+00:00")
    assert len(api.get("accounts", params={"$filter": f"modifiedon ge {plus}"}).json()["value"]) == 3
    assert api.get("accounts?$filter=modifiedon gt 2000-01-01T00:00:00Z").json()["value"]


def test_bad_queries_are_400(api: DataverseApi) -> None:
    for query in (
        "$filter=name eqq 'x'",
        "$select=name,nosuch",
        "$filter=nosuch eq 1",
        "$skip=2",
        "$orderby=name sideways",
        "$expand=nosuch",
    ):
        response = api.get(f"accounts?{query}")
        assert response.status_code == 400, query
        assert response.json()["error"]["code"] == "0x80060888"
    assert api.get("nosuchthings").status_code == 404


def test_select_orderby_top_and_count(api: DataverseApi) -> None:
    body = api.get("accounts?$select=name&$orderby=name desc&$top=2&$count=true").json()
    assert [r["name"] for r in body["value"]] == ["The Cannon Group PLC", "Fabrikam, Inc."]
    assert set(body["value"][0]) == {"@odata.etag", "name", "accountid"}
    assert body["@odata.count"] == 4 and body["@odata.context"].endswith("$metadata#accounts")


def test_paging_walks_next_links_without_duplicates(api: DataverseApi, dv: DataverseEmulator) -> None:
    for i in range(23):
        dv.insert("accounts", {"name": f"Bulk {i:02d}"})
    headers = {"Prefer": "odata.maxpagesize=5"}
    url, seen, pages = "accounts?$select=name&$orderby=name", [], 0
    while url:
        response = api.get(url, headers=headers)
        assert response.headers["Preference-Applied"] == "odata.maxpagesize=5"
        body = response.json()
        assert len(body["value"]) <= 5
        seen += [r["accountid"] for r in body["value"]]
        url, pages = body.get("@odata.nextLink"), pages + 1
        assert url is None or (url.startswith(dv.url) and "$skiptoken=" in url)
    assert pages == 6 and len(seen) == len(set(seen)) == 27


def test_default_page_size_comes_from_the_constructor() -> None:
    small = DataverseEmulator(page_size=2)
    small.start()
    try:
        body = requests.get(small.api_url + "accounts").json()
        assert len(body["value"]) == 2 and "@odata.nextLink" in body
        rest = requests.get(body["@odata.nextLink"]).json()
        assert len(rest["value"]) == 2 and "@odata.nextLink" not in rest
    finally:
        small.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(small.api_url + "accounts", timeout=2)


def test_expand_document_lines_and_lookups(api: DataverseApi, dv: DataverseEmulator) -> None:
    order = dv.insert(
        "salesorders",
        {
            "name": "SO-1",
            "customerid_account@odata.bind": f"/accounts({seed_id('dv', 'account', 'Fabrikam, Inc.')})",
        },
    )
    for qty in (1, 2, 3):
        dv.insert(
            "salesorderdetails",
            {
                "salesorderid@odata.bind": f"/salesorders({order['salesorderid']})",
                "isproductoverridden": True,
                "productdescription": f"x{qty}",
                "quantity": qty,
                "priceperunit": 10.0,
            },
        )
    body = api.get(
        "salesorders?$select=name&$expand=salesorder_details($select=quantity,baseamount;"
        "$orderby=quantity desc;$top=2),customerid($select=name)",
    ).json()["value"][0]
    assert [d["quantity"] for d in body["salesorder_details"]] == [3, 2]
    assert body["salesorder_details"][0]["baseamount"] == 30.0
    assert body["customerid"]["name"] == "Fabrikam, Inc."
    nested = api.get(f"salesorders({order['salesorderid']})/salesorder_details").json()["value"]
    assert len(nested) == 3
    annotated = api.get(
        f"salesorders({order['salesorderid']})?$select=_customerid_value",
        headers={"Prefer": 'odata.include-annotations="*"'},
    ).json()
    assert annotated["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"


# -- writes ----------------------------------------------------------------------------------------


def test_post_without_and_with_representation(api: DataverseApi, dv: DataverseEmulator) -> None:
    plain = api.post("accounts", json={"name": "Plain"})
    assert plain.status_code == 204 and plain.content == b""
    entity_id = plain.headers["OData-EntityId"]
    assert entity_id.startswith(dv.api_url + "accounts(")
    new_id = entity_id.rsplit("(", 1)[1].rstrip(")")
    assert dv.get("accounts", new_id)["name"] == "Plain"
    rich = api.post(
        "accounts?$select=name,modifiedon",
        json={"name": "Rich"},
        headers={"Prefer": "return=representation"},
    )
    assert rich.status_code == 201
    assert set(rich.json()) >= {"name", "modifiedon", "accountid", "@odata.etag"}
    assert "telephone1" not in rich.json()


def test_create_with_client_key_and_duplicate_key(api: DataverseApi) -> None:
    key = str(uuid.uuid4())
    first = api.post("accounts", json={"accountid": key, "name": "Keyed"})
    assert first.status_code == 204 and key in first.headers["OData-EntityId"]
    again = api.post("accounts", json={"accountid": key, "name": "Again"})
    assert again.status_code == 412
    assert again.json()["error"] == {
        "code": "0x80040237",
        "message": "A record with matching key values already exists.",
    }


def test_etag_changes_and_stale_if_match_is_412(api: DataverseApi, dv: DataverseEmulator) -> None:
    account = seed_id("dv", "account", "Fabrikam, Inc.")
    before = api.get(f"accounts({account})").json()
    url = f"accounts({account})"
    ok = api.patch(url, json={"telephone1": "1"}, headers={"If-Match": before["@odata.etag"]})
    assert ok.status_code == 204
    after = api.get(f"accounts({account})").json()
    assert after["@odata.etag"] != before["@odata.etag"] and after["versionnumber"] > before["versionnumber"]
    assert after["modifiedon"] > before["modifiedon"]
    stale = api.patch(url, json={"telephone1": "2"}, headers={"If-Match": before["@odata.etag"]})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "0x80060882"
    repr_ = api.patch(url, json={"fax": "9"}, headers={"If-Match": "*", "Prefer": "return=representation"})
    assert repr_.status_code == 200 and repr_.json()["fax"] == "9"
    assert (
        api.get(f"accounts({account})", headers={"If-None-Match": repr_.json()["@odata.etag"]}).status_code
        == 304
    )


def test_upsert_semantics(api: DataverseApi, dv: DataverseEmulator) -> None:
    key = str(uuid.uuid4())
    url = f"accounts({key})"
    assert api.patch(url, json={"name": "x"}, headers={"If-Match": "*"}).status_code == 404
    assert api.patch(url, json={"name": "Upserted"}).status_code == 204
    assert dv.get("accounts", key)["name"] == "Upserted"
    assert api.patch(url, json={"name": "y"}, headers={"If-None-Match": "*"}).status_code == 412
    assert api.delete(url, headers={"If-Match": 'W/"1"'}).status_code == 412
    assert api.delete(url).status_code == 204
    assert api.delete(url).status_code == 404


def test_bind_sets_lookup_values(api: DataverseApi, dv: DataverseEmulator) -> None:
    account = seed_id("dv", "account", "Fabrikam, Inc.")
    body = {
        "firstname": "Ann",
        "lastname": "Bind",
        "parentcustomerid_account@odata.bind": f"/accounts({account})",
        "transactioncurrencyid@odata.bind": f"transactioncurrencies({dv.ids['base_currency']})",
    }
    row = api.post(
        "contacts",
        json=body,
        headers={"Prefer": "return=representation"},
    ).json()
    assert row["_parentcustomerid_value"] == account and row["fullname"] == "Ann Bind"
    assert row["_transactioncurrencyid_value"] == dv.ids["base_currency"]
    missing = dict(body, **{"parentcustomerid_account@odata.bind": f"/accounts({uuid.uuid4()})"})
    assert api.post("contacts", json=missing).status_code == 404
    wrong = dict(body, **{"parentcustomerid_account@odata.bind": f"/systemusers({dv.ids['human_user']})"})
    assert api.post("contacts", json=wrong).status_code == 400
    unknown = {"name": "x", "nosuchnav@odata.bind": f"/accounts({account})"}
    assert api.post("accounts", json=unknown).status_code == 400


def test_read_only_and_unknown_attributes_are_400(api: DataverseApi) -> None:
    for body in (
        {"name": "x", "modifiedon": "2024-01-01T00:00:00Z"},
        {"name": "x", "versionnumber": 1},
        {"name": "x", "_modifiedby_value": str(uuid.uuid4())},
        {"name": "x", "_primarycontactid_value": str(uuid.uuid4())},
    ):
        assert api.post("accounts", json=body).status_code == 400
    response = api.post("accounts", json={"name": "x", "frobnicate": 1})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "0x80060888",
        "message": "Invalid property 'frobnicate' was found in entity 'Microsoft.Dynamics.CRM.account'.",
    }


def test_transactioncurrency_rules(api: DataverseApi) -> None:
    url = "transactioncurrencies"
    eur = {
        "currencyname": "Euro",
        "isocurrencycode": "EUR",
        "currencysymbol": "€",
        "exchangerate": 0.92,
        "currencyprecision": 2,
    }
    missing = {k: v for k, v in eur.items() if k != "exchangerate"}
    response = api.post(url, json=missing)
    assert response.status_code == 400 and "exchangerate" in response.json()["error"]["message"]
    assert api.post(url, json=dict(eur, exchangerate=0)).status_code == 400
    assert api.post(url, json=eur).status_code == 204
    duplicate = api.post(url, json=dict(eur, currencyname="Euro again"))
    assert duplicate.status_code == 412 and duplicate.json()["error"]["code"] == "0x80040237"


def test_unit_group_creates_its_base_unit(api: DataverseApi) -> None:
    response = api.post(
        "uomschedules",
        json={"name": "NAV PCS", "baseuomname": "PCS"},
        headers={"Prefer": "return=representation"},
    )
    group = response.json()["uomscheduleid"]
    units = api.get(f"uoms?$filter=_uomscheduleid_value eq {group}").json()["value"]
    assert [(u["name"], u["quantity"], u["isschedulebaseuom"]) for u in units] == [("PCS", 1.0, True)]


def test_state_model_and_locked_orders(api: DataverseApi, dv: DataverseEmulator) -> None:
    order = dv.insert("salesorders", {"name": "Lock"})
    url = f"salesorders({order['salesorderid']})"
    assert api.patch(url, json={"statecode": 1}, headers={"If-Match": "*"}).status_code == 204
    assert dv.get("salesorders", order["salesorderid"])["statuscode"] == 3
    assert api.patch(url, json={"name": "edit"}, headers={"If-Match": "*"}).status_code == 400
    assert (
        api.patch(url, json={"statecode": 0, "statuscode": 3}, headers={"If-Match": "*"}).status_code == 400
    )
    assert (
        api.patch(url, json={"statecode": 0, "statuscode": 2}, headers={"If-Match": "*"}).status_code == 204
    )
    assert api.patch(url, json={"name": "edit"}, headers={"If-Match": "*"}).status_code == 204
    product = api.post(
        "products",
        json={"name": "P", "productnumber": "P-1"},
        headers={"Prefer": "return=representation"},
    ).json()
    assert (product["statecode"], product["statuscode"]) == (2, 0)


# -- columns Dataverse fills itself or accepts on update only ---------------------------------------


def _product(dv: DataverseEmulator, number: str) -> str:
    return dv.insert("products", {"name": f"Product {number}", "productnumber": number})["productid"]


def _price_body(dv: DataverseEmulator, product_id: str) -> dict[str, Any]:
    unit = next(u for u in dv.rows("uoms") if u["_uomscheduleid_value"] == dv.ids["unit_group"])
    return {
        "pricelevelid@odata.bind": f"/pricelevels({dv.ids['price_list']})",
        "productid@odata.bind": f"/products({product_id})",
        "uomid@odata.bind": f"/uoms({unit['uomid']})",
        "pricingmethodcode": 1,
        "amount": 10.0,
    }


def test_product_price_number_is_read_only_and_copied_from_the_product(
    api: DataverseApi, dv: DataverseEmulator
) -> None:
    desk, chair = _product(dv, "1896-S"), _product(dv, "1900-S")
    refused = api.post("productpricelevels", json={**_price_body(dv, desk), "productnumber": "1896-S"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "0x80060888"
    assert "'productnumber' is read-only" in refused.json()["error"]["message"]
    assert dv.rows("productpricelevels") == []  # nothing created
    created = api.post(
        "productpricelevels", json=_price_body(dv, desk), headers={"Prefer": "return=representation"}
    )
    assert created.status_code == 201 and created.json()["productnumber"] == "1896-S"
    url = f"productpricelevels({created.json()['productpricelevelid']})"
    patched = api.patch(url, json={"productnumber": "OTHER"}, headers={"If-Match": "*"})
    assert patched.status_code == 400 and "'productnumber'" in patched.json()["error"]["message"]
    moved = api.patch(url, json={"productid@odata.bind": f"/products({chair})"}, headers={"If-Match": "*"})
    assert moved.status_code == 204
    assert api.get(url).json()["productnumber"] == "1900-S"  # follows the product


def test_invoice_totals_are_valid_for_update_only(api: DataverseApi, dv: DataverseEmulator) -> None:
    refused = api.post("invoices", json={"name": "INV", "totalamount": 120.0})
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "code": "0x80040203",
        "message": "The 'totalamount' attribute of 'invoice' is not valid for create.",
    }
    assert dv.rows("invoices") == []
    created = api.post("invoices", json={"name": "INV"}, headers={"Prefer": "return=representation"})
    assert created.status_code == 201 and created.json()["totalamount"] is None
    url = f"invoices({created.json()['invoiceid']})"
    body = {"totalamount": 120.0, "totalamountlessfreight": 100.0}
    assert api.patch(url, json=body, headers={"If-Match": "*"}).status_code == 204
    assert api.get(url).json()["totalamount"] == 120.0
    # the invoice number is valid for create only
    number = created.json()["invoicenumber"]
    renumbered = api.patch(url, json={"invoicenumber": "X-1"}, headers={"If-Match": "*"})
    assert renumbered.status_code == 400 and "not valid for update" in renumbered.json()["error"]["message"]
    assert api.get(url).json()["invoicenumber"] == number


def test_detail_line_amounts_are_computed_on_create_and_its_product_number_copied(
    api: DataverseApi, dv: DataverseEmulator
) -> None:
    desk = _product(dv, "1896-S")
    invoice = dv.insert("invoices", {"name": "INV"})["invoiceid"]
    unit = _price_body(dv, desk)["uomid@odata.bind"]
    line = {
        "invoiceid@odata.bind": f"/invoices({invoice})",
        "productid@odata.bind": f"/products({desk})",
        "uomid@odata.bind": unit,
        "quantity": 2,
        "priceperunit": 5.0,
    }
    for name in ("baseamount", "extendedamount", "volumediscountamount"):
        refused = api.post("invoicedetails", json={**line, name: 1.0})
        assert refused.status_code == 400
        assert (
            refused.json()["error"]["message"]
            == f"The '{name}' attribute of 'invoicedetail' is not valid for create."
        )
    assert dv.rows("invoicedetails") == []
    created = api.post("invoicedetails", json=line, headers={"Prefer": "return=representation"}).json()
    assert (created["baseamount"], created["extendedamount"], created["productnumber"]) == (
        10.0,
        10.0,
        "1896-S",
    )
    url = f"invoicedetails({created['invoicedetailid']})"
    assert api.patch(url, json={"baseamount": 9.5}, headers={"If-Match": "*"}).status_code == 204
    assert api.get(url).json()["baseamount"] == 9.5
    assert api.patch(url, json={"productnumber": "X"}, headers={"If-Match": "*"}).status_code == 400
