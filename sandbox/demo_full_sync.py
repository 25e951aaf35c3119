"""The full synchronization demo: the seeded demo company, every mapping, in dependency order.

Starts Azurite, the sign-in authority and both emulators, then starts a full synchronization
(``full-sync start``) and lets the local runner deliver the queue messages (records and control)
until the review is done, printing each line's progress while it runs and the review at the end
(per mapping: recommendation, status, inserted / modified / unchanged / skipped / failed).

    python -m sandbox.demo_full_sync [--mapping MAPPING]... [--recommend-full-sync MAPPING]...
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sandbox.stack import environment, start_stack

ROOT = Path(__file__).resolve().parent.parent
OUTCOMES = ("inserted", "modified", "unchanged", "skipped", "failed")
# BC asks for "Match Based Coupling Criteria" on the review page where both sides hold rows; the
# demo answers for the seeded company (a mapping's own match fields are used where it has some)
DEMO_MATCH = {"CUSTOMER": ["name"], "CONTACT": ["firstname", "lastname"], "CUSTPRCGRP-PRICE": ["name"]}


def print_review(report: dict[str, Any]) -> None:
    review = report["review"]
    print(f"\nFull synchronization {review['run_id']}: {review['state']} ({review['lines_finished']} lines)")
    header = f"  {'mapping':<20} {'recommendation':<21} {'status':<11}" + "".join(
        f"{o:>10}" for o in OUTCOMES
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for line in report["lines"]:
        figures = "".join(f"{line[o]:>10}" for o in OUTCOMES)
        print(f"  {line['mapping']:<20} {line['recommendation']:<21} {line['status']:<11}{figures}")
        if line["message"] and line["status"] in ("Error", "Waiting"):
            print(f"  {'':<20} {line['message']}")


class Progress:
    """Prints a line's status whenever it changes while the full synchronization runs."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, str]] = {}
        self.t0 = time.monotonic()

    def show(self, report: dict[str, Any]) -> None:
        for line in report["lines"]:
            state = (line["status"], line["message"])
            if self.seen.get(line["mapping"]) != state:
                self.seen[line["mapping"]] = state
                elapsed = time.monotonic() - self.t0
                print(f"  [{elapsed:6.1f}s] {line['mapping']:<20} {line['status']:<11} {line['message']}")


def run(runner: Any, args: argparse.Namespace) -> dict[str, Any]:
    from sync_core.app import full_sync
    from sync_core.app.wiring import services

    catalog = services().catalog
    match = {m: attrs for m, attrs in DEMO_MATCH.items() if m in catalog.names()}
    report = full_sync.start(args.mappings, args.recommend_full_sync, match, trigger="demo")
    print_review(report)
    print("\nRunning (the queue functions move it forward; no timer fires):")
    progress, deadline = Progress(), time.monotonic() + args.timeout
    progress.show(report)
    while report["review"]["state"] == "In Process" and time.monotonic() < deadline:
        runner.drain(timeout_s=2, idle_s=0.3)
        report = full_sync.status()
        progress.show(report)
    return report


def _demo_host() -> dict[str, Any]:
    """host.json with quick retries: a failing record reaches the poison queue in seconds."""
    host = json.loads((ROOT / "host.json").read_text())
    host["extensions"]["queues"]["visibilityTimeout"] = "00:00:02"
    return host


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.demo_full_sync", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--mapping", action="append", dest="mappings", metavar="MAPPING")
    parser.add_argument("--recommend-full-sync", action="append", default=[], metavar="MAPPING")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the review")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    print("Starting Azurite, the sign-in authority and the BC / Dataverse emulators…")
    stack = start_stack()
    try:
        with environment(stack.settings()):
            import function_app
            from sandbox.runner import LocalRunner
            from sync_core.app import wiring
            from sync_core.sync.full_sync import lines as full_sync_lines

            wiring.reset()
            # a line with no progress for 30 s (records lost to the poison queue) shows as Error
            full_sync_lines.STALL_AFTER = timedelta(seconds=30)
            with LocalRunner(function_app.app, host_json=_demo_host()) as runner:
                report = run(runner, args)
            print_review(report)
    finally:
        stack.stop()
    print("\nDone: every part was stopped.")
    return 0 if report["review"]["state"] != "In Process" else 1


if __name__ == "__main__":
    sys.exit(main())
