"""The operator surface without a stack: CLI usage errors, help, output; the HTTP routes."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from sync_core.app import cli
from sync_core.state.ports import SyncErrorEntry
from sync_core.state.stores import memory_stores
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
    "full-sync",
    "process-order",
    "process-quote",
    "auto-create-orders",
    "auto-process-quotes",
    "statistics",
    "dataverse-webhooks",
    "bc-subscriptions",
]
# design.md "Operator commands (fixed)": both tables.
FIXED_COMMANDS = [
    *("mappings", "mapping-set", "run", "couple", "uncouple", "create-in-dataverse", "create-in-bc"),
    *("sync-now", "match-couple", "full-sync", "restore", "retry", "errors", "jobs"),
    *("process-order", "process-quote", "auto-create-orders", "auto-process-quotes", "statistics"),
    "dataverse-webhooks",
    "bc-subscriptions",
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
        ["full-sync"],
        ["full-sync", "begin"],
        ["full-sync", "start", "--match", "CUSTOMER"],
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


def test_help_of_the_real_command_lists_every_fixed_command() -> None:
    """``python -m sync_core --help`` in its own process, as an operator runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "sync_core", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("    ")}
    assert set(FIXED_COMMANDS) <= listed, sorted(set(FIXED_COMMANDS) - listed)
    assert set(COMMANDS) <= listed


def test_json_before_or_after_the_command_and_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    stores = memory_stores()
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    stores.sync_errors.add(SyncErrorEntry("CURRENCY", "to-dataverse", GUID, "no rate", when, field="rate"))
    svc = SimpleNamespace(stores=stores)
    for argv in (["--json", "errors"], ["errors", "--mapping", "CURRENCY", "--json"]):
        assert cli.main(argv, svc=svc) == 0  # type: ignore[arg-type]
        [error] = json.loads(capsys.readouterr().out)["errors"]
        assert (error["source_id"], error["field"], error["message"]) == (GUID, "rate", "no rate")
    assert cli.main(["errors"], svc=svc) == 0  # type: ignore[arg-type]
    text = capsys.readouterr().out
    assert text.startswith(f"error: mapping=CURRENCY, direction=to-dataverse, source_id={GUID}")


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
