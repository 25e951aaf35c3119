"""What BC's statistics job costs: requests of the ``customer_statistics`` timer, run by run.

    python -m bench.statistics_requests --customers 200

Starts the embedded stack, couples ``--customers`` new BC customers to Dataverse accounts (plus the
master data), posts one invoice for the first of them and creates it in Dataverse, then fires the
timer ``customer_statistics`` (payment states, then account statistics) through the function
entry point, four times:
  initial upload  every coupled customer gets its nav_accountstatistics row, linked from its account
  no change       nothing happened in BC since
  one payment     a payment applied to the one invoice (its customer's statistics change too)
  no change       again
and prints, per run, the requests the BC and Dataverse emulators counted (Dataverse writes
apart) and the Table Storage operations the app made (azure-core requests to Azurite's table
endpoint), as totals and per customer.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from bench.full_sync import StorageCounter
from bench.stack_run import couple_new_customers, on_stack
from sandbox.stack import SandboxStack

ORDER = "S-ORD101001"  # customer 10000, items 1896-S and 1906-S


def prepare(stack: SandboxStack, customers: int) -> dict[str, Any]:
    """Master data, ``customers`` BC customers created and coupled in Dataverse, one posted invoice."""
    from bench.document_latency import prepare as master_data
    from sync_core.app.wiring import services
    from sync_core.sync.engine.record import RecordSynchronizer
    from sync_core.sync.messages import RecordMessage

    master_data(stack)  # the lead-to-cash demo's first step: customer 10000 and two items coupled
    ctx = services().sync_context()
    item = next(r for r in stack.bc.rows("integrationItems") if r["number"] == "1906-S")
    RecordSynchronizer(ctx).process(
        RecordMessage("ITEM-PRODUCT", "to-dataverse", item["id"], "bench", "command")
    )
    couple_new_customers(stack, "B", customers - 1)
    order = next(d for d in stack.bc.rows("salesDocuments") if d["number"] == ORDER)
    invoice = stack.bc.post_sales_invoice(order["id"], ship=True)
    msg = RecordMessage("POSTEDSALESINV-INV", "to-dataverse", invoice["id"], "bench", "command")
    if RecordSynchronizer(ctx).process(msg).outcome != "inserted":
        raise RuntimeError("the posted invoice was not created in Dataverse")
    return invoice


def fire_timer(name: str) -> None:
    """The timer's entry point with a real trigger object, as the Functions host calls it."""
    from azure.functions.timer import TimerRequest

    import function_app

    function_app.app.functions_bindings = None
    functions = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
    functions[name](TimerRequest(past_due=False, schedule_status={}, schedule={}))


def timed_run(stack: SandboxStack, storage: StorageCounter, label: str, customers: int) -> dict[str, Any]:
    for emulator in (stack.bc, stack.dataverse):
        emulator.reset_counters()
    storage.counts.clear()
    fire_timer("customer_statistics")
    bc, dv = stack.bc.counters(), stack.dataverse.counters()
    dv_writes = sum(dv["by_method"][m] for m in ("POST", "PATCH", "DELETE"))
    return {
        "run": label,
        "bc_requests": bc["total"],
        "dataverse_requests": dv["total"],
        "dataverse_writes": dv_writes,
        "table_ops": storage.counts.get("table", 0),
        "requests_per_customer": round((bc["total"] + dv["total"]) / customers, 3),
        "table_ops_per_customer": round(storage.counts.get("table", 0) / customers, 3),
    }


def measure(stack: SandboxStack, customers: int) -> list[dict[str, Any]]:
    from sync_core.settings import load_settings

    invoice = prepare(stack, customers)
    storage = StorageCounter(load_settings().storage_connection)
    storage.install()
    runs = [timed_run(stack, storage, "initial upload", customers)]
    runs.append(timed_run(stack, storage, "no change", customers))
    stack.bc.apply_payment(invoice["id"], 100.0)
    runs.append(timed_run(stack, storage, "one payment", customers))
    runs.append(timed_run(stack, storage, "no change", customers))
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.statistics_requests", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--customers", type=int, default=200)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    runs = on_stack(lambda stack: measure(stack, args.customers))
    command = f"python -m bench.statistics_requests --customers {args.customers}"
    print(json.dumps({"command": command, "customers": args.customers, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
