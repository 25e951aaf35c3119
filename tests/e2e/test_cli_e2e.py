"""Operator commands against the sandbox stack: exit codes, --json, run -> queue -> jobs/errors."""

from __future__ import annotations

import json

import pytest

from sandbox.stack import SandboxStack
from sync_core.app.cli import main
from tests.e2e.host import deliver_all
from tests.e2e.operator_support import attach_settings


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(["--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_mappings_run_jobs_errors(stack: SandboxStack, capsys: pytest.CaptureFixture[str]) -> None:
    attach_settings(stack)  # Services.mapping_settings, as wiring will build it
    mappings = {m["name"]: m for m in _json(capsys, ["mappings"])["mappings"]}
    assert mappings["CURRENCY"]["timer_function"] == "sync_currency"
    assert mappings["CURRENCY"]["runtime_settings"] == {}
    jobs = _json(capsys, ["run", "CURRENCY"])["jobs"]
    assert len(jobs) == 1 and jobs[0]["enqueued"] == len(stack.bc.rows("currencies"))
    deliver_all(stack.azurite.connection_string)
    listed = _json(capsys, ["jobs", "--mapping", "CURRENCY"])["jobs"]
    assert listed[0]["job_id"] == jobs[0]["job_id"] and listed[0]["finished"]
    assert listed[0]["counts"]["inserted"] == 4 and listed[0]["counts"]["failed"] == 1
    errors = _json(capsys, ["errors"])["errors"]
    assert errors[0]["field"] == "exchangerate" and errors[0]["remedy"]


def test_refusals_and_bad_usage(stack: SandboxStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "NOPE"]) == 1
    assert "unknown mapping 'NOPE'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
