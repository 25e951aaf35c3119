"""BC's account statistics table and the invoice state rules in the Dataverse emulator, over HTTP.

``nav_accountstatisticses`` rows (create with a given id, update, read) linked from accounts
(api-facts §I "Account statistics"), and closed invoices (api-facts §I "Invoice state").
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.seed import seed_id
from tests.integration.emulator_clients import DataverseApi

pytestmark = pytest.mark.usefixtures("fresh_dv")
ANY = {"If-Match": "*"}
RETURN = {"Prefer": "return=representation"}
STATISTICS = {
    "nav_name": "The Cannon Group PLC", "nav_customerno": "10000", "nav_balancelcy": 1250.5,
    "nav_outstandingorderslcy": 300.0, "nav_shippednotinvoicedlcy": 12.5, "nav_outstandinginvoiceslcy": 0.0,
    "nav_totallcy": 1563.0, "nav_creditlimitlcy": 15000.0, "nav_overdueamountslcy": 250.0,
    "nav_overdueamountsasof": "2026-03-31", "nav_totalsaleslcy": 9000.0,
    "nav_invoicedprepaymentamountlcy": 0.0,
}  # fmt: skip
CANNON = seed_id("dv", "account", "The Cannon Group PLC")
PAID, CANCELED = {"statecode": 2, "statuscode": 100001}, {"statecode": 3, "statuscode": 100003}
BILLED = {"statecode": 0, "statuscode": 4}
LINES_REFUSED = "The lines of this invoice can't be changed because it isn't in an editable state."


@pytest.fixture
def api(dv: DataverseEmulator) -> DataverseApi:
    return DataverseApi(dv)


def failure(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


# -- nav_accountstatistics ------------------------------------------------------------------------


def create_statistics(api: DataverseApi, **extra: Any) -> dict[str, Any]:
    response = api.post("nav_accountstatisticses", json={**STATISTICS, **extra}, headers=RETURN)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_with_a_given_id_update_and_read(api: DataverseApi, dv: DataverseEmulator) -> None:
    names = [s["name"] for s in api.get("").json()["value"]]
    assert "nav_accountstatisticses" in names
    given = str(uuid.uuid4())
    row = create_statistics(api, nav_accountstatisticsid=given)
    assert row["nav_accountstatisticsid"] == given
    assert {k: row[k] for k in STATISTICS} == STATISTICS
    assert row["_transactioncurrencyid_value"] == dv.ids["base_currency"]  # the org's base currency
    assert "_organizationid_value" in row and "_ownerid_value" not in row  # organization-owned
    url = f"nav_accountstatisticses({given})"
    assert api.patch(url, json={"nav_balancelcy": 1.0, "nav_totallcy": 313.5}, headers=ANY).status_code == 204
    changed = api.get(f"{url}?$select=nav_balancelcy,nav_totallcy,nav_customerno").json()
    assert (changed["nav_balancelcy"], changed["nav_totallcy"], changed["nav_customerno"]) == (
        1.0,
        313.5,
        "10000",
    )
    assert changed["nav_accountstatisticsid"] == given
    found = api.value("nav_accountstatisticses?$filter=nav_customerno eq '10000'&$select=nav_name")
    assert [r["nav_accountstatisticsid"] for r in found] == [given]
    again = api.post("nav_accountstatisticses", json={**STATISTICS, "nav_accountstatisticsid": given})
    assert failure(again)[:2] == (412, "0x80040237")
    unknown = api.post("nav_accountstatisticses", json={"nav_balance": 1})
    assert failure(unknown)[:2] == (400, "0x80060888")
    owned = api.post(
        "nav_accountstatisticses", json={"ownerid@odata.bind": f"/systemusers({dv.ids['integration_user']})"}
    )
    assert failure(owned)[:2] == (400, "0x80060888")


def test_upsert_creates_with_the_key_of_the_url(api: DataverseApi, dv: DataverseEmulator) -> None:
    key = str(uuid.uuid4())
    currency = f"/transactioncurrencies({dv.ids['base_currency']})"
    body = {**STATISTICS, "transactioncurrencyid@odata.bind": currency}
    created = api.patch(f"nav_accountstatisticses({key})", json=body, headers=RETURN)
    assert created.status_code == 201 and created.json()["nav_accountstatisticsid"] == key
    assert dv.get("nav_accountstatisticses", key)["nav_totalsaleslcy"] == 9000.0


def test_account_links_its_statistics(api: DataverseApi) -> None:
    row = create_statistics(api)
    stats_id = row["nav_accountstatisticsid"]
    link = {"nav_accountstatisticsid@odata.bind": f"/nav_accountstatisticses({stats_id})"}
    assert api.patch(f"accounts({CANNON})", json=link, headers=ANY).status_code == 204
    account = api.get(
        f"accounts({CANNON})?$select=name,_nav_accountstatisticsid_value"
        "&$expand=nav_accountstatisticsid($select=nav_balancelcy,nav_customerno)",
        headers={"Prefer": 'odata.include-annotations="*"'},
    ).json()
    assert account["_nav_accountstatisticsid_value"] == stats_id
    assert account["_nav_accountstatisticsid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == (
        "nav_accountstatistics")  # fmt: skip
    assert account["nav_accountstatisticsid"]["nav_balancelcy"] == 1250.5
    linked = api.value(f"accounts?$filter=_nav_accountstatisticsid_value eq {stats_id}&$select=name")
    assert [a["accountid"] for a in linked] == [CANNON]
    missing = {"nav_accountstatisticsid@odata.bind": f"/nav_accountstatisticses({uuid.uuid4()})"}
    assert failure(api.patch(f"accounts({CANNON})", json=missing, headers=ANY))[:2] == (404, "0x80040217")
    wrong = {"nav_accountstatisticsid@odata.bind": f"/accounts({CANNON})"}
    assert failure(api.patch(f"accounts({CANNON})", json=wrong, headers=ANY))[0] == 400
    assert api.delete(f"nav_accountstatisticses({stats_id})").status_code == 204
    assert api.get(f"accounts({CANNON})").json()["_nav_accountstatisticsid_value"] is None


# -- closed invoices ----------------------------------------------------------------------------------


def invoice_with_line(api: DataverseApi) -> tuple[str, str]:
    invoice = api.post("invoices", json={"name": "103001"}, headers=RETURN).json()["invoiceid"]
    line = {"invoiceid@odata.bind": f"/invoices({invoice})", "isproductoverridden": True,
            "productdescription": "Freight", "quantity": 1, "priceperunit": 40.0}  # fmt: skip
    created = api.post("invoicedetails", json=line, headers=RETURN)
    assert created.status_code == 201, created.text
    return invoice, created.json()["invoicedetailid"]


def state(api: DataverseApi, invoice: str) -> tuple[int, int]:
    row = api.get(f"invoices({invoice})").json()
    return row["statecode"], row["statuscode"]


def test_active_invoice_is_paid_or_canceled_and_back(api: DataverseApi) -> None:
    invoice, _ = invoice_with_line(api)
    url = f"invoices({invoice})"
    assert api.patch(url, json={"statecode": 2, "statuscode": 100002}, headers=ANY).status_code == 204
    assert state(api, invoice) == (2, 100002)
    assert api.patch(url, json=BILLED, headers=ANY).status_code == 204
    assert api.patch(url, json=CANCELED, headers=ANY).status_code == 204
    assert api.patch(url, json=BILLED, headers=ANY).status_code == 204
    assert api.patch(url, json=PAID, headers=ANY).status_code == 204  # BC: Canceled -> Active -> Paid
    assert state(api, invoice) == (2, 100001)
    assert api.patch(url, json={"statecode": 0}, headers=ANY).status_code == 204  # default status
    assert state(api, invoice) == (0, 1)


def test_closed_invoice_only_goes_back_to_active(api: DataverseApi) -> None:
    invoice, _ = invoice_with_line(api)
    url = f"invoices({invoice})"
    assert api.patch(url, json=PAID, headers=ANY).status_code == 204
    before = api.get(url).json()
    for change in (CANCELED, {"statuscode": 100002}, {"statecode": 2, "statuscode": 100002}, PAID):
        status, code, message = failure(api.patch(url, json=change, headers=ANY))
        assert (status, code) == (400, "0x80040203"), change
        assert message.startswith("The target state is invalid.")
        assert "a closed invoice (statecode 2, statuscode 100001) must be set to statecode 0" in message
    edit = failure(api.patch(url, json={**BILLED, "name": "changed"}, headers=ANY))
    assert edit[:2] == (400, "0x80040203") and "isn't in an editable state" in edit[2]  # Active first
    assert failure(api.patch(url, json={"name": "changed"}, headers=ANY))[0] == 400
    assert api.get(url).json() == before
    assert api.patch(url, json=BILLED, headers=ANY).status_code == 204
    assert api.patch(url, json={"name": "changed", "totalamount": 40.0}, headers=ANY).status_code == 204
    assert api.get(url).json()["name"] == "changed"


def test_lines_of_a_closed_invoice_cannot_change(api: DataverseApi) -> None:
    invoice, line = invoice_with_line(api)
    assert api.patch(f"invoices({invoice})", json=CANCELED, headers=ANY).status_code == 204
    line_url = f"invoicedetails({line})"
    for response in (
        api.patch(line_url, json={"quantity": 2}, headers=ANY),
        api.delete(line_url),
        api.post(f"invoices({invoice})/invoice_details", json={"isproductoverridden": True,
                                                               "productdescription": "x", "quantity": 1}),
    ):  # fmt: skip
        assert failure(response) == (400, "0x80040203", LINES_REFUSED)
    assert len(api.value(f"invoices({invoice})/invoice_details")) == 1
    assert api.patch(f"invoices({invoice})", json=BILLED, headers=ANY).status_code == 204
    assert api.patch(line_url, json={"quantity": 2}, headers=ANY).status_code == 204
    assert api.delete(line_url).status_code == 204
