"""kill -9 of the worker in the middle of a full synchronization in chunks, then a restart.

The worker is ``python -m sandbox.runner`` (the function app, its queue triggers as the Functions
host runs them) in its own process; it is killed with SIGKILL once Dataverse has some of the new
products, while chunks are in flight. The restarted worker (this process, through the same
function entry points) finishes the run from what the queues and tables hold: every record gets
exactly one counterpart, every coupling is completed, nothing fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from sandbox.azurite import free_port
from sandbox.stack import SandboxStack
from sync_core.app import full_sync, wiring
from sync_core.sync.engine import insert as engine_insert
from sync_core.sync.full_sync import chunks as full_sync_chunks
from tests.e2e.test_full_sync_e2e import FIXTURES, counts, lines_of, run_to_end

ROOT = Path(__file__).resolve().parents[2]
ITEMS = 1500  # 8 chunks of 200, all in flight at once in one worker


@pytest.fixture
def fs_stack(stack: SandboxStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxStack]:
    monkeypatch.setenv("SYNC_MAPPINGS_DIR", str(FIXTURES))
    monkeypatch.delenv("SYNC_FULL_SYNC_CHUNKS", raising=False)  # the default: chunks
    wiring.reset()
    for i in range(ITEMS):
        stack.bc.insert("items", {"displayName": f"Kill test item {i}"})
    yield stack
    wiring.reset()


def start_worker(log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RUNNER_LEASE_S": "5"}  # its leased messages come back 5 s after the kill
    args = [sys.executable, "-m", "sandbox.runner", "--port", str(free_port())]
    args += ["--settings", str(log.with_suffix(".none.json"))]  # the environment is the settings
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for_products(stack: SandboxStack, at_least: int, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        made = len(stack.dataverse.rows("products"))
        if made >= at_least:
            return made
        time.sleep(0.05)
    raise AssertionError(f"the worker made fewer than {at_least} products in {timeout_s} s")


def test_kill_9_mid_run_then_restart_gives_one_counterpart_per_record(
    fs_stack: SandboxStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    items = len(fs_stack.bc.rows("items"))
    fs_stack.dataverse.set_knobs(latency_ms=150)  # each request takes a while: chunks are in flight
    worker = start_worker(tmp_path / "worker.log")
    try:
        full_sync.start(["FS-ITEM"])
        made = wait_for_products(fs_stack, 1)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    assert made < items, "the run finished before the kill"
    fs_stack.dataverse.set_knobs()

    # the restarted worker: claims the dead one left are taken over (not after 2 minutes here)
    monkeypatch.setattr(engine_insert, "CLAIM_STALE_AFTER", timedelta(0))
    monkeypatch.setattr(full_sync_chunks, "RESUME_AFTER_S", 0)
    line = lines_of(run_to_end(fs_stack.azurite.connection_string, timeout_s=240))["FS-ITEM"]
    assert line["status"] == "Finished"
    done = counts(line)
    assert "failed" not in done and sum(done.values()) == items

    numbers = [p["productnumber"] for p in fs_stack.dataverse.rows("products")]
    assert len(numbers) == len(set(numbers)) == items, "a record got two counterparts or none"
    couplings = list(wiring.services().stores.couplings.iter_mapping("FS-ITEM"))
    assert len(couplings) == items and {c.state for c in couplings} == {"coupled"}
    crm_ids = {p["productid"] for p in fs_stack.dataverse.rows("products")}
    assert {c.crm_id for c in couplings} == crm_ids
