"""The Dataverse Web API emulator over real HTTP (api-facts §A, §B, §C)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.odata.multipart import PartResponse  # noqa: F401  (documents the answer shape)
from sandbox.odata.server import Fault
from sandbox.seed import SANDBOX_CLIENT_ID, seed_id

OTHER_APP = "00000000-0000-0000-0000-0000000000c2"
TOKENS: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="module")
def dv() -> Iterator[DataverseEmulator]:
    emulator = DataverseEmulator(token_verifier=TOKENS.get)
    emulator.start()
    TOKENS.update(
        {
            "good": {"appid": SANDBOX_CLIENT_ID, "oid": "sp-bcsync", "aud": emulator.url},
            "stranger": {"appid": OTHER_APP, "oid": "sp-other", "aud": emulator.url},
            "wrong-aud": {
                "appid": SANDBOX_CLIENT_ID,
                "oid": "sp-bcsync",
                "aud": "https://x.crm.dynamics.com",
            },
        }
    )
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def fresh(dv: DataverseEmulator) -> None:
    dv.seed_demo()
    dv.clear_knobs()
    dv.reset_counters()


@pytest.fixture
def api(dv: DataverseEmulator) -> requests.Session:
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": "Bearer good",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "If-None-Match": "null",
        }
    )
    session.base = dv.api_url  # type: ignore[attr-defined]
    return session


def get(api: requests.Session, path: str, **kw: Any) -> requests.Response:
    return api.get(api.base + path, **kw)  # type: ignore[attr-defined]


def names(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row.get("name") for row in response.json()["value"]]


# -- auth and callers -------------------------------------------------------------------------------


def test_whoami_is_the_integration_app_user(api: requests.Session, dv: DataverseEmulator) -> None:
    body = get(api, "WhoAmI").json()
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


def test_modifiedby_is_the_caller_and_human_updates_are_stamped(
    api: requests.Session, dv: DataverseEmulator
) -> None:
    response = api.post(
        api.base + "accounts",
        json={"name": "Northwind"},  # type: ignore[attr-defined]
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


def test_filter_operators(api: requests.Session, dv: DataverseEmulator) -> None:
    assert names(get(api, "accounts?$filter=name eq 'the cannon group plc'")) == ["The Cannon Group PLC"]
    assert len(names(get(api, "accounts?$filter=customertypecode eq 3 and statecode eq 0"))) == 3
    assert names(
        get(
            api,
            "accounts?$filter=(address1_city eq 'Bothell' or address1_city eq 'Seattle')"
            " and customertypecode ne 3",
        )
    ) == ["Adventure Works Cycles"]
    assert len(names(get(api, "accounts?$filter=_primarycontactid_value eq null"))) == 3
    mark = seed_id("dv", "contact", "Mark McArthur")
    assert names(get(api, f"accounts?$filter=_primarycontactid_value eq {mark.upper()}")) == [
        "The Cannon Group PLC"
    ]
    assert len(names(get(api, "accounts?$filter=contains(name,'works') or startswith(name,'fab')"))) == 2


def test_datetime_filter_on_modifiedon(api: requests.Session, dv: DataverseEmulator) -> None:
    rows = get(api, "accounts?$select=modifiedon&$orderby=modifiedon asc").json()["value"]
    middle = rows[1]["modifiedon"]
    later = get(api, f"accounts?$filter=modifiedon gt {middle}&$orderby=modifiedon asc").json()["value"]
    assert [r["modifiedon"] for r in later] == [r["modifiedon"] for r in rows[2:]]
    plus = middle.replace("Z", "+00:00")
    assert len(get(api, "accounts", params={"$filter": f"modifiedon ge {plus}"}).json()["value"]) == 3
    assert get(api, "accounts?$filter=modifiedon gt 2000-01-01T00:00:00Z").json()["value"]


def test_bad_queries_are_400(api: requests.Session) -> None:
    for query in (
        "$filter=name eqq 'x'",
        "$select=name,nosuch",
        "$filter=nosuch eq 1",
        "$skip=2",
        "$orderby=name sideways",
        "$expand=nosuch",
    ):
        response = get(api, f"accounts?{query}")
        assert response.status_code == 400, query
        assert response.json()["error"]["code"] == "0x80060888"
    assert get(api, "nosuchthings").status_code == 404


def test_select_orderby_top_and_count(api: requests.Session) -> None:
    body = get(api, "accounts?$select=name&$orderby=name desc&$top=2&$count=true").json()
    assert [r["name"] for r in body["value"]] == ["The Cannon Group PLC", "Fabrikam, Inc."]
    assert set(body["value"][0]) == {"@odata.etag", "name", "accountid"}
    assert body["@odata.count"] == 4 and body["@odata.context"].endswith("$metadata#accounts")


def test_paging_walks_next_links_without_duplicates(api: requests.Session, dv: DataverseEmulator) -> None:
    for i in range(23):
        dv.insert("accounts", {"name": f"Bulk {i:02d}"})
    headers = {"Prefer": "odata.maxpagesize=5"}
    url, seen, pages = api.base + "accounts?$select=name&$orderby=name", [], 0  # type: ignore[attr-defined]
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


def test_expand_document_lines_and_lookups(api: requests.Session, dv: DataverseEmulator) -> None:
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
    body = get(
        api,
        "salesorders?$select=name&$expand=salesorder_details($select=quantity,baseamount;"
        "$orderby=quantity desc;$top=2),customerid($select=name)",
    ).json()["value"][0]
    assert [d["quantity"] for d in body["salesorder_details"]] == [3, 2]
    assert body["salesorder_details"][0]["baseamount"] == 30.0
    assert body["customerid"]["name"] == "Fabrikam, Inc."
    nested = get(api, f"salesorders({order['salesorderid']})/salesorder_details").json()["value"]
    assert len(nested) == 3
    annotated = get(
        api,
        f"salesorders({order['salesorderid']})?$select=_customerid_value",
        headers={"Prefer": 'odata.include-annotations="*"'},
    ).json()
    assert annotated["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"


# -- writes ----------------------------------------------------------------------------------------


def test_post_without_and_with_representation(api: requests.Session, dv: DataverseEmulator) -> None:
    plain = api.post(api.base + "accounts", json={"name": "Plain"})  # type: ignore[attr-defined]
    assert plain.status_code == 204 and plain.content == b""
    entity_id = plain.headers["OData-EntityId"]
    assert entity_id.startswith(dv.api_url + "accounts(")
    new_id = entity_id.rsplit("(", 1)[1].rstrip(")")
    assert dv.get("accounts", new_id)["name"] == "Plain"
    rich = api.post(
        api.base + "accounts?$select=name,modifiedon",
        json={"name": "Rich"},  # type: ignore[attr-defined]
        headers={"Prefer": "return=representation"},
    )
    assert rich.status_code == 201
    assert set(rich.json()) >= {"name", "modifiedon", "accountid", "@odata.etag"}
    assert "telephone1" not in rich.json()


def test_create_with_client_key_and_duplicate_key(api: requests.Session) -> None:
    key = str(uuid.uuid4())
    first = api.post(api.base + "accounts", json={"accountid": key, "name": "Keyed"})  # type: ignore[attr-defined]
    assert first.status_code == 204 and key in first.headers["OData-EntityId"]
    again = api.post(api.base + "accounts", json={"accountid": key, "name": "Again"})  # type: ignore[attr-defined]
    assert again.status_code == 412
    assert again.json()["error"] == {
        "code": "0x80040237",
        "message": "A record with matching key values already exists.",
    }


def test_etag_changes_and_stale_if_match_is_412(api: requests.Session, dv: DataverseEmulator) -> None:
    account = seed_id("dv", "account", "Fabrikam, Inc.")
    before = get(api, f"accounts({account})").json()
    url = api.base + f"accounts({account})"  # type: ignore[attr-defined]
    ok = api.patch(url, json={"telephone1": "1"}, headers={"If-Match": before["@odata.etag"]})
    assert ok.status_code == 204
    after = get(api, f"accounts({account})").json()
    assert after["@odata.etag"] != before["@odata.etag"] and after["versionnumber"] > before["versionnumber"]
    assert after["modifiedon"] > before["modifiedon"]
    stale = api.patch(url, json={"telephone1": "2"}, headers={"If-Match": before["@odata.etag"]})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "0x80060882"
    repr_ = api.patch(url, json={"fax": "9"}, headers={"If-Match": "*", "Prefer": "return=representation"})
    assert repr_.status_code == 200 and repr_.json()["fax"] == "9"
    assert (
        get(api, f"accounts({account})", headers={"If-None-Match": repr_.json()["@odata.etag"]}).status_code
        == 304
    )


def test_upsert_semantics(api: requests.Session, dv: DataverseEmulator) -> None:
    key = str(uuid.uuid4())
    url = api.base + f"accounts({key})"  # type: ignore[attr-defined]
    assert api.patch(url, json={"name": "x"}, headers={"If-Match": "*"}).status_code == 404
    assert api.patch(url, json={"name": "Upserted"}).status_code == 204
    assert dv.get("accounts", key)["name"] == "Upserted"
    assert api.patch(url, json={"name": "y"}, headers={"If-None-Match": "*"}).status_code == 412
    assert api.delete(url, headers={"If-Match": 'W/"1"'}).status_code == 412
    assert api.delete(url).status_code == 204
    assert api.delete(url).status_code == 404


def test_bind_sets_lookup_values(api: requests.Session, dv: DataverseEmulator) -> None:
    account = seed_id("dv", "account", "Fabrikam, Inc.")
    body = {
        "firstname": "Ann",
        "lastname": "Bind",
        "parentcustomerid_account@odata.bind": f"/accounts({account})",
        "transactioncurrencyid@odata.bind": f"transactioncurrencies({dv.ids['base_currency']})",
    }
    row = api.post(
        api.base + "contacts",
        json=body,  # type: ignore[attr-defined]
        headers={"Prefer": "return=representation"},
    ).json()
    assert row["_parentcustomerid_value"] == account and row["fullname"] == "Ann Bind"
    assert row["_transactioncurrencyid_value"] == dv.ids["base_currency"]
    missing = dict(body, **{"parentcustomerid_account@odata.bind": f"/accounts({uuid.uuid4()})"})
    assert api.post(api.base + "contacts", json=missing).status_code == 404  # type: ignore[attr-defined]
    wrong = dict(body, **{"parentcustomerid_account@odata.bind": f"/systemusers({dv.ids['human_user']})"})
    assert api.post(api.base + "contacts", json=wrong).status_code == 400  # type: ignore[attr-defined]
    unknown = {"name": "x", "nosuchnav@odata.bind": f"/accounts({account})"}
    assert api.post(api.base + "accounts", json=unknown).status_code == 400  # type: ignore[attr-defined]


def test_read_only_and_unknown_attributes_are_400(api: requests.Session) -> None:
    for body in (
        {"name": "x", "modifiedon": "2024-01-01T00:00:00Z"},
        {"name": "x", "versionnumber": 1},
        {"name": "x", "_modifiedby_value": str(uuid.uuid4())},
        {"name": "x", "_primarycontactid_value": str(uuid.uuid4())},
    ):
        assert api.post(api.base + "accounts", json=body).status_code == 400  # type: ignore[attr-defined]
    response = api.post(api.base + "accounts", json={"name": "x", "frobnicate": 1})  # type: ignore[attr-defined]
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "0x80060888",
        "message": "Invalid property 'frobnicate' was found in entity 'Microsoft.Dynamics.CRM.account'.",
    }


def test_transactioncurrency_rules(api: requests.Session) -> None:
    url = api.base + "transactioncurrencies"  # type: ignore[attr-defined]
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


def test_unit_group_creates_its_base_unit(api: requests.Session) -> None:
    response = api.post(
        api.base + "uomschedules",
        json={"name": "NAV PCS", "baseuomname": "PCS"},  # type: ignore[attr-defined]
        headers={"Prefer": "return=representation"},
    )
    group = response.json()["uomscheduleid"]
    units = get(api, f"uoms?$filter=_uomscheduleid_value eq {group}").json()["value"]
    assert [(u["name"], u["quantity"], u["isschedulebaseuom"]) for u in units] == [("PCS", 1.0, True)]


def test_state_model_and_locked_orders(api: requests.Session, dv: DataverseEmulator) -> None:
    order = dv.insert("salesorders", {"name": "Lock"})
    url = api.base + f"salesorders({order['salesorderid']})"  # type: ignore[attr-defined]
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
        api.base + "products",
        json={"name": "P", "productnumber": "P-1"},  # type: ignore[attr-defined]
        headers={"Prefer": "return=representation"},
    ).json()
    assert (product["statecode"], product["statuscode"]) == (2, 0)


# -- $batch ----------------------------------------------------------------------------------------


def _multipart(parts: list[str], changeset: list[str] | None = None) -> tuple[str, bytes]:
    lines: list[str] = []
    if changeset is not None:
        lines += ["--batch_x", "Content-Type: multipart/mixed; boundary=changeset_y", ""]
        for i, part in enumerate(changeset, 1):
            lines += [
                "--changeset_y",
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                f"Content-ID: {i}",
                "",
                part,
            ]
        lines += ["--changeset_y--"]
    for part in parts:
        lines += [
            "--batch_x",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "",
            part,
        ]
    lines += ["--batch_x--", ""]
    return "multipart/mixed; boundary=batch_x", "\r\n".join(lines).encode()


def _post_part(url: str, body: str) -> str:
    return f"POST {url} HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{body}"


def test_batch_changeset_with_content_id_references(api: requests.Session, dv: DataverseEmulator) -> None:
    changeset = [
        _post_part("/api/data/v9.2/accounts", '{"name": "Batch Co"}'),
        _post_part(
            "/api/data/v9.2/contacts", '{"lastname": "Ref", "parentcustomerid_account@odata.bind": "$1"}'
        ),
        'PATCH $1 HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: *\r\n\r\n{"telephone1": "42"}',
    ]
    content_type, body = _multipart(
        ["GET accounts?$select=name&$top=1 HTTP/1.1\r\nAccept: application/json\r\n"], changeset
    )
    response = api.post(api.base + "$batch", data=body, headers={"Content-Type": content_type})  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    text = response.text
    assert "changesetresponse_" in text and text.count("HTTP/1.1 204") == 3 and "HTTP/1.1 200" in text
    account = next(r for r in dv.rows("accounts") if r["name"] == "Batch Co")
    contact = next(r for r in dv.rows("contacts") if r["lastname"] == "Ref")
    assert contact["_parentcustomerid_value"] == account["accountid"] and account["telephone1"] == "42"
    counters = dv.counters()
    assert counters["by_method"]["BATCH"] == 1 and counters["by_method"]["POST"] == 2
    assert counters["writes"] == 3 and counters["total"] == 1


def test_batch_changeset_rolls_back_on_failure(api: requests.Session, dv: DataverseEmulator) -> None:
    before = len(dv.rows("accounts"))
    changeset = [
        _post_part("/api/data/v9.2/accounts", '{"name": "Ghost"}'),
        _post_part("/api/data/v9.2/accounts", '{"name": "Bad", "nosuch": 1}'),
    ]
    content_type, body = _multipart([], changeset)
    response = api.post(api.base + "$batch", data=body, headers={"Content-Type": content_type})  # type: ignore[attr-defined]
    assert response.status_code == 400 and "HTTP/1.1 400" in response.text
    assert "0x80060888" in response.text and len(dv.rows("accounts")) == before


def test_batch_continue_on_error(api: requests.Session, dv: DataverseEmulator) -> None:
    parts = [
        _post_part("accounts", '{"name": "One"}'),
        _post_part("accounts", '{"bad": 1}'),
        _post_part("accounts", '{"name": "Three"}'),
    ]
    content_type, body = _multipart(parts)
    stop = api.post(api.base + "$batch", data=body, headers={"Content-Type": content_type})  # type: ignore[attr-defined]
    assert stop.status_code == 400 and "Three" not in {r["name"] for r in dv.rows("accounts")}
    dv.seed_demo()
    go_on = api.post(
        api.base + "$batch",
        data=body,
        headers={  # type: ignore[attr-defined]
            "Content-Type": content_type,
            "Prefer": "odata.continue-on-error",
        },
    )
    assert go_on.status_code == 200 and go_on.text.count("HTTP/1.1 204") == 2
    assert {"One", "Three"} <= {r["name"] for r in dv.rows("accounts")}


def test_batch_limit(api: requests.Session) -> None:
    content_type, body = _multipart([_post_part("accounts", '{"name": "x"}')] * 1001)
    assert (
        api.post(
            api.base + "$batch",
            data=body,
            headers={"Content-Type": content_type},  # type: ignore[attr-defined]
        ).status_code
        == 400
    )


# -- knobs, counters, admin -------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(api: requests.Session, dv: DataverseEmulator) -> None:
    dv.set_knobs(rate_limit=(3, 60.0))
    assert [get(api, "accounts").status_code for _ in range(3)] == [200, 200, 200]
    throttled = get(api, "accounts")
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["error"] == {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    }
    dv.set_knobs(rate_limit=(1, 60.0), retry_after=7)
    get(api, "accounts")
    assert get(api, "accounts").headers["Retry-After"] == "7"
    dv.clear_knobs()
    assert get(api, "accounts").status_code == 200


def test_faults_are_consumed_per_matching_request(api: requests.Session, dv: DataverseEmulator) -> None:
    dv.set_knobs(faults=[Fault(status=503, count=2, method="GET", entity="accounts", retry_after=2)])
    assert get(api, "contacts").status_code == 200
    first = get(api, "accounts")
    assert first.status_code == 503 and first.headers["Retry-After"] == "2"
    assert first.json()["error"]["code"]
    assert get(api, "accounts").status_code == 503
    assert get(api, "accounts").status_code == 200
    dv.set_knobs(faults=[Fault(status=504, count=1, delay_s=0.3)])
    with pytest.raises(requests.Timeout):
        get(api, "accounts", timeout=0.1)


def test_counters_and_admin_routes(api: requests.Session, dv: DataverseEmulator) -> None:
    get(api, "accounts")
    api.post(api.base + "accounts", json={"name": "Counted"})  # type: ignore[attr-defined]
    admin = dv.url + "/_admin"
    counters = requests.get(admin + "/counters").json()
    assert counters["total"] == 2 and counters["writes"] == 1
    assert counters["by_entity"]["accounts"] == {"GET": 1, "POST": 1}
    created = requests.post(admin + "/records/accounts", json={"name": "Admin Co"}).json()
    patched = requests.patch(admin + f"/records/accounts/{created['accountid']}", json={"fax": "7"}).json()
    assert patched["fax"] == "7" and patched["_modifiedby_value"] == dv.ids["human_user"]
    assert any(r["name"] == "Admin Co" for r in requests.get(admin + "/records/accounts").json()["value"])
    assert requests.delete(admin + f"/records/accounts/{created['accountid']}").status_code == 204
    knobs = requests.post(admin + "/knobs", json={"latency_ms": 5, "faults": [{"status": 500, "count": 1}]})
    assert knobs.json()["faults"][0]["status"] == 500
    assert get(api, "accounts").status_code == 500
    assert requests.post(admin + "/counters/reset").status_code == 204
    assert requests.post(admin + "/seed").status_code == 204
    assert dv.counters()["total"] == 0 and not any(r["name"] == "Counted" for r in dv.rows("accounts"))
