"""Active and won Dataverse quotes become BC sales quotes and orders (BC §5.4) through the webhook
route, the document queue function, the auto-process timer and ``process-quote``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.stack import SandboxStack
from sync_core.sales.quotes import QUOTE_MAPPING
from tests.e2e.host import fire_timer, http
from tests.e2e.operator_support import command_json, run_command
from tests.e2e.sales_world import (
    activate,
    bc_documents,
    bc_lines,
    crm_document,
    deliver_documents,
    dv_action,
    prepare_sales,
    submit,
)
from tests.e2e.world import context

URL = "http://localhost/api/webhooks/dataverse"
ALL = {"AllColumns": True}


@pytest.fixture
def sales(stack: SandboxStack) -> SandboxStack:
    prepare_sales(stack, context())
    return stack


def _quote(stack: SandboxStack) -> dict[str, Any]:
    lines = [
        {"item": "1896-S", "quantity": 2, "priceperunit": 1000.0, "description": "ATHENS Desk"},
        {"productdescription": "Installation", "quantity": 1, "priceperunit": 80.0},
    ]
    return crm_document(stack, context(), lines, "quotes", name="Office refit", effectiveto="2027-01-31")


def _webhook(stack: SandboxStack, quote_id: str) -> None:
    body = {"MessageName": "Update", "PrimaryEntityName": "quote", "PrimaryEntityId": quote_id}
    headers = {"x-webhook-secret": stack.webhook_secret}
    assert http("dataverse_webhook", "POST", URL, json.dumps(body).encode(), headers).status_code == 202


def _archives(stack: SandboxStack, number: str) -> list[int]:
    rows = stack.bc.rows("salesDocumentArchives")
    return sorted(r["versionNo"] for r in rows if r["number"] == number and r["documentType"] == "Quote")


def test_an_activated_quote_becomes_a_bc_quote_that_follows_its_revisions(sales: SandboxStack) -> None:
    quote = _quote(sales)
    activate(sales, quote["quoteid"])
    _webhook(sales, quote["quoteid"])
    deliver_documents(sales)
    [bc] = bc_documents(sales, quote["quotenumber"], document_type="Quote")
    assert (bc["quoteValidUntilDate"], bc["externalDocumentNo"]) == ("2027-01-31", "OFFICE REFIT")
    # a quote's text equal to the item's description still gives a text line (BC §5.4)
    assert [(r["type"], r["number"], r["description"]) for r in bc_lines(sales, bc["id"])] == [
        ("Item", "1896-S", "ATHENS Desk"),
        (" ", "", "ATHENS Desk"),
        ("Item", "WRITEIN", "Installation"),
    ]
    revision = dv_action(sales, "ReviseQuote", {"QuoteId": quote["quoteid"], "ColumnSet": ALL})
    details = sales.dataverse.rows("quotedetails")
    [desk] = [d for d in details if d["_quoteid_value"] == revision["quoteid"] and d["_productid_value"]]
    sales.dataverse.update("quotedetails", desk["quotedetailid"], {"quantity": 5})
    activate(sales, revision["quoteid"])
    _webhook(sales, revision["quoteid"])
    deliver_documents(sales)
    [same] = bc_documents(sales, quote["quotenumber"], document_type="Quote")  # no second BC quote
    assert same["id"] == bc["id"] and _archives(sales, bc["number"]) == [1]
    assert [r["quantity"] for r in bc_lines(sales, bc["id"]) if r["type"] == "Item"] == [5, 1]
    couplings = context().stores.couplings
    assert couplings.get_by_crm(QUOTE_MAPPING, quote["quoteid"]) is None
    moved = couplings.get_by_crm(QUOTE_MAPPING, revision["quoteid"])
    assert moved is not None and moved.bc_id == bc["id"]
    assert command_json("process-quote", "--crm-id", revision["quoteid"])["outcome"] == "unchanged"
    assert _archives(sales, bc["number"]) == [1]


def test_a_won_quote_becomes_the_order_with_the_quote_no_once(sales: SandboxStack) -> None:
    quote = _quote(sales)
    activate(sales, quote["quoteid"])
    made = command_json("process-quote", "--crm-id", quote["quoteid"])
    assert made["outcome"] == "inserted"
    order = dv_action(sales, "ConvertQuoteToSalesOrder", {"QuoteId": quote["quoteid"], "ColumnSet": ALL})
    assert sales.dataverse.get("quotes", quote["quoteid"])["statecode"] == 2  # won
    fire_timer("auto_process_sales_quotes")  # the order is not submitted yet: the won quote waits
    deliver_documents(sales)
    assert bc_documents(sales, order["ordernumber"]) == []
    assert [e for e in context().stores.sync_errors.list(mapping=QUOTE_MAPPING)] == []
    submit(sales, order["salesorderid"])
    won = command_json("process-quote", "--crm-id", quote["quoteid"])
    assert won["outcome"] == "inserted", won
    [bc_order] = bc_documents(sales, order["ordernumber"])
    assert bc_order["quoteNo"] == made["bc_number"] and won["bc_number"] == bc_order["number"]
    assert _archives(sales, made["bc_number"]) == [1]
    again = command_json("process-quote", "--crm-id", quote["quoteid"])
    assert again["outcome"] == "unchanged" and "already became sales order" in again["message"]
    fire_timer("auto_process_sales_quotes")
    deliver_documents(sales)
    assert len(bc_documents(sales, order["ordernumber"])) == 1 and _archives(sales, made["bc_number"]) == [1]


def test_a_won_quote_without_its_order_is_bcs_error(sales: SandboxStack) -> None:
    quote = _quote(sales)
    activate(sales, quote["quoteid"])
    dv_action(
        sales,
        "WinQuote",
        {"QuoteClose": {"subject": "Won", "quoteid@odata.bind": f"/quotes({quote['quoteid']})"}, "Status": 4},
    )
    refused = run_command("process-quote", "--crm-id", quote["quoteid"], expect=1)
    assert "Unable to find Dynamics 365 Sales order that corresponds to this quote." in refused.stderr
    [error] = [
        e for e in context().stores.sync_errors.list(mapping=QUOTE_MAPPING) if e.source_id == quote["quoteid"]
    ]
    assert quote["quotenumber"] in error.message


def test_a_quote_of_another_company_is_left_alone(sales: SandboxStack) -> None:
    other = sales.dataverse.insert(
        "cdm_companies", {"cdm_name": "Fabrikam Europe", "cdm_companycode": "FABEU"}
    )
    theirs, ours = _quote(sales), _quote(sales)
    stamps = {theirs["quoteid"]: other["cdm_companyid"], ours["quoteid"]: sales.dataverse.ids["company"]}
    for quote_id, company in stamps.items():
        sales.dataverse.update(
            "quotes", quote_id, {"bcbi_companyid@odata.bind": f"/cdm_companies({company})"}
        )
        activate(sales, quote_id)
    skipped = command_json("process-quote", "--crm-id", theirs["quoteid"])
    assert (skipped["outcome"], skipped["message"]) == (
        "skipped",
        f"Dataverse quote {theirs['quotenumber']} belongs to another company.",
    )
    assert bc_documents(sales, theirs["quotenumber"], document_type="Quote") == []
    assert command_json("process-quote", "--crm-id", ours["quoteid"])["outcome"] == "inserted"
