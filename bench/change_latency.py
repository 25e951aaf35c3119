"""Change latency both ways, pushed by webhooks: a change in one system -> written in the other.

    python -m bench.change_latency --changes 200 --latency-ms 20 --rate 10

The parent starts the embedded stack, couples ``--changes`` BC customers to Dataverse accounts,
and runs the function app in a child process (the local runner: HTTP routes and queue polling,
no timer). It registers the app's BC subscriptions (``bc-subscriptions create``; the BC
emulator's coalescing delay set to 0, BC's own is 30 s) and Dataverse webhooks
(``dataverse-webhooks register``), injects ``--latency-ms`` into every emulator request, then:
  BC -> Dataverse   renames each customer in BC, ``--rate`` per second; latency = the BC write
                    -> the PATCH of the account's name reaching the Dataverse emulator
  Dataverse -> BC   renames each account in Dataverse as a salesperson; latency = the Dataverse
                    write -> the PATCH of the customer's name reaching the BC emulator
and prints p50 / p95 / max per direction. No mapping timer fires: only the webhooks move data.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.document_latency import percentile
from bench.stack_run import couple_new_customers, on_stack
from sandbox.odata.protocol import Request, Response
from sandbox.stack import SandboxStack

ROOT = Path(__file__).resolve().parent.parent


def worker() -> None:
    """The app in the local runner: prints its URL, serves until stdin closes or says stop."""
    import function_app
    from sandbox.runner import LocalRunner

    host = json.loads((ROOT / "host.json").read_text())
    with LocalRunner(function_app.app, host_json=host) as runner:
        runner.start(http=True, timers=False, queues=True)
        print(json.dumps({"url": runner.http_url}), flush=True)
        sys.stdin.readline()


class Arrivals:
    """When the emulator received the name a record was given (by record id)."""

    def __init__(self, server: Any, entity: str, name_field: str) -> None:
        self.times: dict[str, float] = {}
        self._lock = threading.Lock()
        route: Callable[[Request], Response] = server.route

        def watched(req: Request) -> Response:
            answer = route(req)
            if req.method == "PATCH" and entity in req.path and answer.status < 300:
                body = json.loads(req.body or b"{}")
                if name_field in body:
                    with self._lock:
                        self.times.setdefault(str(body[name_field]), time.perf_counter())
            return answer

        server.route = watched


def _figures(sent: dict[str, float], arrived: dict[str, float]) -> dict[str, Any]:
    latencies = [arrived[k] - t for k, t in sent.items() if k in arrived]
    return {
        "changes": len(sent),
        "arrived": len(latencies),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(percentile(latencies, 95), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
    }


def _wait(sent: dict[str, float], arrived: dict[str, float], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(set(sent) & set(arrived)) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.05)


def measure(stack: SandboxStack, args: argparse.Namespace) -> dict[str, Any]:
    from sandbox.demo_documents import quiet
    from sync_core.app.cli import main as cli

    pairs = couple_new_customers(stack, "L", args.changes)
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.change_latency", "--worker"],
        cwd=ROOT, env=dict(os.environ), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        url = json.loads(child.stdout.readline())["url"]
        # BC's coalescing delay off; a notification the busy app did not take in time is retried
        # after seconds, not BC's minutes (the figures are the app's latency, not BC's back-off)
        stack.bc.set_subscription_knobs(delay_s=0, timeout_s=30, retry_delays_s=[1, 2, 5])
        registrations = (
            ["bc-subscriptions", "create", "--url", f"{url}/api/webhooks/bc"],
            ["dataverse-webhooks", "register", "--url", f"{url}/api/webhooks/dataverse"],
        )
        for argv in registrations:
            if quiet(cli, ["--json", *argv]) != 0:
                raise RuntimeError(f"python -m sync_core {' '.join(argv)} failed")
        for emulator in (stack.bc, stack.dataverse):
            emulator.set_knobs(latency_ms=args.latency_ms)
        to_dv = _direction(stack, pairs, args, to_dataverse=True)
        to_bc = _direction(stack, pairs, args, to_dataverse=False)
    finally:
        child.stdin.write("stop\n")
        child.stdin.flush()
        child.wait(timeout=60)
    return {"bc_to_dataverse": to_dv, "dataverse_to_bc": to_bc}


def _direction(
    stack: SandboxStack, pairs: list[tuple[str, str]], args: argparse.Namespace, *, to_dataverse: bool
) -> dict[str, Any]:
    target = stack.dataverse if to_dataverse else stack.bc
    arrivals = Arrivals(target, "accounts" if to_dataverse else "integrationCustomers", "name")
    sent: dict[str, float] = {}
    for n, (customer, account) in enumerate(pairs):
        name = f"{'BC' if to_dataverse else 'CRM'} rename {n}"
        sent[name] = time.perf_counter()
        if to_dataverse:
            stack.bc.update("integrationCustomers", customer, {"name": name})
        else:
            stack.dataverse.update("accounts", account, {"name": name})
        if args.rate:
            time.sleep(1 / args.rate)
    _wait(sent, arrivals.times, args.timeout)
    return _figures(sent, arrivals.times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.change_latency", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=10.0, help="changes per second (0 = all at once)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.worker:
        worker()
        return 0
    figures = on_stack(lambda stack: measure(stack, args))
    flags = f"--changes {args.changes} --latency-ms {args.latency_ms:g} --rate {args.rate:g}"
    print(json.dumps({"command": f"python -m bench.change_latency {flags}", **figures}, indent=2))
    complete = all(f["arrived"] == f["changes"] for f in figures.values())
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
