"""The benchmarks run end to end on a small N: figures come out (full sync: the rerun writes nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.full_sync import render, run_bench

ROOT = Path(__file__).resolve().parents[2]


def test_full_sync_bench_smoke() -> None:
    """Both paths (per-record messages, then chunk messages) on fresh stacks, N = 20."""
    result = run_bench(20, 0, timeout_s=300, path="both")
    assert [(r.path, r.label) for r in result.runs] == [
        ("old", "first run"), ("old", "no-change rerun"), ("new", "first run"), ("new", "no-change rerun"),
    ]  # fmt: skip
    for first, rerun in (result.runs[:2], result.runs[2:]):
        assert first.state == rerun.state == "Finished"
        assert first.records >= 40 and first.elapsed_s > 0 and first.records_per_s > 0
        assert first.http_requests > 0 and first.http_writes > 0 and first.table_ops > 0
        assert first.quota_units >= first.http_requests and first.peak_rss_mib > 0
        assert rerun.http_writes == 0  # nothing changed: nothing written
        assert rerun.records >= first.records and rerun.table_ops > 0
    old_rerun, new_rerun = result.runs[1], result.runs[3]
    assert old_rerun.queue_sends >= old_rerun.records  # one message per record
    assert new_rerun.queue_sends < new_rerun.records / 4  # a chunk message per staged chunk
    assert new_rerun.http_requests < old_rerun.http_requests  # no read per unchanged record
    assert new_rerun.table_ops < old_rerun.table_ops
    old_first, new_first = result.runs[0], result.runs[2]
    assert new_first.http_requests < old_first.http_requests  # sources read together, creates batched
    assert new_first.table_ops < old_first.table_ops  # claims and couplings in transactions
    text = render(result)
    assert "target quota units per written record <= 1.1" in text
    assert "target records/s first run, new vs old >= 5x" in text
    assert "records/s" in text and "quota units/record" in text and "new vs old path" in text
    assert "no-change rerun writes: 0 (old path)" in text and "no-change rerun writes: 0 (new path)" in text
    assert "command: python -m bench.full_sync --records 20 --latency-ms 0" in text


def test_document_latency_bench_smoke() -> None:
    """The sales-document bench, N = 5 orders of 2 lines: every order made, figures reported."""
    flags = ["--orders", "5", "--lines", "2", "--latency-ms", "0", "--rate", "0"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.document_latency", *flags],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout[done.stdout.index("{\n") :])
    assert (figures["orders"], figures["created"]) == (5, 5)
    assert 0 < figures["p50_s"] <= figures["p95_s"] <= figures["max_s"]
    assert figures["http_per_order"] > 0 and figures["table_ops_per_order"] > 0
    assert figures["command"].startswith("python -m bench.document_latency --orders 5")


def _bench(module: str, *flags: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", module, *flags],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout[done.stdout.index("{\n") :])


def test_change_latency_bench_smoke() -> None:
    """Both webhook directions, N = 5 changes each: every change arrives, figures reported."""
    flags = ("--changes", "5", "--latency-ms", "0", "--rate", "0", "--timeout", "100")
    figures = _bench("bench.change_latency", *flags)
    for direction in ("bc_to_dataverse", "dataverse_to_bc"):
        found = figures[direction]
        assert (found["changes"], found["arrived"]) == (5, 5), direction
        assert 0 < found["p50_s"] <= found["p95_s"] <= found["max_s"]


def test_statistics_bench_smoke() -> None:
    """The statistics job on 3 customers: the no-change runs write nothing to Dataverse."""
    runs = _bench("bench.statistics_requests", "--customers", "3")["runs"]
    assert [r["run"] for r in runs] == ["initial upload", "no change", "one payment", "no change"]
    assert runs[0]["dataverse_writes"] >= 6 and runs[2]["dataverse_writes"] == 2
    assert runs[1]["dataverse_writes"] == runs[3]["dataverse_writes"] == runs[1]["dataverse_requests"] == 0


def test_status_page_bench_smoke() -> None:
    """The status page bench on a small store: every view answers, its table requests are bounded."""
    figures = _bench("bench.status_page", "--couplings", "120", "--errors", "60", "--repeat", "1", "--json")
    large = figures["large"]
    assert large["errors, newest 50"]["table_requests"] == 51  # one page query + 50 coupling reads
    assert large["errors, second page"]["table_requests"] == 11  # the last 10, and their couplings
    assert large["full synchronization review"]["table_requests"] == 1
    assert figures["first_requests"] > large["whole page"]["table_requests"]  # the run counted once
