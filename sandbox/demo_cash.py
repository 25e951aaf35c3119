"""The lead-to-cash demo, continued: the invoice and the payments reach Dynamics 365 Sales.

Before the quote (``demo_documents`` step 3): the app's BC webhook subscriptions are registered and
a BC customer change reaches Sales within seconds, no timer involved (``bc_push_story``).
After BC invoiced the order (``demo_documents``):
7. BC's "Create in Dataverse" on the posted invoice (``create-in-dataverse POSTEDSALESINV-INV``):
   the invoice appears in Sales, linked to the CRM order (Your Reference), Active / Billed;
8. BC applies a partial payment -> timer ``customer_statistics`` (BC's 30-minute statistics job)
   -> the invoice is Paid / Partial and the account's statistics show the balance;
9. the rest is paid -> Paid / Complete, balance 0;
10. a product form asks ``GET /api/availability/{productid}`` for the item's stock per location.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any, Protocol

INVOICE_STATES = {(0, 4): "Active / Billed", (2, 100002): "Paid / Partial", (2, 100001): "Paid / Complete"}


class Story(Protocol):
    stack: Any
    runner: Any

    def title(self, text: str) -> float: ...

    def done(self, started: float, text: str) -> None: ...

    def command(self, *argv: str) -> None: ...


def _state(story: Story, invoice_id: str) -> str:
    row = story.stack.dataverse.get("invoices", invoice_id) or {}
    key = (row.get("statecode"), row.get("statuscode"))
    return INVOICE_STATES.get(key, f"statecode {key[0]} / statuscode {key[1]}")  # type: ignore[arg-type]


def _balance(story: Story, account_id: str) -> str:
    dv = story.stack.dataverse
    account = dv.get("accounts", account_id) or {}
    row = dv.get("nav_accountstatisticses", account.get("_nav_accountstatisticsid_value") or "") or {}
    return f"balance {row.get('nav_balancelcy', 0):,.2f}, total sales {row.get('nav_totalsaleslcy', 0):,.2f}"


def bc_push_story(story: Story, url: str, customer_id: str, account_id: str) -> None:
    """BC's webhook subscriptions: a BC change reaches Sales with no timer tick."""
    started = story.title("Register the app's BC webhook subscriptions (bc-subscriptions create)")
    story.stack.bc.set_subscription_knobs(delay_s=1)  # BC coalesces for 30 s; the demo waits 1 s
    story.command("bc-subscriptions", "create", "--url", url)
    story.done(started, f"{len(story.stack.bc.subscription_rows())} subscriptions, handshakes answered")
    started = story.title("A BC user changes the customer's phone number; no timer runs")
    story.stack.bc.update("integrationCustomers", customer_id, {"phoneNo": "+44 121 555 0199"})
    deadline = time.monotonic() + 60
    while (story.stack.dataverse.get("accounts", account_id) or {}).get("telephone1") != "+44 121 555 0199":
        if time.monotonic() > deadline:
            raise RuntimeError("the BC change did not reach Dataverse: see python -m sync_core jobs")
        time.sleep(0.05)
    story.done(
        started, "the account's telephone1 in Sales (BC's notification -> the webhook route -> the queue)"
    )


def invoice_story(story: Story, invoice: dict[str, Any], coupled: Callable[[str, str], str]) -> str:
    """Step 7: the posted invoice created in Dataverse; its Dataverse id."""
    started = story.title(f"BC's Create in Dataverse on posted invoice {invoice['number']}")
    story.command("create-in-dataverse", "POSTEDSALESINV-INV", "--bc-id", invoice["id"])
    crm_id = coupled("POSTEDSALESINV-INV", invoice["id"])
    row = story.stack.dataverse.get("invoices", crm_id) or {}
    lines = [d for d in story.stack.dataverse.rows("invoicedetails") if d["_invoiceid_value"] == crm_id]
    story.done(
        started,
        f"invoice {row.get('name')} in Sales with {len(lines)} lines, total {row.get('totalamount'):,.2f}, "
        f"{_state(story, crm_id)}",
    )
    return crm_id


def payment_story(story: Story, invoice: dict[str, Any], crm_id: str, account_id: str) -> None:
    """Steps 8 and 9: a partial payment, then the rest; the statistics job after each."""
    bc = story.stack.bc
    part = round(float(invoice["amountIncludingVat"]) / 4, 2)
    for label, amount in ((f"BC applies a partial payment of {part:,.2f}", part), ("The rest is paid", None)):
        started = story.title(f"{label}; the statistics job runs (timer customer_statistics)")
        bc.apply_payment(invoice["id"], amount)
        story.runner.fire_timer("customer_statistics")
        story.done(
            started,
            f"the invoice is {_state(story, crm_id)}; account statistics: {_balance(story, account_id)}",
        )


def availability_story(story: Story, product_id: str, key: str) -> None:
    """Step 10: what a product form's web resource asks the app."""
    started = story.title("A product form asks GET /api/availability/{productid}")
    request = urllib.request.Request(
        f"{story.runner.http_url}/api/availability/{product_id}", headers={"x-functions-key": key}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        stock = json.loads(reply.read())
    places = ", ".join(
        f"{loc['locationCode'] or '(no location)'}: {loc['availableQuantity']:g}"
        for loc in stock["locations"]
    )
    total = stock["total"]["availableQuantity"]
    story.done(started, f"item {stock['productnumber']}: available {total:g} ({places})")
