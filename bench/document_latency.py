"""Sales-document latency: submitted Dataverse orders -> BC sales orders, through the local runner.

    python -m bench.document_latency --orders 200 --lines 5 --latency-ms 20 [--rate 10]

The parent starts the embedded stack, sets up the master data (the lead-to-cash demo's first
step) and makes ``--orders`` Active orders of ``--lines`` product lines. The function app runs in
a child process (the local runner: HTTP routes and queue polling, as ``func start`` would), so the
emulators and the app do not share one interpreter. The parent registers the app's Dataverse
webhooks, injects ``--latency-ms`` into every emulator request, and a salesperson submits the
orders, ``--rate`` per second (0 = all at once); Dataverse's own webhook calls the app, the
document queue function makes each BC order. Figures:
  latency         webhook received by the app -> BC order created (deep insert answered and the
                  coupling made), p50 / p95 / max over the orders (measured in the child)
  HTTP req/order  requests the two emulators counted while the orders went through / orders
  Table ops/order requests to Azurite's table endpoint in the child in that time / orders
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.full_sync import StorageCounter
from bench.stack_run import on_stack
from sandbox.dataverse_human import submit_order
from sandbox.stack import SandboxStack

ROOT = Path(__file__).resolve().parent.parent
ITEMS = ("1896-S", "1928-S")


# -- child process: the function app --------------------------------------------------------------


class Clock:
    """When each order's webhook was received, and when its BC order was created (by CRM id)."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.created: dict[str, float] = {}
        self.lock = threading.Lock()

    def install(self) -> None:
        import functions.http as http_functions
        from sync_core.sales.writer import DocumentWriter

        receive, create, clock = http_functions.receive_dataverse_webhook, DocumentWriter.create, self

        def received(headers: dict[str, str], body: bytes, **kw: Any) -> Any:
            entity_id = str(json.loads(body or b"{}").get("PrimaryEntityId", ""))
            with clock.lock:
                clock.received.setdefault(entity_id, time.perf_counter())
            return receive(headers, body, **kw)

        def created(writer: DocumentWriter, doc: Any, body: dict[str, Any]) -> dict[str, Any]:
            row = create(writer, doc, body)
            with clock.lock:
                clock.created[doc.id] = time.perf_counter()
            return row

        http_functions.receive_dataverse_webhook = received  # type: ignore[assignment]
        DocumentWriter.create = created  # type: ignore[method-assign]

    def latencies(self) -> list[float]:
        with self.lock:
            return [t - self.received[i] for i, t in self.created.items() if i in self.received]


def worker(expected: int, timeout_s: float) -> None:
    """The app in the local runner: prints its URL, waits for "go", reports when all are made."""
    import function_app
    from sandbox.runner import LocalRunner
    from sync_core.settings import load_settings

    clock, counter = Clock(), StorageCounter(load_settings().storage_connection)
    clock.install()
    counter.install()
    host = json.loads((ROOT / "host.json").read_text())
    with LocalRunner(function_app.app, host_json=host) as runner:
        runner.start(http=True, timers=False, queues=True)
        print(json.dumps({"url": runner.http_url}), flush=True)
        sys.stdin.readline()  # "go": the orders are about to be submitted
        counter.counts.clear()
        deadline = time.monotonic() + timeout_s
        while len(clock.latencies()) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.drain(timeout_s=30, idle_s=1.0)  # the write-backs and their echoes
        tables = counter.counts.get("table", 0)
    print(json.dumps({"latencies": clock.latencies(), "table_ops": tables}), flush=True)


# -- parent process: the stack, the salesperson, the figures --------------------------------------


def prepare(stack: SandboxStack) -> None:
    """Master data as the demo sets it up (operator commands, a runner for their queue messages)."""
    import function_app
    from sandbox.demo_documents import Story, master_data, quiet
    from sandbox.runner import LocalRunner
    from sync_core.app.cli import main as cli

    with LocalRunner(function_app.app, host_json=json.loads((ROOT / "host.json").read_text())) as runner:
        master_data(Story(stack, runner, lambda argv: quiet(cli, argv)))


def make_orders(stack: SandboxStack, orders: int, lines: int) -> list[dict[str, Any]]:
    """Active orders of the coupled customer with ``lines`` product lines each (not submitted)."""
    from sync_core.app.wiring import services

    couplings, dv, bc = services().stores.couplings, stack.dataverse, stack.bc
    customer = next(r for r in bc.rows("integrationCustomers") if r["number"] == "10000")
    account = couplings.get_by_bc("CUSTOMER", customer["id"])
    items = [next(r for r in bc.rows("integrationItems") if r["number"] == n) for n in ITEMS]
    products = [
        dv.get("products", getattr(couplings.get_by_bc("ITEM-PRODUCT", i["id"]), "crm_id", "")) for i in items
    ]
    if account is None or not all(products):
        raise RuntimeError("the setup did not couple the customer and the items")
    made = []
    for i in range(orders):
        header = {"name": f"Bench order {i}", "customerid_account@odata.bind": f"/accounts({account.crm_id})"}
        order = dv.insert("salesorders", header)
        for n in range(lines):
            product = products[n % len(products)] or {}
            dv.insert("salesorderdetails", {
                "salesorderid@odata.bind": f"/salesorders({order['salesorderid']})",
                "productid@odata.bind": f"/products({product['productid']})",
                "uomid@odata.bind": f"/uoms({product['_defaultuomid_value']})",
                "sequencenumber": n + 1, "quantity": n + 1, "priceperunit": 100.0 + n,
            })  # fmt: skip
        made.append(order)
    return made


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def measure(stack: SandboxStack, args: argparse.Namespace) -> dict[str, Any]:
    from sandbox.demo_documents import quiet
    from sync_core.app.cli import main as cli
    from sync_core.app.wiring import services

    prepare(stack)
    orders = make_orders(stack, args.orders, args.lines)
    argv = [
        sys.executable,
        "-m",
        "bench.document_latency",
        "--worker",
        str(len(orders)),
        "--timeout",
        str(args.timeout),
    ]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    child = subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ), **pipes)  # type: ignore[call-overload]
    assert child.stdin is not None and child.stdout is not None
    url = json.loads(child.stdout.readline())["url"]
    if (
        quiet(cli, ["--json", "dataverse-webhooks", "register", "--url", f"{url}/api/webhooks/dataverse"])
        != 0
    ):
        raise RuntimeError("dataverse-webhooks register failed")
    for emulator in (stack.bc, stack.dataverse):
        emulator.reset_counters()
        emulator.set_knobs(latency_ms=args.latency_ms)
    child.stdin.write("go\n")
    child.stdin.flush()
    started = time.perf_counter()
    for order in orders:
        submit_order(stack.dataverse, order["salesorderid"])
        if args.rate:
            time.sleep(1 / args.rate)
    result = json.loads(child.stdout.readline())
    elapsed = time.perf_counter() - started
    child.wait(timeout=60)
    requests = sum(e.counters()["total"] for e in (stack.bc, stack.dataverse))
    latencies = result["latencies"]
    services()  # the parent's services stay usable for a look at the job log afterwards
    return {
        "orders": len(orders),
        "created": len(latencies),
        "elapsed_s": round(elapsed, 2),
        "orders_per_s": round(len(latencies) / elapsed, 2),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(percentile(latencies, 95), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
        "http_per_order": round(requests / len(orders), 2),
        "table_ops_per_order": round(result["table_ops"] / len(orders), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.document_latency", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument(
        "--rate", type=float, default=10.0, help="orders submitted per second (0 = all at once)"
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.worker is not None:
        worker(args.worker, args.timeout)
        return 0
    figures = on_stack(lambda stack: measure(stack, args))
    flags = (
        f"--orders {args.orders} --lines {args.lines} --latency-ms {args.latency_ms:g} --rate {args.rate:g}"
    )
    print(json.dumps({"command": f"python -m bench.document_latency {flags}", **figures}, indent=2))
    return 0 if figures["created"] == figures["orders"] else 1


if __name__ == "__main__":
    sys.exit(main())
