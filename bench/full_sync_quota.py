"""Quota-bound runs of the full synchronization benchmark (``python -m bench.full_sync --quota R``).

Each emulator's rate limit is set to ``R * W`` quota units per ``W`` seconds per client (a request
costs one unit, a ``$batch`` one per request inside it; a 429 costs nothing; Retry-After is the
emulator's: the seconds until enough units leave the window) for each timed run only. Each
client's window starts full (as after steady use at the quota: room opens at R units/s from the
start), so that a run of a few windows measures the sustained rate and not an initial burst of
R * W units; ``--quota-empty-start`` starts it empty instead. Per run:
  units/record      the system's ``counters()["operations"]`` over the run / records (BC and
                    Dataverse apart: each has its own quota)
  ceiling           min over the two systems of R / (its units per record), records/s
  ratio             measured records/s / ceiling (issue 13's target: >= 90%)
  429 answers       the requests each emulator answered 429 (``counters()["throttled"]``)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class QuotaFigures:
    quota_per_s: float
    window_s: float
    full_start: bool
    bc_units_per_record: float
    dv_units_per_record: float
    ceiling_records_per_s: float | None  # None: neither system was asked anything per record
    measured_records_per_s: float
    ratio: float | None
    throttled_bc: int
    throttled_dv: int

    @property
    def bound_by(self) -> str:
        return "BC" if self.bc_units_per_record >= self.dv_units_per_record else "Dataverse"


def quota_knobs(quota: list[Any]) -> dict[str, Any]:
    """The ``set_knobs`` arguments of a quota ``[units/s, window s, full start]``."""
    per_s, window_s, full_start = quota
    units = max(1, round(per_s * window_s))
    return {"rate_limit": (units, window_s), "retry_after": None, "full_start": full_start}


def quota_figures(
    quota: list[Any],
    counters: tuple[dict[str, Any], dict[str, Any]],
    records: int,
    records_per_s: float,
) -> QuotaFigures:
    """The figures of one run from the BC and Dataverse emulators' ``counters()`` after it."""
    bc, dv = counters
    quota_per_s, window_s, full_start = quota
    per = [c["operations"] / records if records else 0.0 for c in (bc, dv)]
    ceilings = [quota_per_s / units for units in per if units > 0]
    ceiling = min(ceilings) if ceilings else None
    return QuotaFigures(
        quota_per_s=quota_per_s,
        window_s=window_s,
        full_start=full_start,
        bc_units_per_record=per[0],
        dv_units_per_record=per[1],
        ceiling_records_per_s=ceiling,
        measured_records_per_s=records_per_s,
        ratio=records_per_s / ceiling if ceiling else None,
        throttled_bc=int(bc.get("throttled", 0)),
        throttled_dv=int(dv.get("throttled", 0)),
    )


def _ceiling(q: QuotaFigures) -> str:
    if q.ceiling_records_per_s is None:
        return "none"
    return f"{q.ceiling_records_per_s:.1f} ({q.bound_by})"


def _ratio(q: QuotaFigures) -> str:
    if q.ratio is None:
        return "n/a"
    return f"{q.ratio:.0%}"


QUOTA_ROWS: list[tuple[str, Any]] = [
    ("BC quota units/record", lambda q: f"{q.bc_units_per_record:.2f}"),
    ("DV quota units/record", lambda q: f"{q.dv_units_per_record:.2f}"),
    ("quota ceiling records/s", _ceiling),
    ("measured / ceiling", _ratio),
    ("429 answers BC / DV", lambda q: f"{q.throttled_bc} / {q.throttled_dv}"),
]


def render_quota(runs: list[Any], width: int = 18) -> list[str]:
    """The quota rows of the text table (runs without quota figures are left out)."""
    quota = next((r.quota for r in runs if r.quota is not None), None)
    if quota is None:
        return []
    units = round(quota.quota_per_s * quota.window_s)
    start = "starts full" if quota.full_start else "starts empty"
    out = [f"  quota: {quota.quota_per_s:g} units/s per client ({units} per {quota.window_s:g} s, {start})"]
    for name, get in QUOTA_ROWS:
        cells = "".join(f"{get(r.quota) if r.quota else '':>{width}}" for r in runs)
        out.append(f"  {name:<26}{cells}")
    return out
