"""Issue 13's targets, checked against the runs of one bench command (those that ran)."""

from __future__ import annotations

from typing import Any

FIRST, RERUN = "first run", "no-change rerun"  # as bench.full_sync labels its runs
WRITTEN = ("inserted", "modified")


def written(run: Any) -> int:
    """Records the run wrote (inserted or modified), from its job log lines."""
    return sum(line[o] for line in run.lines for o in WRITTEN)


def _check(name: str, value: float, ok: bool, shown: str) -> str:
    return f"  target {name:<44} {shown:>10}  {'met' if ok else 'NOT met'}"


def render_targets(runs: list[Any]) -> list[str]:
    """One line per target the runs can tell: the new path's first run and rerun, new vs old
    records/s on first runs in the same command, and the quota-bound ratio."""
    by = {(r.path, r.label): r for r in runs}
    out: list[str] = []
    first, rerun = by.get(("new", FIRST)), by.get(("new", RERUN))
    if first is not None and written(first):
        units = first.quota_units / written(first)
        out.append(_check("quota units per written record <= 1.1", units, units <= 1.1, f"{units:.2f}"))
        ops = first.per_record(first.table_ops)
        out.append(_check("Table Storage ops/record, first run <= 2", ops, ops <= 2, f"{ops:.3f}"))
    if rerun is not None:
        ops = rerun.per_record(rerun.table_ops)
        out.append(_check("Table Storage ops/record, rerun <= 1", ops, ops <= 1, f"{ops:.3f}"))
    old = by.get(("old", FIRST))
    if first is not None and old is not None and old.records_per_s:
        ratio = first.records_per_s / old.records_per_s
        out.append(_check("records/s first run, new vs old >= 5x", ratio, ratio >= 5, f"{ratio:.1f}x"))
    for run in runs:
        if run.quota is not None and run.quota.ratio is not None and run.label == FIRST:
            ratio = run.quota.ratio
            name = f"quota-bound records/s >= 90% of ceiling ({run.path})"
            out.append(_check(name, ratio, ratio >= 0.9, f"{ratio:.0%}"))
    return out
