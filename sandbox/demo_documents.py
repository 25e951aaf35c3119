"""The lead-to-cash demo: quotes and orders made in Dynamics 365 Sales reach BC within seconds.

Starts Azurite, the sign-in authority and both emulators, runs the function app in the local
runner (HTTP routes, queue polling; no timer fires by itself), and then, each step timed:
1. master data: currencies, options, salespeople, units, one customer and two items, coupled
   (operator commands, as a partner would set up a first company);
2. ``dataverse-webhooks register --url <runner>/api/webhooks/dataverse``;
3. a salesperson activates a quote -> Dataverse calls the webhook -> a BC sales quote;
4. the quote is revised (ReviseQuote) and activated again -> the BC quote is archived and updated;
5. the quote is won and its order submitted -> a BC sales order with the Quote No.;
6. BC ships and invoices the order -> timer ``order_status_updates`` -> the CRM order is Invoiced,
   with BC's timeline posts;
7.-10. the invoice, its payments, the account statistics and the item availability in Sales
   (``demo_cash``).

    python -m sandbox.demo_documents
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.dataverse_human import activate_quote, human_action, submit_order
from sandbox.demo_cash import availability_story, bc_push_story, invoice_story, payment_story
from sandbox.stack import SandboxStack, environment, start_stack

ROOT = Path(__file__).resolve().parent.parent
CUSTOMER, ITEMS = "10000", ("1896-S", "1928-S")
OPTION_MAPPINGS = ("CURRENCY", "PAYMENT TERMS", "SHIPMENT METHOD", "SHIPPING AGENT")
ALL = {"AllColumns": True}
FUNCTION_KEY = "demo-function-key"  # the runner checks it on the function-key routes


class Story:
    def __init__(self, stack: SandboxStack, runner: Any, cli: Callable[[list[str]], int]) -> None:
        self.stack, self.runner, self.cli = stack, runner, cli
        self.step = 0

    def title(self, text: str) -> float:
        self.step += 1
        print(f"\n{self.step}. {text}")
        return time.monotonic()

    def done(self, started: float, text: str) -> None:
        print(f"   -> {text}  [{time.monotonic() - started:.2f} s]")

    def until(self, what: Callable[[], Any], timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = what()
            if found:
                return found
            time.sleep(0.05)
        raise RuntimeError("the demo waited in vain: see the job log (python -m sync_core jobs)")

    def command(self, *argv: str) -> None:
        if self.cli(["--json", *argv]) != 0:
            raise RuntimeError(f"python -m sync_core {' '.join(argv)} failed")

    def bc_document(self, document_type: str, reference: str) -> dict | None:
        rows = self.stack.bc.rows("salesDocuments")
        return next(
            (d for d in rows if (d["documentType"], d["yourReference"]) == (document_type, reference)), None
        )


def master_data(story: Story) -> None:
    started = story.title("Master data, as a partner sets up a first company (operator commands)")
    bc, dv = story.stack.bc, story.stack.dataverse
    for mapping in OPTION_MAPPINGS:
        story.command("run", mapping)
    story.runner.drain(timeout_s=60)
    for user in ("salesperson_jo", "salesperson_ps", "salesperson_of"):
        story.command("create-in-bc", "SALESPEOPLE", "--crm-id", dv.ids[user])  # matched by e-mail
    for unit in bc.rows("unitsOfMeasure"):
        story.command("create-in-dataverse", "UNIT OF MEASURE", "--bc-id", unit["id"])
    wanted = (("integrationCustomers", "CUSTOMER", (CUSTOMER,)), ("integrationItems", "ITEM-PRODUCT", ITEMS))
    for entity, mapping, numbers in wanted:
        for number in numbers:
            row = next(r for r in bc.rows(entity) if r["number"] == number)
            story.command("create-in-dataverse", mapping, "--bc-id", row["id"])
    story.done(
        started, f"customer {CUSTOMER} and items {', '.join(ITEMS)} are in Dynamics 365 Sales, coupled"
    )


def _couplings(mapping: str, bc_number: str, stack: SandboxStack, entity: str) -> str:
    from sync_core.app.wiring import services

    row = next(r for r in stack.bc.rows(entity) if r["number"] == bc_number)
    coupling = services().stores.couplings.get_by_bc(mapping, row["id"])
    assert coupling is not None
    return coupling.crm_id


def make_quote(story: Story) -> dict[str, Any]:
    dv = story.stack.dataverse
    account = _couplings("CUSTOMER", CUSTOMER, story.stack, "integrationCustomers")
    quote = dv.insert(
        "quotes",
        {
            "name": "Office refit",
            "effectiveto": "2027-06-30",
            "customerid_account@odata.bind": f"/accounts({account})",
        },
    )
    for sequence, (item, quantity, price) in enumerate(
        (("1896-S", 4, 1000.8), ("1928-S", 10, 38.9)), start=1
    ):
        product = dv.get("products", _couplings("ITEM-PRODUCT", item, story.stack, "integrationItems")) or {}
        dv.insert(
            "quotedetails",
            {
                "quoteid@odata.bind": f"/quotes({quote['quoteid']})",
                "productid@odata.bind": f"/products({product['productid']})",
                "uomid@odata.bind": f"/uoms({product['_defaultuomid_value']})",
                "sequencenumber": sequence,
                "quantity": quantity,
                "priceperunit": price,
            },
        )
    return dv.get("quotes", quote["quoteid"]) or quote


def quote_story(story: Story) -> dict[str, Any]:
    dv = story.stack.dataverse
    quote = make_quote(story)
    started = story.title(f"A salesperson activates quote {quote['quotenumber']} in Dynamics 365 Sales")
    activate_quote(dv, quote["quoteid"])
    bc = story.until(lambda: story.bc_document("Quote", quote["quotenumber"]))
    story.done(
        started,
        f"BC sales quote {bc['number']} with {len(_lines(story, bc))} lines (Dataverse called the webhook)",
    )
    started = story.title("The quote is revised (4 desks become 6) and activated again")
    revision = human_action(dv, "ReviseQuote", {"QuoteId": quote["quoteid"], "ColumnSet": ALL})
    desk = next(
        d
        for d in dv.rows("quotedetails")
        if d["_quoteid_value"] == revision["quoteid"] and d["quantity"] == 4
    )
    dv.update("quotedetails", desk["quotedetailid"], {"quantity": 6})
    activate_quote(dv, revision["quoteid"])
    story.until(lambda: any(r["quantity"] == 6 for r in _lines(story, bc)))
    versions = [
        a["versionNo"] for a in story.stack.bc.rows("salesDocumentArchives") if a["number"] == bc["number"]
    ]
    story.done(started, f"BC quote {bc['number']} archived (version {max(versions)}) and updated: 6 desks")
    return revision


def order_story(story: Story, revision: dict[str, Any]) -> dict[str, Any]:
    dv = story.stack.dataverse
    started = story.title("The quote is won, and its order is submitted")
    order = human_action(dv, "ConvertQuoteToSalesOrder", {"QuoteId": revision["quoteid"], "ColumnSet": ALL})
    submit_order(dv, order["salesorderid"])
    bc = story.until(lambda: story.bc_document("Order", order["ordernumber"]))
    story.until(lambda: (dv.get("salesorders", order["salesorderid"]) or {}).get("lastbackofficesubmit"))
    story.done(
        started, f"BC sales order {bc['number']} for {order['ordernumber']}, Quote No. {bc['quoteNo']}"
    )
    story.runner.drain(timeout_s=30)  # the won quote's own message: it finds the order made
    return {**order, "bc": bc}


def back_office_story(story: Story, order: dict[str, Any]) -> dict[str, Any]:
    bc, dv = story.stack.bc, story.stack.dataverse
    started = story.title("BC releases, ships and invoices the order; the 7-minute status job runs")
    bc.release_sales_document(order["bc"]["id"])
    bc.post_sales_shipment(order["bc"]["id"])
    invoice = bc.post_sales_invoice(order["bc"]["id"])
    story.runner.fire_timer("order_status_updates")
    story.runner.drain(timeout_s=30)
    crm = dv.get("salesorders", order["salesorderid"]) or {}
    posts = [p["text"] for p in dv.rows("posts") if p["_regardingobjectid_value"] == order["salesorderid"]]
    story.done(
        started, f"posted invoice {invoice['number']}; the CRM order is Invoiced (state {crm['statecode']})"
    )
    for text in posts:
        print(f"      timeline: {text}")
    return invoice


def cash_story(story: Story, invoice: dict[str, Any]) -> None:
    """Steps 7-10 (``demo_cash``): the invoice, its payments, statistics and availability in Sales."""
    from sync_core.app.wiring import services

    def coupled(mapping: str, bc_id: str) -> str:
        coupling = services().stores.couplings.get_by_bc(mapping, bc_id)
        assert coupling is not None
        return coupling.crm_id

    crm_invoice = invoice_story(story, invoice, coupled)
    account = _couplings("CUSTOMER", CUSTOMER, story.stack, "integrationCustomers")
    payment_story(story, invoice, crm_invoice, account)
    product = _couplings("ITEM-PRODUCT", ITEMS[0], story.stack, "integrationItems")
    availability_story(story, product, FUNCTION_KEY)


def document_log(svc: Any) -> None:
    """The job log of the documents (one run per webhook or command) and any sync error."""
    print("\nJob log of the sales documents:")
    for mapping in ("SALESQUOTE-QUOTE", "SALESORDER-ORDER", "POSTEDSALESINV-INV", "CUSTOMER"):
        for run in reversed(svc.stores.job_log.list_runs(mapping, limit=10)):
            summary = svc.stores.job_log.summary(run.job_id)
            counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()) if v) or "-"
            print(f"   {mapping:<18} {run.direction:<12} {run.message:<38} {counts}")
    for error in svc.stores.sync_errors.list(limit=20):
        print(f"   error {error.mapping}: {error.message}")


def _lines(story: Story, bc: dict[str, Any]) -> list[dict]:
    return [r for r in story.stack.bc.rows("salesDocumentLines") if r["documentId"] == bc["id"]]


def main() -> int:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    print("Lead to cash: starting Azurite, the sign-in authority, the emulators and the function app…")
    stack = start_stack()
    try:
        with environment(stack.settings()):
            import function_app
            from sandbox.runner import LocalRunner
            from sync_core.app import wiring
            from sync_core.app.cli import main as cli

            wiring.reset()
            host = json.loads((ROOT / "host.json").read_text())
            # a message that met another worker's claim (the won quote and its submitted order
            # arrive together) is retried after 2 s instead of the production 30 s
            host["extensions"]["queues"]["visibilityTimeout"] = "00:00:02"
            with LocalRunner(function_app.app, host_json=host, function_key=FUNCTION_KEY) as runner:
                runner.start(http=True, timers=False, queues=True)
                story = Story(stack, runner, lambda argv: quiet(cli, argv))
                master_data(story)
                started = story.title("Register the Dataverse webhooks of the app")
                story.command(
                    "dataverse-webhooks", "register", "--url", f"{runner.http_url}/api/webhooks/dataverse"
                )
                story.done(started, "service endpoint and steps created in Dataverse")
                customer = next(r for r in stack.bc.rows("integrationCustomers") if r["number"] == CUSTOMER)
                account = _couplings("CUSTOMER", CUSTOMER, stack, "integrationCustomers")
                bc_push_story(story, f"{runner.http_url}/api/webhooks/bc", customer["id"], account)
                revision = quote_story(story)
                cash_story(story, back_office_story(story, order_story(story, revision)))
                document_log(wiring.services())
    finally:
        stack.stop()
    print("\nDone: every part was stopped.")
    return 0


def quiet(cli: Callable[[list[str]], int], argv: list[str]) -> int:
    """Run an operator command with its JSON answer kept off the story."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
