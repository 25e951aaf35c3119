"""The newcomer's demo: CURRENCY, BC -> Dataverse, end to end on the embedded default stack.

Starts Azurite, the sign-in authority and both emulators (seeded demo company), then drives the
real function app through the local runner: timer ``sync_currency`` -> queue -> ``process_record``.
Three runs: first (creates and couples), no change (writes nothing), one change (one update).
Prints what it did after each run, with the emulators' request counters.
"""

from __future__ import annotations

import logging
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

from sandbox.stack import SandboxStack, environment, start_stack

ROOT = Path(__file__).resolve().parent.parent
MAPPING, TIMER = "CURRENCY", "sync_currency"


def _counts(emulator: Any) -> str:
    c = emulator.counters()
    methods = ", ".join(f"{m} {n}" for m, n in sorted(c["by_method"].items()) if n)
    return f"{c['total']} requests ({methods or 'none'}), {c['writes']} writes"


def _print_currencies(stack: SandboxStack, svc: Any) -> None:
    by_crm = {c.crm_id: c for c in svc.stores.couplings.iter_mapping(MAPPING)}
    print("  Dataverse transactioncurrencies:")
    for row in sorted(stack.dataverse.rows("transactioncurrencies"), key=lambda r: r["isocurrencycode"]):
        coupling = by_crm.get(row["transactioncurrencyid"])
        how = f"coupled to BC {coupling.bc_id[:8]}…" if coupling else "not coupled (org base currency)"
        print(
            f"    {row['isocurrencycode']:<4} {row['currencyname']:<24} "
            f"rate {float(row['exchangerate']):>10.6f}  {how}"
        )


def _print_job(svc: Any) -> None:
    run = svc.stores.job_log.list_runs(MAPPING, limit=1)[0]
    summary = svc.stores.job_log.summary(run.job_id)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()) if v) or "nothing to do"
    print(f"  job {run.job_id}: read {run.read}, enqueued {run.enqueued} -> {counts}")


def _print_errors(svc: Any, since_count: int) -> int:
    errors = svc.stores.sync_errors.list(MAPPING, limit=100)
    for e in errors[: len(errors) - since_count]:
        print(f"  FAILED {e.source_id[:8]}… field {e.field or '-'}: {e.message}")
        print(f"         remedy: {e.remedy}")
    return len(errors)


def _run(stack: SandboxStack, runner: Any, title: str) -> None:
    for emulator in (stack.bc, stack.dataverse):
        emulator.reset_counters()
    runner.fire_timer(TIMER)
    stats = runner.drain(timeout_s=120)
    print(f"\n== {title}")
    print(f"  queue: {stats}")
    print(f"  BC emulator:        {_counts(stack.bc)}")
    print(f"  Dataverse emulator: {_counts(stack.dataverse)}")


def _health(runner: Any, key: str) -> None:
    reply = requests.get(f"{runner.http_url}/api/health", headers={"x-functions-key": key}, timeout=30)
    checks = reply.json().get("checks", {})
    summary = ", ".join(f"{name} {'ok' if c.get('ok') else 'FAILED'}" for name, c in checks.items())
    print(f"GET /api/health -> {reply.status_code}: {summary}")


def _status_page(runner: Any, key: str) -> None:
    """The operator's status page as the browser gets it, saved for a look (its buttons need the app)."""
    reply = requests.get(f"{runner.http_url}/api/status", params={"code": key}, timeout=60)
    saved = Path(tempfile.gettempdir()) / "bcsync-status.html"
    saved.write_text(reply.text, encoding="utf-8")
    failed = reply.text.count('data-state="Not coupled"') + reply.text.count('data-state="Failure"')
    print(f"\nGET /api/status -> {reply.status_code}: {failed} failed record(s) with Retry; saved to {saved}")


def _scenario(stack: SandboxStack, runner: Any, key: str) -> None:
    from sync_core.app.wiring import services

    svc = services()
    _health(runner, key)
    _run(stack, runner, "Run 1: first synchronization (creates and couples)")
    _print_job(svc)
    seen = _print_errors(svc, 0)
    _print_currencies(stack, svc)
    _run(stack, runner, "Run 2: nothing changed in BC")
    _print_job(svc)
    eur = next(r for r in stack.bc.rows("currencies") if r["code"] == "EUR")
    stack.bc.update("currencies", eur["id"], {"displayName": "Euro (euro area)"})
    _run(stack, runner, "Run 3: EUR description changed in BC")
    _print_job(svc)
    _print_errors(svc, seen)
    _print_currencies(stack, svc)
    _status_page(runner, key)


def main() -> int:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    print("Starting Azurite, the sign-in authority and the BC / Dataverse emulators…")
    stack = start_stack()
    key = secrets.token_urlsafe(16)
    try:
        with environment(stack.settings()):
            import function_app
            from sandbox.runner import LocalRunner
            from sync_core.app import wiring

            wiring.reset()
            runner = LocalRunner(function_app.app, host_json=ROOT / "host.json", function_key=key)
            runner.start(http=True, timers=False, queues=False)
            try:
                _scenario(stack, runner, key)
            finally:
                runner.stop()
    finally:
        stack.stop()
    print("\nDone: every part was stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
