"""The operator surface without a stack: CLI usage errors, help, registrars; the HTTP routes."""

from __future__ import annotations

import argparse
import json
import uuid

import pytest

from sync_core import cli
from tests.unit.test_function_app_index import _index

GUID = str(uuid.uuid4())
COMMANDS = [
    "mappings",
    "mapping-set",
    "run",
    "couple",
    "uncouple",
    "create-in-dataverse",
    "create-in-bc",
    "sync-now",
    "match-couple",
    "restore",
    "retry",
    "errors",
    "jobs",
]


@pytest.mark.parametrize(
    "argv",
    [
        ["couple", "CURRENCY", "--bc-id", "EUR", "--crm-id", GUID],
        ["couple", "CURRENCY", "--bc-id", GUID],
        ["uncouple", "CURRENCY"],
        ["uncouple", "CURRENCY", "--bc-id", GUID, "--all"],
        ["sync-now", "CURRENCY", "--bc-id", GUID],
        ["sync-now", "CURRENCY", "--all", "--direction", "to-bc"],
        ["sync-now", "CURRENCY", "--crm-id", GUID, "--direction", "sideways"],
        ["create-in-bc", "CURRENCY", "--bc-id", GUID],
        ["match-couple", "CURRENCY"],
        ["mapping-set", "CURRENCY", "--synch-only-coupled", "maybe"],
        ["mapping-set", "CURRENCY", "--deletion-conflict-resolution", "delete"],
        ["restore", "CURRENCY", "--crm-id", "not-a-guid"],
        ["retry"],
        ["full-sink"],
    ],
)
def test_bad_usage_exits_2_before_anything_runs(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv, svc=object())  # type: ignore[arg-type]
    assert info.value.code == 2 and "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0 and "--json" in capsys.readouterr().out


def test_guids_are_canonical() -> None:
    assert cli.guid("{" + GUID.upper() + "}") == GUID
    with pytest.raises(argparse.ArgumentTypeError):
        cli.guid("EUR")


def test_registrars_add_commands(capsys: pytest.CaptureFixture[str]) -> None:
    def register(sub: argparse._SubParsersAction) -> None:
        p = sub.add_parser("hello", help="say hello")
        p.add_argument("--mapping", action="append")
        p.set_defaults(func=lambda svc, args: {"hello": {"mappings": args.mapping}})

    cli.REGISTRARS.append(register)
    try:
        assert cli.main(["--json", "hello", "--mapping", "CURRENCY"], svc=object()) == 0  # type: ignore[arg-type]
        assert json.loads(capsys.readouterr().out) == {"hello": {"mappings": ["CURRENCY"]}}
        assert cli.main(["hello", "--mapping", "CURRENCY"], svc=object()) == 0  # type: ignore[arg-type]
        assert capsys.readouterr().out == "hello: mappings=[CURRENCY]\n"
    finally:
        cli.REGISTRARS.remove(register)


def test_manage_routes_are_function_key_protected_and_not_host_reserved() -> None:
    functions = _index()
    http = {
        name: binding
        for name, bindings in functions.items()
        for binding in bindings
        if binding["type"] == "httpTrigger"
    }
    for binding in http.values():  # the host refuses routes starting with admin or runtime
        assert not binding["route"].lower().startswith(("admin", "runtime")), binding
    mine = {"manage_mappings", "manage_mapping_set", "manage_mapping_action", "manage_jobs", "manage_errors"}
    routes = {name: (b["route"], b["methods"], b["authLevel"]) for name, b in http.items() if name in mine}
    assert routes == {
        "manage_mappings": ("manage/mappings", ["GET"], "FUNCTION"),
        "manage_mapping_set": ("manage/mappings/{mapping}", ["PATCH"], "FUNCTION"),
        "manage_mapping_action": ("manage/mappings/{mapping}/{action}", ["POST"], "FUNCTION"),
        "manage_jobs": ("manage/jobs", ["GET"], "FUNCTION"),
        "manage_errors": ("manage/errors", ["GET"], "FUNCTION"),
    }
