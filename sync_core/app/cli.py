"""Operator commands: ``python -m sync_core <command>`` (names and options fixed in design.md).

Exit codes: 0 success, 1 refused or failed (reason on stderr), 2 bad usage (argparse).
``--json`` (before or after the command) prints one JSON object; progress of long work goes to
stderr. Single-record commands finish before they return; work over many records is enqueued.

Every command is declared in ``_parser`` below: ``set_defaults(func=command)`` with
``command(svc, args) -> dict``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sync_core.app import bc_webhooks, documents, full_sync
from sync_core.app.operations import (
    error_rows,
    job_rows,
    mapping_rows,
    plain,
    run_now,
    set_mapping,
)
from sync_core.app.wiring import Services, services
from sync_core.errors import SyncError
from sync_core.sales.messages import DocumentType
from sync_core.sync.commands import couplings
from sync_core.sync.commands.webhook_registration import WebhookRegistration
from sync_core.telemetry import correlated

Command = Callable[[Services, argparse.Namespace], dict[str, Any]]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def guid(text: str) -> str:
    """An argparse type: a GUID in its canonical lower-case form."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a GUID") from None


# -- commands --------------------------------------------------------------------------------------


def cmd_mappings(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    return {"mappings": mapping_rows(svc.catalog, svc.mapping_settings)}


def cmd_mapping_set(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    only = None if args.synch_only_coupled is None else args.synch_only_coupled == "yes"
    row = set_mapping(
        svc.catalog,
        svc.mapping_settings,
        args.mapping,
        enable=tuple(args.enable_field or ()),
        disable=tuple(args.disable_field or ()),
        update_conflict_resolution=args.update_conflict_resolution,
        deletion_conflict_resolution=args.deletion_conflict_resolution,
        synch_only_coupled=only,
        table_filter=args.table_filter,
        integration_table_filter=args.integration_table_filter,
    )
    return {"mapping": row}


def cmd_run(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    return {"jobs": run_now(svc.sync_context(), args.mapping)}


def cmd_couple(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    return {"coupling": plain(couplings.couple(svc.sync_context(), args.mapping, args.bc_id, args.crm_id))}


def _selection(args: argparse.Namespace) -> dict[str, Any]:
    return {"bc_id": args.bc_id, "crm_id": args.crm_id, "all": bool(getattr(args, "all", False))}


def cmd_uncouple(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    result = couplings.uncouple(svc.sync_context(), args.mapping, progress=progress, **_selection(args))
    return {"uncoupled": plain(result)}


def cmd_create_in_dataverse(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    return {"created": plain(couplings.create_in_dataverse(svc.sync_context(), args.mapping, args.bc_id))}


def cmd_create_in_bc(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    return {"created": plain(couplings.create_in_bc(svc.sync_context(), args.mapping, args.crm_id))}


def cmd_sync_now(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    result = couplings.sync_now(
        svc.sync_context(), args.mapping, args.direction, bc_id=args.bc_id, crm_id=args.crm_id
    )
    return {"synchronized": plain(result)}


def cmd_match_couple(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    attrs = [a.strip() for part in args.match for a in part.split(",") if a.strip()]
    result = couplings.match_couple(
        svc.sync_context(),
        args.mapping,
        attrs,
        case_sensitive=args.case_sensitive,
        create_new=args.create_new,
        sync_after=args.sync_after,
        dry_run=args.dry_run,
        progress=progress,
    )
    return {"match_couple": plain(result)}


def cmd_restore(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    result = couplings.restore(svc.sync_context(), args.mapping, progress=progress, **_selection(args))
    return {"restore": plain(result)}


def cmd_retry(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    result = couplings.retry(svc.sync_context(), args.mapping, progress=progress, **_selection(args))
    return {"retry": plain(result)}


def cmd_full_sync(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    deps = full_sync.full_sync_deps(svc)
    if args.action == "start":
        match = dict(args.match or [])
        return full_sync.start(args.mappings, args.recommend_full_sync, match, trigger="command", deps=deps)
    if args.action == "restart":
        return full_sync.restart(args.run_id, args.mappings, deps=deps)
    return full_sync.status(args.run_id, args.mappings, deps=deps)


def cmd_jobs(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    return {"jobs": job_rows(svc.stores.job_log, args.mapping, args.limit)}


def cmd_errors(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    return {"errors": error_rows(svc.stores.sync_errors, args.mapping, args.limit)}


# -- parser ----------------------------------------------------------------------------------------

MATCH_HELP = "Dataverse attributes to match on (their BC fields compared after the field's transform)"
MATCH_FLAGS = (
    ("--case-sensitive", "compare case-sensitively (default: ignore case)"),
    ("--create-new", "create the unmatched records in Dataverse (enqueued)"),
    ("--sync-after", "synchronize the newly coupled records (enqueued)"),
    ("--dry-run", "report matched / ambiguous / unmatched / already coupled; write nothing"),
)

_JSON = argparse.ArgumentParser(add_help=False)
_JSON.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object")


def _command(
    sub: argparse._SubParsersAction, name: str, func: Command, helptext: str, mapping: bool = True
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=helptext, description=helptext, parents=[_JSON]
    )
    if mapping:
        parser.add_argument("mapping", metavar="MAPPING", help="integration table mapping, e.g. CUSTOMER")
    parser.set_defaults(func=func)
    return parser


def _record_choice(parser: argparse.ArgumentParser, *, allow_all: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--bc-id", type=guid, metavar="ID", help="the BC record's SystemId")
    group.add_argument("--crm-id", type=guid, metavar="ID", help="the Dataverse row's id")
    if allow_all:
        group.add_argument("--all", action="store_true", help="every record of the mapping")


def _mapping_set_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--update-conflict-resolution", choices=("none", "send", "get"))
    parser.add_argument("--deletion-conflict-resolution", choices=("none", "remove-coupling", "restore"))
    parser.add_argument("--synch-only-coupled", choices=("yes", "no"))
    parser.add_argument("--table-filter", metavar="EXPR", help="OData filter on the BC table")
    parser.add_argument("--integration-table-filter", metavar="EXPR", help="OData filter on Dataverse")
    parser.add_argument("--enable-field", action="append", metavar="ATTR", help="Dataverse attribute")
    parser.add_argument("--disable-field", action="append", metavar="ATTR", help="Dataverse attribute")


def _couple_commands(sub: argparse._SubParsersAction) -> None:
    p = _command(sub, "couple", cmd_couple, "couple two existing records")
    p.add_argument("--bc-id", type=guid, metavar="ID", required=True)
    p.add_argument("--crm-id", type=guid, metavar="ID", required=True)
    _record_choice(_command(sub, "uncouple", cmd_uncouple, "remove couplings"), allow_all=True)
    p = _command(
        sub, "create-in-dataverse", cmd_create_in_dataverse, "create the Dataverse row and couple it"
    )
    p.add_argument("--bc-id", type=guid, metavar="ID", required=True)
    p = _command(sub, "create-in-bc", cmd_create_in_bc, "create the BC record and couple it")
    p.add_argument("--crm-id", type=guid, metavar="ID", required=True)
    p = _command(sub, "sync-now", cmd_sync_now, "synchronize one coupled record now, forcing the direction")
    _record_choice(p, allow_all=False)
    p.add_argument("--direction", choices=("to-dataverse", "to-bc"), required=True)
    p = _command(sub, "match-couple", cmd_match_couple, "match-based coupling (use --dry-run first)")
    p.add_argument("--match", action="append", required=True, metavar="ATTR[,ATTR...]", help=MATCH_HELP)
    for flag, helptext in MATCH_FLAGS:
        p.add_argument(flag, action="store_true", help=helptext)
    _record_choice(
        _command(sub, "restore", cmd_restore, "clear Skipped and synchronize again"), allow_all=True
    )
    _record_choice(_command(sub, "retry", cmd_retry, "retry failed records"), allow_all=True)


FULL_SYNC_HELP = """\
``start`` builds the review (BC's recommendation per mapping) and starts the lines whose
dependencies are satisfied; the queue functions do the rest. ``status`` prints the review lines
(mapping, recommendation, status, inserted/modified/unchanged/skipped/failed) of the latest run,
or of ``--run-id``; run it again to follow progress. ``restart`` gives every line that is not
Finished a fresh attempt (after a crash); records already synchronized come out Unchanged.
``--recommend-full-sync MAPPING`` is BC's "Recommend Full Synchronization" action: that
"Couple Records" line runs as a full synchronization instead. ``--match MAPPING=ATTR[,ATTR]``
chooses what a "Couple Records" line matches on (BC's "Match Based Coupling Criteria"; default:
the fields marked ``match`` in its mapping file); it creates what has no match and synchronizes
after coupling."""


def _match_criteria(text: str) -> tuple[str, list[str]]:
    """An argparse type: ``MAPPING=ATTR[,ATTR...]``."""
    mapping, _, attrs = text.partition("=")
    names = [a.strip() for a in attrs.split(",") if a.strip()]
    if not mapping.strip() or not names:
        raise argparse.ArgumentTypeError(f"{text!r} is not MAPPING=ATTR[,ATTR...]")
    return mapping.strip(), names


def _full_sync_command(sub: argparse._SubParsersAction) -> None:
    helptext = "full synchronization in dependency order; `status` prints the review lines"
    p = sub.add_parser(
        "full-sync",
        help=helptext,
        description=f"{helptext}\n\n{FULL_SYNC_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_JSON],
    )
    p.add_argument("action", choices=("start", "status", "restart"))
    p.add_argument(
        "--mapping",
        action="append",
        dest="mappings",
        metavar="MAPPING",
        help="only this mapping (repeatable); on start, its dependencies outside the run count as met",
    )
    p.add_argument(
        "--recommend-full-sync",
        action="append",
        default=[],
        metavar="MAPPING",
        help='start: run this "Couple Records" line as a full synchronization (repeatable)',
    )
    p.add_argument(
        "--match",
        action="append",
        type=_match_criteria,
        metavar="MAPPING=ATTR[,ATTR...]",
        help='start: the Dataverse attributes a "Couple Records" line matches on (repeatable)',
    )
    p.add_argument("--run-id", help="status/restart: this run instead of the latest")
    p.set_defaults(func=cmd_full_sync)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sync_core", description="bcsync operator commands")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _command(sub, "mappings", cmd_mappings, "list mappings with their runtime settings", mapping=False)
    _mapping_set_options(_command(sub, "mapping-set", cmd_mapping_set, "change a mapping's runtime settings"))
    _command(sub, "run", cmd_run, "run a mapping job now, as its timer would")
    _couple_commands(sub)
    for name, func, helptext in (
        ("errors", cmd_errors, "sync errors with remedies"),
        ("jobs", cmd_jobs, "job log: runs with their counts"),
    ):
        p = _command(sub, name, func, helptext, mapping=False)
        p.add_argument("--mapping", metavar="MAPPING")
        p.add_argument("--limit", type=int, default=20)
    _full_sync_command(sub)
    _document_commands(sub)
    return parser


def _document_commands(sub: argparse._SubParsersAction) -> None:
    commands: tuple[tuple[str, DocumentType, str], ...] = (
        ("process-order", "order", "BC's Create in Business Central for one submitted Dataverse order"),
        ("process-quote", "quote", "BC's Process in Business Central for one Active or Won quote"),
    )
    for name, document, helptext in commands:
        p = _command(sub, name, _process(document), helptext, mapping=False)
        p.add_argument("--crm-id", type=guid, metavar="ID", required=True)
    p = sub.add_parser(
        "dataverse-webhooks",
        help="create or update the webhook service endpoint and its steps in Dataverse (idempotent)",
        parents=[_JSON],
    )
    p.add_argument("action", choices=("register",))
    p.add_argument(
        "--url", required=True, help="the app's webhook route, https://<app>/api/webhooks/dataverse"
    )
    p.set_defaults(func=cmd_dataverse_webhooks)
    p = sub.add_parser(
        "bc-subscriptions",
        help="BC webhook subscriptions for every webhook-enabled set the sync reads",
        parents=[_JSON],
    )
    p.add_argument("action", choices=("create", "renew", "list", "delete"))
    p.add_argument(
        "--url", help="the app's webhook route, https://<app>/api/webhooks/bc (create; renew to move)"
    )
    p.set_defaults(func=cmd_bc_subscriptions)
    p = _command(
        sub,
        "statistics",
        cmd_statistics,
        "BC's Update Account Statistics: account statistics and invoice payment states",
        mapping=False,
    )
    p.add_argument("--customer-no", metavar="NO", help="only this customer (does not move the watermarks)")
    _command(sub, "auto-create-orders", _auto("order"), "run BC's auto-create selection now", mapping=False)
    _command(sub, "auto-process-quotes", _auto("quote"), "run BC's auto-process selection now", mapping=False)


def cmd_bc_subscriptions(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    return bc_webhooks.subscriptions_command(svc, args.action, args.url)


def cmd_statistics(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    return documents.run_customer_statistics(args.customer_no, svc=svc)


def cmd_dataverse_webhooks(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    return WebhookRegistration(svc.dataverse, svc.catalog).register(args.url, svc.settings.webhook_secret)


def _process(document: DocumentType) -> Command:
    return lambda svc, args: documents.process_now(svc, document, args.crm_id)


def _auto(document: DocumentType) -> Command:
    return lambda svc, args: documents.auto_job_now(svc, document)


# -- output ----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + "; ".join(_text(v) for v in value) + "]"
    return str(value)


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, default=str))
        return
    for key, value in result.items():
        rows = value if isinstance(value, list) else [value]
        label = key[:-1] if isinstance(value, list) and key.endswith("s") else key
        for row in rows:
            print(f"{label}: {_text(row)}")


def _fail(exc: SyncError, as_json: bool) -> int:
    print(f"error: {exc}", file=sys.stderr)
    if exc.remedy:
        print(f"remedy: {exc.remedy}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": exc.message, "remedy": exc.remedy or ""}))
    return 1


def main(argv: Sequence[str] | None = None, *, svc: Services | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        with correlated(received_at=datetime.now(UTC)):  # one correlation id per command
            result = args.func(svc or services(), args)
    except SyncError as exc:
        return _fail(exc, args.json)
    _print(result, args.json)
    return 0
