"""Companion sales documents (extension 1.1) over real HTTP: headers, lines, notes, VAT, archives."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.bc_emulator import BcEmulator
from sandbox.seed import seed_id
from tests.integration.emulator_clients import BcApi, error

pytestmark = pytest.mark.usefixtures("fresh_bc")
ANY = {"If-Match": "*"}


@pytest.fixture
def api(bc: BcEmulator) -> BcApi:
    return BcApi(bc)


def create(api: BcApi, **body: Any) -> dict[str, Any]:
    body.setdefault("documentType", "Order")
    body.setdefault("sellToCustomerNo", "10000")
    response = api.companion.post("salesDocuments", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def lines(api: BcApi, doc_id: str) -> list[dict[str, Any]]:
    return api.companion.value(f"salesDocuments({doc_id})/lines")


def message(response: Any) -> str:
    return str(response.json()["error"]["message"]).split("  CorrelationId")[0]


def counts(api: BcApi) -> tuple[int, int]:
    return len(api.companion.value("salesDocuments")), len(api.companion.value("salesDocumentLines"))


# -- headers ----------------------------------------------------------------------------------------


def test_deep_insert_numbers_and_shares_the_id_with_v2(api: BcApi) -> None:
    order = create(api, yourReference="ORD-1001", externalDocumentNo="po 77",
                   lines=[{"type": "Item", "number": "1896-S", "quantity": 2},
                          {"type": "Resource", "number": "LINDA", "quantity": 3}])  # fmt: skip
    assert (order["number"], order["status"], order["docNoOccurrence"]) == ("S-ORD101003", "Open", 1)
    assert order["externalDocumentNo"] == "PO 77" and order["billToName"] == "The Cannon Group PLC"
    assert [(ln["lineNo"], ln["type"], ln["number"]) for ln in lines(api, order["id"])] == [
        (10000, "Item", "1896-S"),
        (20000, "Resource", "LINDA"),
    ]
    quote = create(api, documentType="Quote", sellToCustomerNo="30000")
    assert quote["number"] == "S-QUO10002"
    v2_order = api.get(f"salesOrders({order['id']})").json()
    assert (v2_order["number"], v2_order["externalDocumentNumber"], v2_order["status"]) == (
        "S-ORD101003",
        "PO 77",
        "Draft",  # BC's Open is v2.0's Draft
    )
    assert [ln["lineObjectNumber"] for ln in api.value(f"salesOrders({order['id']})/salesOrderLines")] == [
        "1896-S",
        "LINDA",
    ]
    assert api.get(f"salesQuotes({quote['id']})").json()["number"] == "S-QUO10002"
    assert error(api.get(f"salesOrders({quote['id']})")) == (404, "Internal_RecordNotFound")
    v2_made = api.post("salesQuotes", json={"customerNumber": "40000"}).json()
    seen = api.companion.get(f"salesDocuments({v2_made['id']})").json()
    assert (seen["documentType"], seen["number"], seen["sellToCustomerNo"]) == (
        "Quote",
        v2_made["number"],
        "40000",
    )
    invoice = seed_id("bc", "salesInvoices", "S-INV102001")
    assert api.companion.get(f"salesDocuments({invoice})").status_code == 404  # Quote and Order only
    assert {d["number"] for d in api.companion.value("salesDocuments")} >= {"S-ORD101001", "S-QUO10001"}


def test_deep_insert_is_all_or_nothing(api: BcApi) -> None:
    before = counts(api)
    cases = [
        ({"type": "Item", "number": "NOPE", "quantity": 1},
         "The field No. of table Sales Line contains a value (NOPE) that cannot be found in the related "
         "table (Item)."),
        ({"type": "Item", "number": "1936-S", "quantity": 1},
         "Blocked must be equal to 'No' in Item: No.=1936-S. Current value is 'Yes'."),
        ({"type": " ", "description": "x" * 101}, "The length of the string is 101, but it must be less "
         f"than or equal to 100 characters. Value: {'x' * 101}"),
    ]  # fmt: skip
    for bad_line, text in cases:
        body = {"documentType": "Order", "sellToCustomerNo": "10000",
                "lines": [{"type": "Item", "number": "1900-S", "quantity": 1}, bad_line]}  # fmt: skip
        response = api.companion.post("salesDocuments", json=body)
        assert response.status_code == 400 and message(response) == text
    assert counts(api) == before  # not even the header
    assert create(api)["number"] == "S-ORD101003"  # no number was used up


def test_text_too_long_and_code_fields(api: BcApi) -> None:
    too_long = api.companion.post(
        "salesDocuments",
        json={"documentType": "Order", "sellToCustomerNo": "10000", "yourReference": "R" * 36},
    )
    assert error(too_long) == (400, "Application_StringExceededLength")
    assert message(too_long) == (
        "The length of the string is 36, but it must be less than or equal to 35 characters. "
        f"Value: {'R' * 36}"
    )
    doc = create(api, externalDocumentNo="order no. 5", yourReference="Mixed Case")
    assert (doc["externalDocumentNo"], doc["yourReference"]) == ("ORDER NO. 5", "Mixed Case")
    long_code = api.companion.patch(
        f"salesDocuments({doc['id']})", json={"externalDocumentNo": "e" * 36}, headers=ANY
    )
    assert error(long_code) == (400, "Application_StringExceededLength")
    assert (
        error(
            api.companion.post(
                "salesDocuments", json={"documentType": "Invoice", "sellToCustomerNo": "10000"}
            )
        )[0]
        == 400
    )
    ro = api.companion.patch(f"salesDocuments({doc['id']})", json={"status": "Released"}, headers=ANY)
    assert error(ro) == (400, "BadRequest_InvalidOperation")
    renamed = api.companion.patch(f"salesDocuments({doc['id']})", json={"documentType": "Quote"}, headers=ANY)
    assert message(renamed) == "You cannot rename a Sales Header."


def test_status_must_be_open_for_header_and_line_changes(api: BcApi) -> None:
    doc = create(api, lines=[{"type": "Item", "number": "1900-S", "quantity": 1}])
    line = lines(api, doc["id"])[0]
    assert api.companion.post(f"salesDocuments({doc['id']})/Microsoft.NAV.release").status_code == 204
    assert api.companion.get(f"salesDocuments({doc['id']})").json()["status"] == "Released"
    assert api.get(f"salesOrders({doc['id']})").json()["status"] == "Open"  # v2.0's name for Released
    text = (
        "Status must be equal to 'Open' in Sales Header: Document Type=Order, No.=S-ORD101003. "
        "Current value is 'Released'."
    )
    attempts = [
        api.companion.patch(f"salesDocuments({doc['id']})", json={"yourReference": "x"}, headers=ANY),
        api.companion.post(f"salesDocuments({doc['id']})/lines", json={"type": "Item", "number": "1928-S"}),
        api.companion.patch(
            f"salesDocuments({doc['id']})/lines({line['id']})", json={"quantity": 5}, headers=ANY
        ),
        api.companion.delete(f"salesDocuments({doc['id']})/lines({line['id']})"),
        api.patch(f"salesOrders({doc['id']})", json={"discountAmount": 1}, headers=ANY),
    ]
    for response in attempts:
        assert error(response) == (400, "Application_DialogException") and message(response) == text
    assert lines(api, doc["id"])[0]["quantity"] == 1
    assert api.companion.post(f"salesDocuments({doc['id']})/Microsoft.NAV.reopen").status_code == 204
    ok = api.companion.patch(
        f"salesDocuments({doc['id']})/lines({line['id']})", json={"quantity": 5}, headers=ANY
    )
    assert ok.status_code == 200 and ok.json()["quantity"] == 5
    assert api.get(f"salesOrders({doc['id']})").json()["status"] == "Draft"


def test_release_needs_a_line_with_a_quantity(api: BcApi) -> None:
    doc = create(api, lines=[{"type": " ", "description": "only text"}])
    response = api.companion.post(f"salesDocuments({doc['id']})/Microsoft.NAV.release")
    assert (
        message(response)
        == "There is nothing to release for the document of type Order with the number S-ORD101003."
    )
    assert api.companion.get(f"salesDocuments({doc['id']})").json()["status"] == "Open"
    assert api.companion.post(f"salesDocuments({doc['id']})/Microsoft.NAV.post").status_code == 400


def test_archive_versions_count_per_document(api: BcApi) -> None:
    quote = create(api, documentType="Quote", yourReference="QUO-7", externalDocumentNo="q7")
    other = seed_id("bc", "salesQuotes", "S-QUO10001")
    for doc_id in (quote["id"], quote["id"], other):
        assert api.companion.post(f"salesDocuments({doc_id})/Microsoft.NAV.archive").status_code == 204
    archives = api.companion.value("salesDocumentArchives?$filter=documentType eq 'Quote'")
    assert [(a["number"], a["docNoOccurrence"], a["versionNo"]) for a in archives] == [
        ("S-QUO10001", 1, 1),
        ("S-QUO10002", 1, 1),
        ("S-QUO10002", 1, 2),
    ]
    assert (archives[2]["yourReference"], archives[2]["externalDocumentNo"]) == ("QUO-7", "Q7")
    assert archives[1]["archivedAt"] < archives[2]["archivedAt"]
    assert api.companion.get(f"salesDocuments({quote['id']})").status_code == 200  # the document stays
    assert error(api.companion.post("salesDocumentArchives", json={})) == (405, "BadRequest_MethodNotAllowed")
    assert error(api.companion.post(f"salesDocuments({quote['id']})/Microsoft.NAV.makeOrder"))[0] == 400


# -- lines ------------------------------------------------------------------------------------------


def test_line_defaults_and_validation(api: BcApi, bc: BcEmulator) -> None:
    doc = create(api)
    path = f"salesDocuments({doc['id']})/lines"

    def post(**line: Any) -> Any:
        return api.companion.post(path, json=line)

    item = post(type="Item", number="1908-S", quantity=1).json()
    resource = post(type="Resource", number="MARTY", quantity=2).json()
    assert [(ln["description"], ln["unitPrice"], ln["unitOfMeasureCode"]) for ln in (item, resource)] == [
        ("LONDON Swivel Chair, blue", 190.1, "PCS"), ("Marty Horst", 100.0, "HOUR")]  # fmt: skip
    freight = post(type="G/L Account", number="6810", quantity=1, unitPrice=25).json()
    assert (freight["description"], freight["amount"]) == ("Freight", 25)
    own = post(type="Item", number="WRITEIN", description="Custom desk", quantity=1, unitPrice=300).json()
    assert own["description"] == "Custom desk" and own["amount"] == 300
    assert [ln["lineNo"] for ln in lines(api, doc["id"])] == [10000, 20000, 30000, 40000]
    bc.update("resources", seed_id("bc", "resource", "TERRY"), {"blocked": True})
    missing = (
        "The field No. of table Sales Line contains a value ({}) that cannot be found in the related "
        "table ({})."
    )
    refusals = [
        (post(type="Resource", number="TERRY"),
         "Blocked must be equal to 'No' in Resource: No.=TERRY. Current value is 'Yes'."),
        (post(type="Resource", number="NOBODY"), missing.format("NOBODY", "Resource")),
        (post(type="G/L Account", number="9999"), missing.format("9999", "G/L Account")),
        (post(type=" ", number="X1", description="t"), missing.format("X1", "Standard Text")),
        (post(type="Item", number="1900-S", lineNo=20000),
         "The Sales Line already exists. Identification fields and values: "
         "Document Type='Order',Document No.='S-ORD101003',Line No.='20000'"),
    ]  # fmt: skip
    for response, text in refusals:
        assert response.status_code in (400, 409) and message(response) == text
    assert len(lines(api, doc["id"])) == 4


def test_text_lines_attach_to_their_product_line(api: BcApi) -> None:
    doc = create(api, lines=[
        {"lineNo": 10000, "type": "Item", "number": "1896-S", "quantity": 1},
        {"lineNo": 20000, "type": " ", "description": "first 100", "attachedToLineNo": 10000},
        {"lineNo": 30000, "type": " ", "description": "rest", "attachedToLineNo": 10000},
        {"lineNo": 35000, "type": "Item", "number": "1928-S", "quantity": 1},
    ])  # fmt: skip
    rows = lines(api, doc["id"])
    assert [(ln["lineNo"], ln["type"], ln["number"], ln["attachedToLineNo"]) for ln in rows] == [
        (10000, "Item", "1896-S", 0),
        (20000, " ", "", 10000),
        (30000, " ", "", 10000),
        (35000, "Item", "1928-S", 0),
    ]
    assert rows[1]["amount"] == 0 and rows[1]["outstandingQuantity"] == 0
    added = api.companion.post(f"salesDocuments({doc['id']})/lines", json={"type": " ", "description": "end"})
    assert added.json()["lineNo"] == 45000  # 10000 after the last
    flat = api.companion.post(
        "salesDocumentLines", json={"documentId": doc["id"], "type": " ", "description": "flat"}
    )
    assert flat.status_code == 201 and flat.json()["lineNo"] == 55000
    assert api.companion.delete(f"salesDocuments({doc['id']})/lines({rows[0]['id']})").status_code == 204
    assert [ln["lineNo"] for ln in lines(api, doc["id"])] == [35000, 45000, 55000]  # attached text went too
    assert len(api.companion.value(f"salesDocumentLines?$filter=documentId eq {doc['id']}")) == 3


# -- notes, VAT ----------------------------------------------------------------------------------------


def test_notes_post_get_delete(api: BcApi) -> None:
    doc = create(api, lines=[{"type": "Item", "number": "1900-S", "quantity": 1}])
    path = f"salesDocuments({doc['id']})/notes"
    dated = api.companion.post(path, json={"description": "Call", "noteText": "Ring back\nMonday",
                                           "createdAt": "2025-03-01T09:30:00Z"})  # fmt: skip
    assert dated.status_code == 201 and dated.json()["createdAt"] == "2025-03-01T09:30:00.000Z"
    now = api.companion.post(path, json={"description": "Later", "noteText": "x"}).json()
    assert now["createdAt"] > "2025-03-01" and now["createdAt"].endswith("Z")
    assert [n["description"] for n in api.companion.value(path)] == ["Call", "Later"]
    assert error(api.companion.patch(f"{path}({now['id']})", json={"noteText": "y"}, headers=ANY))[0] == 405
    assert api.companion.get("salesDocumentNotes").status_code == 404  # only under its document
    assert api.companion.post(f"salesDocuments({doc['id']})/Microsoft.NAV.release").status_code == 204
    assert api.companion.delete(f"{path}({now['id']})").status_code == 204  # notes need no Status Open
    assert [n["noteText"] for n in api.companion.value(path)] == ["Ring back\nMonday"]
    assert api.companion.delete(f"salesDocuments({doc['id']})").status_code == 204
    assert api.companion.get(path).status_code == 404
    assert [ln for ln in api.companion.value("salesDocumentLines") if ln["documentId"] == doc["id"]] == []


def test_vat_and_invoice_discount_amounts(api: BcApi) -> None:
    domestic = create(api, lines=[{"type": "Item", "number": "1896-S", "quantity": 1},  # VAT25
                                  {"type": "Item", "number": "1928-S", "quantity": 2}])  # fmt: skip
    assert (domestic["amount"], domestic["amountIncludingVat"]) == (
        1110.6,
        1371.78,
    )  # 1000.8*1.25 + 109.8*1.1
    assert domestic["pricesIncludingVat"] is False
    eu = create(api, sellToCustomerNo="60000", lines=[{"type": "Item", "number": "1896-S", "quantity": 1}])
    assert (eu["amount"], eu["amountIncludingVat"], eu["currencyCode"]) == (1000.8, 1000.8, "EUR")
    discounted = api.companion.patch(
        f"salesDocuments({domestic['id']})", json={"invoiceDiscountAmount": 100}, headers=ANY
    )
    assert discounted.status_code == 200, discounted.text
    body = discounted.json()
    assert (body["invoiceDiscountAmount"], body["amount"]) == (100, 1010.6)
    first, second = lines(api, domestic["id"])
    assert (first["amount"], second["amount"]) == (910.69, 99.91)  # 100 spread by line amount
    assert body["amountIncludingVat"] == 1248.26  # 1138.36 + 109.90
    v2 = api.get(f"salesOrders({domestic['id']})").json()
    assert (v2["totalAmountExcludingTax"], v2["totalAmountIncludingTax"], v2["discountAmount"]) == (
        1010.6, body["amountIncludingVat"], 100)  # fmt: skip
    assert v2["totalTaxAmount"] == round(body["amountIncludingVat"] - 1010.6, 2)
    too_much = api.companion.patch(
        f"salesDocuments({domestic['id']})", json={"invoiceDiscountAmount": 2000}, headers=ANY
    )
    assert message(too_much) == "The maximum Invoice Discount Amount that you can apply is 1110.60."
    line_discount = create(
        api, lines=[{"type": "Item", "number": "1900-S", "quantity": 3, "lineDiscountAmount": 30.4}]
    )
    assert (line_discount["amount"], line_discount["amountIncludingVat"]) == (
        548.0,
        685.0,
    )  # 3 x 192.8 - 30.4
    included = create(api, lines=[{"type": "Item", "number": "1960-S", "quantity": 1}])  # price incl. VAT
    assert lines(api, included["id"])[0]["unitPrice"] == 154.24 and included["amountIncludingVat"] == 192.8


def test_vat_setups_and_added_fields(api: BcApi) -> None:
    setups = {(s["vatBusPostingGroup"], s["vatProdPostingGroup"]): s["vatPercent"]
              for s in api.companion.value("vatPostingSetups")}  # fmt: skip
    assert setups[("DOMESTIC", "VAT25")] == 25 and setups[("DOMESTIC", "VAT10")] == 10
    assert setups[("DOMESTIC", "NO VAT")] == 0 and setups[("EU", "VAT25")] == 0
    assert error(api.companion.post("vatPostingSetups", json={})) == (405, "BadRequest_MethodNotAllowed")
    chair = api.companion.value("integrationItems?$filter=number eq '1960-S'")[0]
    assert (chair["priceIncludesVat"], chair["vatBusPostingGrPrice"], chair["vatProdPostingGroup"]) == (
        True,
        "DOMESTIC",
        "VAT25",
    )
    assert api.get(f"items({chair['id']})").json()["priceIncludesTax"] is True  # one stored field
    customers = {c["number"]: c["vatBusPostingGroup"] for c in api.companion.value("integrationCustomers")}
    assert (customers["10000"], customers["60000"], customers["90000"]) == ("DOMESTIC", "EU", "EXPORT")
    entries = [
        i["lastDetailedEntryNo"]
        for i in api.companion.value("postedSalesInvoices?$filter=lastDetailedEntryNo gt 2")
    ]
    assert entries == [4, 5]
    setup = api.companion.value("integrationSetup")[0]
    assert (setup["writeInProductType"], setup["writeInProductNo"], setup["freightGlAccountNo"]) == (
        "Item",
        "WRITEIN",
        "6810",
    )
    assert setup["autoCreateSalesOrders"] is True and setup["autoProcessQuotes"] is True
    assert [a["displayName"] for a in api.value("accounts?$filter=number eq '6810'")] == ["Freight"]
