"""The Dataverse emulator's quote messages over real HTTP: ReviseQuote, WinQuote, CloseQuote,
ConvertQuoteToSalesOrder (api-facts §A.4, §A.5, §I)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.seed import seed_id
from tests.integration.emulator_clients import DataverseApi, error, multipart_batch

pytestmark = pytest.mark.usefixtures("fresh_dv")
ALL = {"AllColumns": True}


@pytest.fixture
def api(dv: DataverseEmulator) -> DataverseApi:
    return DataverseApi(dv)


def _quote(dv: DataverseEmulator, *, active: bool = False) -> dict[str, Any]:
    """A quote for Fabrikam with a write-in line and a product line (Active when asked)."""
    product = dv.insert("products", {"name": "Desk", "productnumber": "1896-S"})["productid"]
    unit = next(u for u in dv.rows("uoms") if u["_uomscheduleid_value"] == dv.ids["unit_group"])["uomid"]
    quote = dv.insert(
        "quotes",
        {
            "name": "Office refit",
            "description": "Two desks",
            "effectiveto": "2030-06-30",
            "customerid_account@odata.bind": f"/accounts({seed_id('dv', 'account', 'Fabrikam, Inc.')})",
            "pricelevelid@odata.bind": f"/pricelevels({dv.ids['price_list']})",
        },
    )
    lines = [
        {
            "isproductoverridden": True,
            "productdescription": "Delivery",
            "quantity": 1,
            "priceperunit": 40.0,
            "sequencenumber": 2,
        },
        {
            "productid@odata.bind": f"/products({product})",
            "uomid@odata.bind": f"/uoms({unit})",
            "quantity": 2,
            "priceperunit": 150.0,
            "manualdiscountamount": 10.0,
            "sequencenumber": 1,
        },
    ]
    for line in lines:
        dv.insert("quotedetails", {**line, "quoteid@odata.bind": f"/quotes({quote['quoteid']})"})
    if active:
        dv.update("quotes", quote["quoteid"], {"statecode": 1, "statuscode": 2})
    return dv.get("quotes", quote["quoteid"]) or {}


def _lines(dv: DataverseEmulator, entity_set: str, fk: str, parent: str) -> list[dict[str, Any]]:
    rows = [r for r in dv.rows(entity_set) if r[fk] == parent]
    return sorted(rows, key=lambda r: r["sequencenumber"])


def _state(dv: DataverseEmulator, quote_id: str) -> tuple[int, int]:
    row = dv.get("quotes", quote_id) or {}
    return row["statecode"], row["statuscode"]


def _won(api: DataverseApi, quote_id: str, status: int = 4) -> Any:
    close = {"subject": "Won it", "quoteid@odata.bind": f"/quotes({quote_id})"}
    return api.post("WinQuote", json={"QuoteClose": close, "Status": status})


# -- ReviseQuote ----------------------------------------------------------------------------------------


def test_revise_closes_the_quote_and_copies_it_as_a_new_draft_revision(
    api: DataverseApi, dv: DataverseEmulator
) -> None:
    old = _quote(dv, active=True)
    columns = {"Columns": ["name", "quotenumber", "revisionnumber", "customerid"]}
    response = api.post("ReviseQuote", json={"QuoteId": old["quoteid"], "ColumnSet": columns})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#quotes/$entity")
    assert set(body) == {
        "@odata.context",
        "@odata.etag",
        "quoteid",
        "name",
        "quotenumber",
        "revisionnumber",
        "_customerid_value",
    }
    assert _state(dv, old["quoteid"]) == (3, 7)  # Closed / Revised
    new = dv.get("quotes", body["quoteid"]) or {}
    assert new["quoteid"] != old["quoteid"] and (new["statecode"], new["statuscode"]) == (0, 1)
    assert new["quotenumber"] == old["quotenumber"] == body["quotenumber"]
    assert (old["revisionnumber"], new["revisionnumber"]) == (0, 1)
    for name in ("name", "description", "effectiveto", "_customerid_value", "_pricelevelid_value"):
        assert new[name] == old[name], name
    old_lines = _lines(dv, "quotedetails", "_quoteid_value", old["quoteid"])
    new_lines = _lines(dv, "quotedetails", "_quoteid_value", new["quoteid"])
    assert len(new_lines) == len(old_lines) == 2
    for copy, line in zip(new_lines, old_lines, strict=True):
        assert copy["quotedetailid"] != line["quotedetailid"]
        for name in (
            "productdescription",
            "_productid_value",
            "_uomid_value",
            "quantity",
            "priceperunit",
            "manualdiscountamount",
            "baseamount",
            "extendedamount",
            "isproductoverridden",
        ):
            assert copy[name] == line[name], name
    assert new_lines[0]["extendedamount"] == 290.0  # 2 x 150 - 10, copied


def test_revisions_count_up_and_only_active_or_lost_quotes_can_be_revised(
    api: DataverseApi, dv: DataverseEmulator
) -> None:
    draft = _quote(dv)
    refused = api.post("ReviseQuote", json={"QuoteId": draft["quoteid"], "ColumnSet": ALL})
    assert error(refused) == (400, "0x80040203") and "Draft" in refused.json()["error"]["message"]
    assert _state(dv, draft["quoteid"]) == (0, 1) and len(dv.rows("quotes")) == 1
    dv.update("quotes", draft["quoteid"], {"statecode": 1, "statuscode": 2})
    first = api.post("ReviseQuote", json={"QuoteId": draft["quoteid"], "ColumnSet": ALL}).json()
    again = api.post("ReviseQuote", json={"QuoteId": draft["quoteid"], "ColumnSet": ALL})
    assert error(again) == (400, "0x80040203")  # already revised
    dv.update("quotes", first["quoteid"], {"statecode": 1, "statuscode": 2})
    lost = {"subject": "Lost", "quoteid@odata.bind": f"/quotes({first['quoteid']})"}
    assert api.post("CloseQuote", json={"QuoteClose": lost, "Status": 5}).status_code == 204
    assert _state(dv, first["quoteid"]) == (3, 5)
    second = api.post("ReviseQuote", json={"QuoteId": first["quoteid"], "ColumnSet": ALL})
    assert second.status_code == 200 and second.json()["revisionnumber"] == 2
    assert second.json()["quotenumber"] == draft["quotenumber"] and len(dv.rows("quotes")) == 3


def test_action_parameter_errors_have_dataverse_shape(api: DataverseApi, dv: DataverseEmulator) -> None:
    quote = _quote(dv, active=True)
    missing = seed_id("dv", "quote", "missing")
    cases = [
        ({"QuoteId": missing, "ColumnSet": ALL}, (404, "0x80040217")),
        ({"QuoteId": "not-a-guid", "ColumnSet": ALL}, (400, "0x80060888")),
        ({"QuoteId": quote["quoteid"]}, (400, "0x80060888")),
        ({"QuoteId": quote["quoteid"], "ColumnSet": ALL, "Extra": 1}, (400, "0x80060888")),
        ({"QuoteId": quote["quoteid"], "ColumnSet": {"Columns": ["nosuch"]}}, (400, "0x80041103")),
    ]
    for body, expected in cases:
        response = api.post("ReviseQuote", json=body)
        assert error(response) == expected, body
        assert response.json()["error"]["message"]
    assert api.get("ReviseQuote").status_code == 405
    assert _state(dv, quote["quoteid"]) == (1, 2) and len(dv.rows("quotes")) == 1


# -- WinQuote / CloseQuote ----------------------------------------------------------------------------------


def test_win_quote_needs_an_active_quote_and_records_the_close_activity(
    api: DataverseApi, dv: DataverseEmulator
) -> None:
    quote = _quote(dv)
    refused = _won(api, quote["quoteid"])
    assert error(refused) == (400, "0x80040203") and "Active" in refused.json()["error"]["message"]
    assert _state(dv, quote["quoteid"]) == (0, 1) and dv.rows("quotecloses") == []
    dv.update("quotes", quote["quoteid"], {"statecode": 1, "statuscode": 2})
    assert error(_won(api, quote["quoteid"], status=5)) == (400, "0x80040203")  # 5 is a Closed status
    no_quote = api.post("WinQuote", json={"QuoteClose": {"subject": "x"}, "Status": 4})
    assert error(no_quote) == (400, "0x80040203")
    won = _won(api, quote["quoteid"])
    assert won.status_code == 204 and won.content == b""
    assert _state(dv, quote["quoteid"]) == (2, 4)
    [activity] = dv.rows("quotecloses")
    assert activity["subject"] == "Won it" and activity["_quoteid_value"] == quote["quoteid"]
    assert (activity["statecode"], activity["statuscode"]) == (1, 2)
    assert activity["_ownerid_value"] == dv.ids["integration_user"]
    assert error(_won(api, quote["quoteid"])) == (400, "0x80040203")  # already won


def test_won_status_minus_one_is_the_default(api: DataverseApi, dv: DataverseEmulator) -> None:
    quote = _quote(dv, active=True)
    assert _won(api, quote["quoteid"], status=-1).status_code == 204
    assert _state(dv, quote["quoteid"]) == (2, 4)


# -- ConvertQuoteToSalesOrder ---------------------------------------------------------------------------


def test_convert_a_won_quote_copies_header_and_lines_into_a_new_order(
    api: DataverseApi, dv: DataverseEmulator
) -> None:
    quote = _quote(dv, active=True)
    assert _won(api, quote["quoteid"]).status_code == 204
    columns = {"Columns": ["salesorderid", "quoteid", "name", "statecode"]}
    response = api.post("ConvertQuoteToSalesOrder", json={"QuoteId": quote["quoteid"], "ColumnSet": columns})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#salesorders/$entity")
    assert set(body) == {
        "@odata.context",
        "@odata.etag",
        "salesorderid",
        "_quoteid_value",
        "name",
        "statecode",
    }
    order = dv.get("salesorders", body["salesorderid"]) or {}
    assert order["_quoteid_value"] == quote["quoteid"] and (order["statecode"], order["statuscode"]) == (0, 1)
    for name in ("name", "description", "_customerid_value", "_pricelevelid_value"):
        assert order[name] == quote[name], name
    assert order["ordernumber"].startswith("ORD-") and order["_ownerid_value"] == dv.ids["integration_user"]
    quote_lines = _lines(dv, "quotedetails", "_quoteid_value", quote["quoteid"])
    order_lines = _lines(dv, "salesorderdetails", "_salesorderid_value", order["salesorderid"])
    assert [ln["_quotedetailid_value"] for ln in order_lines] == [ln["quotedetailid"] for ln in quote_lines]
    for copy, line in zip(order_lines, quote_lines, strict=True):
        for name in ("productdescription", "_productid_value", "quantity", "priceperunit", "extendedamount"):
            assert copy[name] == line[name], name
    assert _state(dv, quote["quoteid"]) == (2, 4)  # still won


def test_convert_wins_an_active_quote_first_and_refuses_a_draft(
    api: DataverseApi, dv: DataverseEmulator
) -> None:
    draft = _quote(dv)
    refused = api.post("ConvertQuoteToSalesOrder", json={"QuoteId": draft["quoteid"], "ColumnSet": ALL})
    assert error(refused) == (400, "0x80040203") and dv.rows("salesorders") == []
    dv.update("quotes", draft["quoteid"], {"statecode": 1, "statuscode": 2})
    body = {
        "QuoteId": draft["quoteid"],
        "ColumnSet": ALL,
        "QuoteCloseSubject": "Signed",
        "QuoteCloseStatus": 4,
    }
    response = api.post("ConvertQuoteToSalesOrder", json=body)
    assert response.status_code == 200 and response.json()["_quoteid_value"] == draft["quoteid"]
    assert _state(dv, draft["quoteid"]) == (2, 4)
    assert [a["subject"] for a in dv.rows("quotecloses")] == ["Signed"]


def test_a_failed_action_changes_nothing(api: DataverseApi, dv: DataverseEmulator) -> None:
    quote = _quote(dv, active=True)
    product_line = _lines(dv, "quotedetails", "_quoteid_value", quote["quoteid"])[0]
    dv.delete("products", product_line["_productid_value"])  # the line loses its product
    response = api.post("ConvertQuoteToSalesOrder", json={"QuoteId": quote["quoteid"], "ColumnSet": ALL})
    assert error(response) == (400, "0x80040200")  # the copied line has no product
    assert _state(dv, quote["quoteid"]) == (1, 2)  # not won after all
    assert (
        dv.rows("salesorders") == [] and dv.rows("salesorderdetails") == [] and dv.rows("quotecloses") == []
    )


def test_actions_run_inside_a_batch_changeset(api: DataverseApi, dv: DataverseEmulator) -> None:
    quote = _quote(dv, active=True)
    close = {"subject": "B", "quoteid@odata.bind": f"/quotes({quote['quoteid']})"}
    win = json.dumps({"QuoteClose": close, "Status": 4})
    parts = [
        f"POST /api/data/v9.2/WinQuote HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{win}",
        'POST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"nosuch": 1}',
    ]
    content_type, body = multipart_batch([], parts)
    response = api.post("$batch", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 400 and "HTTP/1.1 400" in response.text
    assert _state(dv, quote["quoteid"]) == (1, 2) and dv.rows("quotecloses") == []  # rolled back
