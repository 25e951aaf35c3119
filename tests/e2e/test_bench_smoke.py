"""The full-sync benchmark runs end to end on a small N: figures come out, the rerun writes nothing."""

from __future__ import annotations

from bench.full_sync import render, run_bench


def test_full_sync_bench_smoke() -> None:
    result = run_bench(20, 0, timeout_s=300)
    first, rerun = result.runs
    assert first.state == rerun.state == "Finished"
    assert first.records >= 40 and first.elapsed_s > 0 and first.records_per_s > 0
    assert first.http_requests > 0 and first.http_writes > 0 and first.table_ops > 0
    assert first.queue_sends >= first.records and first.peak_rss_mib > 0
    assert rerun.http_writes == 0  # nothing changed: nothing written
    assert rerun.records >= first.records and rerun.table_ops > 0
    text = render(result)
    assert "records/s" in text and "no-change rerun writes: 0" in text
    assert "command: python -m bench.full_sync --records 20 --latency-ms 0" in text
