"""``python -m sync_core full-sync {start,status,restart} [--mapping MAPPING]...``

``start`` builds the review (BC's recommendation per mapping) and starts the lines whose
dependencies are satisfied; the queue functions do the rest. ``status`` prints the review lines
(mapping, recommendation, status, inserted/modified/unchanged/skipped/failed) of the latest run,
or of ``--run-id``; run it again to follow progress. ``restart`` gives every line that is not
Finished a fresh attempt (after a crash); records already synchronized come out Unchanged.
``--recommend-full-sync MAPPING`` is BC's "Recommend Full Synchronization" action: that
"Couple Records" line runs as a full synchronization instead. ``--match MAPPING=ATTR[,ATTR]``
chooses what a "Couple Records" line matches on (BC's "Match Based Coupling Criteria"; default:
the fields marked ``match`` in its mapping file); it creates what has no match and synchronizes
after coupling.
"""

from __future__ import annotations

import argparse
from typing import Any

from sync_core import usecases_full_sync as full_sync
from sync_core.wiring import Services


def _match(text: str) -> tuple[str, list[str]]:
    mapping, _, attrs = text.partition("=")
    names = [a.strip() for a in attrs.split(",") if a.strip()]
    if not mapping.strip() or not names:
        raise argparse.ArgumentTypeError(f"{text!r} is not MAPPING=ATTR[,ATTR...]")
    return mapping.strip(), names


def cmd_full_sync(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    deps = full_sync.full_sync_deps(svc)
    if args.action == "start":
        match = dict(args.match or [])
        return full_sync.start(args.mappings, args.recommend_full_sync, match, trigger="command", deps=deps)
    if args.action == "restart":
        return full_sync.restart(args.run_id, args.mappings, deps=deps)
    return full_sync.status(args.run_id, args.mappings, deps=deps)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "full-sync",
        help="full synchronization in dependency order; `status` prints the review lines",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("start", "status", "restart"))
    parser.add_argument(
        "--mapping",
        action="append",
        dest="mappings",
        metavar="MAPPING",
        help="only this mapping (repeatable); on start, its dependencies outside the run count as met",
    )
    parser.add_argument(
        "--recommend-full-sync",
        action="append",
        default=[],
        metavar="MAPPING",
        help='start: run this "Couple Records" line as a full synchronization (repeatable)',
    )
    parser.add_argument(
        "--match",
        action="append",
        type=_match,
        metavar="MAPPING=ATTR[,ATTR...]",
        help='start: the Dataverse attributes a "Couple Records" line matches on (repeatable)',
    )
    parser.add_argument("--run-id", help="status/restart: this run instead of the latest")
    parser.set_defaults(func=cmd_full_sync)
