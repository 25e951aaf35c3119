"""Back to Dynamics 365 Sales: invoice payment states (BC §6.3) and account statistics (§6.2).

Through the user's doors: the timer ``customer_statistics`` (BC's 30-minute CRM Statistics Job)
and ``python -m sync_core statistics [--customer-no NO]`` (BC's "Update Account Statistics"),
against the BC and Dataverse emulators and Azurite. BC's side is done as BC users do it: orders
posted, payments applied and unapplied, an invoice cancelled, balances changed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.odata.protocol import Fault
from sandbox.stack import SandboxStack
from sync_core.mapping.invoice_status import ACTIVE_BILLED, CANCELED, PAID_COMPLETE, PAID_PARTIAL
from sync_core.sales.payment_status import INVOICE_ENTRY_STEP, STATUS_KEY
from sync_core.sales.statistics import TIME_STEP
from sync_core.sync.context import SyncContext
from sync_core.vocabulary import eq
from tests.e2e.host import fire_timer
from tests.e2e.operator_support import command_json, run_command
from tests.e2e.world import bc_row, context, crm_id, prepare, sync

INVOICE = "POSTEDSALESINV-INV"
ITEMS = ("1896-S", "1906-S", "1920-S", "1900-S")


def _posted(stack: SandboxStack, ctx: SyncContext, order_no: str) -> tuple[dict[str, Any], str]:
    """Ship and invoice a seeded BC order; the posted invoice, created and coupled in Dataverse."""
    order = next(d for d in stack.bc.rows("salesDocuments") if d["number"] == order_no)
    posted = stack.bc.post_sales_invoice(order["id"], ship=True)
    outcome = sync(ctx, INVOICE, posted["id"])
    assert outcome.outcome == "inserted", outcome
    return posted, outcome.destination_id


def _state(stack: SandboxStack, invoice_id: str) -> tuple[int, int]:
    row = stack.dataverse.get("invoices", invoice_id) or {}
    return row["statecode"], row["statuscode"]


def _watermarks(ctx: SyncContext) -> dict[str, str]:
    return ctx.stores.document_steps.steps(STATUS_KEY)


def _state_writes(writes: list[tuple[str, str, Any]]) -> list[tuple[int, int]]:
    return [(b["statecode"], b["statuscode"]) for m, e, b in writes if e == "invoices" and "statecode" in b]


@pytest.fixture
def world(stack: SandboxStack) -> SyncContext:
    ctx = context()
    prepare(stack, ctx, ("10000", "40000"), ITEMS)
    return ctx


def test_payment_states_follow_bc_through_the_timer(
    stack: SandboxStack, world: SyncContext, dv_writes: list[tuple[str, str, Any]]
) -> None:
    posted, invoice = _posted(stack, world, "S-ORD101001")
    fire_timer("customer_statistics")
    assert _state(stack, invoice) == ACTIVE_BILLED  # unpaid
    stack.bc.apply_payment(posted["id"], 100.0)
    fire_timer("customer_statistics")
    assert _state(stack, invoice) == PAID_PARTIAL
    stack.bc.unapply_payment(posted["id"])
    dv_writes.clear()
    fire_timer("customer_statistics")
    assert _state(stack, invoice) == ACTIVE_BILLED  # the payment was unapplied
    assert _state_writes(dv_writes) == [ACTIVE_BILLED]  # opening it is the change itself
    stack.bc.apply_payment(posted["id"])
    fire_timer("customer_statistics")
    assert _state(stack, invoice) == PAID_COMPLETE
    stack.bc.unapply_payment(posted["id"])
    stack.bc.cancel_posted_invoice(posted["id"])
    dv_writes.clear()
    fire_timer("customer_statistics")
    assert _state(stack, invoice) == CANCELED
    assert _state_writes(dv_writes) == [ACTIVE_BILLED, CANCELED]  # Paid -> Active first -> Canceled
    dv_writes.clear()
    fire_timer("customer_statistics")
    assert _state_writes(dv_writes) == []  # nothing new in BC: nothing written
    last = max(r["lastDetailedEntryNo"] for r in stack.bc.rows("postedSalesInvoices"))
    assert _watermarks(world)[INVOICE_ENTRY_STEP] == str(last)


def test_a_canceled_crm_invoice_fully_paid_becomes_paid_complete(
    stack: SandboxStack, world: SyncContext, dv_writes: list[tuple[str, str, Any]]
) -> None:
    posted, invoice = _posted(stack, world, "S-ORD101002")
    stack.dataverse.update("invoices", invoice, {"statecode": 3, "statuscode": 100003})  # a salesperson
    stack.bc.apply_payment(posted["id"])
    dv_writes.clear()
    fire_timer("customer_statistics")
    assert _state(stack, invoice) == PAID_COMPLETE
    assert _state_writes(dv_writes) == [ACTIVE_BILLED, PAID_COMPLETE]  # closed: set Active first


def test_watermark_moves_only_on_the_all_customers_run_without_errors(
    stack: SandboxStack, world: SyncContext
) -> None:
    first, first_id = _posted(stack, world, "S-ORD101001")
    second, second_id = _posted(stack, world, "S-ORD101002")
    fire_timer("customer_statistics")
    before = _watermarks(world)[INVOICE_ENTRY_STEP]
    stack.bc.apply_payment(first["id"])  # customer 10000
    stack.bc.apply_payment(second["id"], 10.0)  # customer 40000
    result = command_json("statistics", "--customer-no", "10000")  # BC's action on one customer
    assert result["payment status"]["modified"] == 1
    assert _state(stack, first_id) == PAID_COMPLETE and _state(stack, second_id) == ACTIVE_BILLED
    assert _watermarks(world)[INVOICE_ENTRY_STEP] == before  # the per-customer form never moves it
    stack.dataverse.set_knobs(faults=[Fault(status=400, count=1, method="PATCH", entity="invoices")])
    fire_timer("customer_statistics")  # one invoice refused: an unexpected error
    assert _watermarks(world)[INVOICE_ENTRY_STEP] == before
    [error] = [e for e in world.stores.sync_errors.list(mapping=INVOICE)]
    assert "Payment status of posted invoice" in error.message and error.remedy
    fire_timer("customer_statistics")  # the next run sees the invoice again and moves on
    assert _state(stack, second_id) == PAID_PARTIAL
    assert int(_watermarks(world)[INVOICE_ENTRY_STEP]) > int(before)


def _statistics_row(stack: SandboxStack, world: SyncContext, customer: str) -> dict[str, Any]:
    account = stack.dataverse.get("accounts", _account(stack, world, customer)) or {}
    row = stack.dataverse.get("nav_accountstatisticses", account["_nav_accountstatisticsid_value"])
    assert row is not None
    return row


def _account(stack: SandboxStack, world: SyncContext, customer: str) -> str:
    return crm_id(world, "CUSTOMER", bc_row(stack, "integrationCustomers", customer)["id"])


def _bc_statistics(world: SyncContext, customer: str) -> dict[str, Any]:
    [row] = list(world.bc.list_rows("customerStatistics", eq("customerNo", customer)))
    return row


def _last_statistics_counts(world: SyncContext) -> dict[str, int]:
    run = next(r for r in world.stores.job_log.list_runs("CUSTOMER") if r.kind == "statistics")
    summary = world.stores.job_log.summary(run.job_id)
    assert summary is not None and summary.finished
    return {k: v for k, v in summary.counts.items() if v}


def test_statistics_uploaded_then_refreshed_on_activity_only(stack: SandboxStack, world: SyncContext) -> None:
    posted, _ = _posted(stack, world, "S-ORD101001")  # customer 10000 has a balance
    fire_timer("customer_statistics")
    assert _last_statistics_counts(world) == {"inserted": 2}
    row, bc = _statistics_row(stack, world, "10000"), _bc_statistics(world, "10000")
    assert (row["nav_customerno"], row["nav_name"]) == ("10000", bc["name"])
    assert row["nav_balancelcy"] == bc["balanceLcy"] == posted["amountIncludingVat"]
    for column, name in (("nav_totallcy", "totalLcy"), ("nav_creditlimitlcy", "creditLimitLcy"),
                         ("nav_totalsaleslcy", "totalSalesLcy"),
                         ("nav_overdueamountslcy", "overdueAmountsLcy"),
                         ("nav_outstandingorderslcy", "outstandingOrdersLcy"),
                         ("nav_shippednotinvoicedlcy", "shippedNotInvoicedLcy"),
                         ("nav_outstandinginvoiceslcy", "outstandingInvoicesLcy"),
                         ("nav_invoicedprepaymentamountlcy", "invoicedPrepaymentAmountLcy")):  # fmt: skip
        assert row[column] == bc[name], column
    assert row["nav_overdueamountsasof"] == bc["overdueAmountsAsOf"]
    usd = next(c for c in stack.dataverse.rows("transactioncurrencies") if c["isocurrencycode"] == "USD")
    assert row["_transactioncurrencyid_value"] == usd["transactioncurrencyid"]
    assert _statistics_row(stack, world, "40000")["nav_balancelcy"] == 0
    assert TIME_STEP in _watermarks(world)

    stack.dataverse.reset_counters()
    fire_timer("customer_statistics")  # nothing happened in BC
    writes = stack.dataverse.counters()["by_method"]
    assert (writes["POST"], writes["PATCH"], writes["DELETE"]) == (0, 0, 0)
    assert _last_statistics_counts(world) == {}

    stack.bc.apply_payment(posted["id"], 500.0)  # activity of customer 10000 only
    fire_timer("customer_statistics")
    assert _last_statistics_counts(world) == {"modified": 1}
    assert _statistics_row(stack, world, "10000")["nav_balancelcy"] == round(
        posted["amountIncludingVat"] - 500, 2
    )

    stack.bc.adjust_customer_statistics("40000", balanceLcy=250.0)  # BC's side changed the balance
    fire_timer("customer_statistics")
    assert _last_statistics_counts(world) == {"modified": 1}
    assert _statistics_row(stack, world, "40000")["nav_balancelcy"] == 250.0


def test_linking_the_statistics_is_not_a_change_of_the_account(
    stack: SandboxStack, world: SyncContext
) -> None:
    customer = bc_row(stack, "integrationCustomers", "10000")["id"]
    before = world.stores.couplings.get_by_bc("CUSTOMER", customer)
    assert before is not None
    fire_timer("customer_statistics")
    account = stack.dataverse.get("accounts", before.crm_id) or {}
    after = world.stores.couplings.get_by_bc("CUSTOMER", customer)
    assert account["_nav_accountstatisticsid_value"] and after is not None
    assert after.crm_modified_on is not None and before.crm_modified_on is not None
    assert after.crm_modified_on > before.crm_modified_on  # the coupling's stamp followed the link
    assert sync(world, "CUSTOMER", before.crm_id, "modified", "to-bc").outcome == "unchanged"


def test_a_missing_account_is_not_found_and_skipped(stack: SandboxStack, world: SyncContext) -> None:
    account = _account(stack, world, "40000")
    stack.dataverse.delete("accounts", account)
    fire_timer("customer_statistics")
    counts = _last_statistics_counts(world)
    assert counts == {"inserted": 1, "failed": 1}
    [error] = [e for e in world.stores.sync_errors.list(mapping="CUSTOMER")]
    assert error.message.endswith(f"Account {account} was not found.") and error.remedy
    coupling = world.stores.couplings.get_by_crm("CUSTOMER", account)
    assert coupling is not None and coupling.skipped and coupling.to_dataverse.result == "failure"
    fire_timer("customer_statistics")  # Skipped: left alone, no second error
    assert len(world.stores.sync_errors.list(mapping="CUSTOMER")) == 1


def test_the_command_for_one_customer(stack: SandboxStack, world: SyncContext) -> None:
    result = command_json("statistics", "--customer-no", "40000")
    assert result["statistics"]["inserted"] == 1 and result["statistics"]["unchanged"] == 0
    assert _statistics_row(stack, world, "40000")["nav_customerno"] == "40000"
    assert TIME_STEP not in _watermarks(world)  # the per-customer form moves nothing
    again = command_json("statistics", "--customer-no", "40000")
    assert again["statistics"]["unchanged"] == 1
    runs = len(world.stores.job_log.list_runs())
    refused = run_command("statistics", "--customer-no", "NOPE", expect=1)
    assert "There is no customer NOPE in Business Central." in refused.stderr
    assert len(world.stores.job_log.list_runs()) == runs  # refused before any job run started
    text = run_command("statistics", "--customer-no", "30000", expect=1)  # exists, not coupled
    assert "Customer 30000 is not coupled to a Dataverse account." in text.stderr
    assert json.loads(run_command("--json", "statistics").stdout)["statistics"]["inserted"] == 1  # 10000
