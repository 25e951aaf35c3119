"""Operator commands: ``python -m sync_core <command>`` (names fixed in design.md).

Exit codes: 0 success, 1 refused or failed (reason on stderr), 2 bad usage (argparse).
``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from sync_core.errors import SyncError
from sync_core.wiring import Services, services

Command = Callable[[Services, argparse.Namespace], dict[str, Any]]


def _mapping_row(m: Any) -> dict[str, Any]:
    return {
        "name": m.name,
        "bc_entity": m.bc_entity,
        "crm_entity": m.crm_entity,
        "direction": m.direction,
        "table_filter": m.table_filter,
        "integration_table_filter": m.integration_table_filter,
        "synch_only_coupled": m.synch_only_coupled,
        "update_conflict_resolution": m.update_conflict_resolution,
        "deletion_conflict_resolution": m.deletion_conflict_resolution,
        "schedule_minutes": m.interval_minutes,
        "timer_function": m.function_name,
        "fields": [
            {"bc": f.bc_field, "crm": f.crm_field, "direction": f.direction, "enabled": f.enabled}
            for f in m.fields
        ],
    }


def cmd_mappings(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    return {"mappings": [_mapping_row(m) for m in svc.catalog]}


def cmd_run(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    from sync_core.sync.mapping_job import run_mapping_job

    runs = run_mapping_job(svc.sync_context(), svc.catalog.get(args.mapping).name, trigger="command")
    return {
        "jobs": [
            {"job_id": r.job_id, "direction": r.direction, "read": r.read, "enqueued": r.enqueued}
            for r in runs
        ]
    }


def cmd_jobs(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for run in svc.stores.job_log.list_runs(args.mapping, limit=args.limit):
        summary = svc.stores.job_log.summary(run.job_id)
        counts = summary.counts if summary else {}
        rows.append(
            {
                **asdict(run),
                "counts": counts,
                "finished": bool(summary and summary.finished),
            }
        )
    return {"jobs": rows}


def cmd_errors(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    return {"errors": [asdict(e) for e in svc.stores.sync_errors.list(args.mapping, limit=args.limit)]}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sync_core", description="bcsync operator commands")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("mappings", help="list integration table mappings").set_defaults(func=cmd_mappings)
    run = sub.add_parser("run", help="run a mapping job now, as its timer would")
    run.add_argument("mapping")
    run.set_defaults(func=cmd_run)
    for name, func, helptext in (
        ("jobs", cmd_jobs, "job log: runs with their counts"),
        ("errors", cmd_errors, "sync errors with remedies"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--mapping")
        p.add_argument("--limit", type=int, default=20)
        p.set_defaults(func=func)
    return parser


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, default=str))
        return
    for key, rows in result.items():
        for row in rows if isinstance(rows, list) else [rows]:
            print(
                f"{key[:-1] if key.endswith('s') else key}: " + ", ".join(f"{k}={v}" for k, v in row.items())
            )


def main(argv: Sequence[str] | None = None, *, svc: Services | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        result = args.func(svc or services(), args)
    except SyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print(result, args.json)
    return 0
