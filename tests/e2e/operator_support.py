"""Helpers for the operator e2e tests: the worker's services with their mapping settings store,
CLI calls (in this process, or as an operator runs them: ``python -m sync_core`` in its own
process), and stack lookups.

``attach_settings`` does to the cached worker services what ``wiring`` does once it builds
``Services.mapping_settings`` itself (the same Table Storage store, default prefix).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox.stack import SandboxStack
from sync_core.app import wiring
from sync_core.app.cli import main
from sync_core.app.wiring import Services
from sync_core.state.mapping_settings import mapping_settings_store


def attach_settings(stack: SandboxStack) -> Services:
    svc = wiring.services()
    svc.mapping_settings = mapping_settings_store(stack.azurite.connection_string)  # type: ignore[attr-defined]
    svc.reference.ttl_seconds = 0  # tests change exchange rates and expect the next sync to see them
    return svc


def cli(capsys: pytest.CaptureFixture[str], svc: Services, *argv: str) -> dict[str, Any]:
    """Run a command in this process with --json; it must succeed; its one JSON object."""
    code = main(["--json", *argv], svc=svc)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


ROOT = Path(__file__).resolve().parents[2]


def run_command(*argv: str, expect: int = 0, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m sync_core <argv>`` in its own process with this process's environment (the
    stack's settings); its exit code must be ``expect``."""
    done = subprocess.run(
        [sys.executable, "-m", "sync_core", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == expect, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def command_json(*argv: str) -> dict[str, Any]:
    """``python -m sync_core --json <argv>`` in its own process; it must succeed; its JSON object."""
    return json.loads(run_command("--json", *argv).stdout)


def cli_refused(capsys: pytest.CaptureFixture[str], svc: Services, *argv: str) -> str:
    """Run a command that must be refused (exit 1); its stderr."""
    code = main(list(argv), svc=svc)
    captured = capsys.readouterr()
    assert code == 1, captured.out
    return captured.err


def cli_usage_error(capsys: pytest.CaptureFixture[str], svc: Services, *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        main(list(argv), svc=svc)
    assert info.value.code == 2
    return capsys.readouterr().err


def bc_currency(stack: SandboxStack, code: str) -> str:
    return next(r["id"] for r in stack.bc.rows("currencies") if r["code"] == code)


def dv_currencies(stack: SandboxStack) -> dict[str, dict]:
    return {r["isocurrencycode"].upper(): r for r in stack.dataverse.rows("transactioncurrencies")}


def add_dv_currency(stack: SandboxStack, code: str, name: str = "") -> str:
    row = stack.dataverse.insert(
        "transactioncurrencies",
        {
            "isocurrencycode": code,
            "currencyname": name or f"{code} (CRM)",
            "currencysymbol": code[:1],
            "exchangerate": 1.0,
            "currencyprecision": 2,
        },
    )
    return str(row["transactioncurrencyid"])


def couplings_of(svc: Services, mapping: str) -> list:
    return list(svc.stores.couplings.iter_mapping(mapping))
