"""Full synchronization benchmark: N BC records per mapping through the emulators, twice.

    python -m bench.full_sync --records N --latency-ms L [--mappings CUSTOMER ITEM-PRODUCT] [--path both]
        [--quota R [--quota-window W] [--quota-empty-start]] [--azurite-point-index]

Seeds N BC records per mapping through the BC emulator's in-process ``insert``, injects ``L`` ms
of latency into every emulator request, then runs ``full-sync start`` through the local runner
(real Azurite queues and tables, real HTTP to the emulators) until the review is finished, and
again with nothing changed (which must write nothing). The sync runs in a child process so its
peak memory is its own (the emulators keep every row in the parent). ``--path``: ``new`` (chunk
messages, ``SYNC_FULL_SYNC_CHUNKS`` on), ``old`` (one message per record) or ``both`` (old, then
new, each on a fresh stack seeded the same way) or ``reruns`` (one stack: a first run on the new
path, then the no-change rerun on the old path and on the new one). Figures:
  records/s            records processed (all lines, both directions) / wall time of the run
  HTTP req/record      requests the two emulators counted / records
  quota units/record   the emulators' operations (each request, each operation inside a $batch
                       once, as the services may count them) / records
  Table ops/record     requests to Azurite's table endpoint / records (counted in the child by
                       wrapping azure-core's RequestsTransport.send: every table call, retries
                       included); queue sends/record likewise (POST .../messages)
  peak RSS             the child's own high-water mark (VmHWM in /proc/self/status; ru_maxrss
                       where there is no /proc, which also counts the parent's RSS at the spawn;
                       with --tracemalloc, also the peak of Python allocations, which slows the run)
With ``--quota R``, each timed run is bound by a rate limit of R quota units/s per client on each
emulator, and the run also reports units/record per system, the ceiling and measured / ceiling
(bench/full_sync_quota.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.full_sync_quota import QuotaFigures, quota_figures, quota_knobs, render_quota
from bench.full_sync_targets import render_targets

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "mappings_fullsync"
DEFAULT_MAPPINGS = ("CUSTOMER", "ITEM-PRODUCT")
FALLBACK = {"CUSTOMER": "FS-CUSTOMER", "ITEM-PRODUCT": "FS-ITEM"}
FIRST, RERUN = "first run", "no-change rerun"
PATHS: dict[str, list[list[tuple[str, str]]]] = {  # --path -> stacks -> (path, run) in order
    "old": [[("old", FIRST), ("old", RERUN)]],
    "new": [[("new", FIRST), ("new", RERUN)]],
    "both": [[("old", FIRST), ("old", RERUN)], [("new", FIRST), ("new", RERUN)]],
    "reruns": [[("new", FIRST), ("old", RERUN), ("new", RERUN)]],  # one stack: both reruns
    "firsts": [[("old", FIRST)], [("new", FIRST)]],  # first runs only, each on a fresh stack
    "new-first": [[("new", FIRST)]],  # the new path's first run alone (a large N)
}
CHUNKS_SETTING = {"old": "0", "new": "1"}  # SYNC_FULL_SYNC_CHUNKS
OUTCOMES = ("inserted", "modified", "unchanged", "skipped", "failed")
SEED_ROWS = {  # BC entity set -> the fields of bench record i
    "integrationCustomers": lambda i: {"name": f"Bench customer {i:06d}", "city": "Benchville"},
    "customers": lambda i: {"displayName": f"Bench customer {i:06d}"},
    "integrationItems": lambda i: {"description": f"Bench item {i:06d}", "unitPrice": 10.0 + i % 90},
    "items": lambda i: {"displayName": f"Bench item {i:06d}", "unitPrice": 10.0 + i % 90},
}


@dataclass
class RunFigures:
    label: str
    records: int
    elapsed_s: float
    http_requests: int
    quota_units: int
    http_writes: int
    table_ops: int
    queue_sends: int
    peak_rss_mib: float
    traced_peak_mib: float | None
    state: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    path: str = "new"
    quota: QuotaFigures | None = None

    def per_record(self, value: int) -> float:
        return value / self.records if self.records else 0.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.elapsed_s if self.elapsed_s else 0.0


@dataclass
class BenchResult:
    command: str
    mappings: list[str]
    note: str
    runs: list[RunFigures]


# -- child process: the sync itself ---------------------------------------------------------------


class StorageCounter:
    """Counts every azure-core HTTP request by Azurite service (table/queue/blob) and method."""

    def __init__(self, conn_str: str) -> None:
        parts = dict(p.split("=", 1) for p in conn_str.split(";") if "=" in p)
        self.ports = {
            urlsplit(parts[f"{name.title()}Endpoint"]).port: name for name in ("table", "queue", "blob")
        }
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def install(self) -> None:
        from azure.core.pipeline.transport import RequestsTransport

        original, counter = RequestsTransport.send, self

        def send(transport: Any, request: Any, **kwargs: Any) -> Any:
            url = urlsplit(request.url)
            service = counter.ports.get(url.port, "other")
            is_send = service == "queue" and request.method == "POST" and url.path.endswith("/messages")
            with counter._lock:
                counter.counts[service] += 1
                counter.counts["queue_sends"] += is_send
            return original(transport, request, **kwargs)

        RequestsTransport.send = send  # type: ignore[method-assign]


def peak_rss_mib() -> float:
    """This process's own peak RSS. Not ``ru_maxrss`` on Linux: exec carries the spawning process's
    high-water mark into it, so a child of the bench (whose emulators hold every seeded row) would
    report the parent's RSS whenever that is larger."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _host() -> dict[str, Any]:
    return json.loads((ROOT / "host.json").read_text())


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one full synchronization to its end in this process; returns its figures."""
    from sync_core.settings import load_settings

    counter = StorageCounter(load_settings().storage_connection)
    counter.install()
    if os.environ.get("BENCH_WORKER_LOG"):  # the worker's log lines (INFO) to this file
        logging.basicConfig(
            filename=os.environ["BENCH_WORKER_LOG"],
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(message)s",
        )
        logging.getLogger("azure").setLevel(logging.WARNING)
    if spec["tracemalloc"]:
        tracemalloc.start()
    import function_app
    from sandbox.runner import LocalRunner
    from sync_core.app import full_sync

    with LocalRunner(function_app.app, host_json=_host()) as runner:
        started = time.perf_counter()
        report = full_sync.start(spec["mappings"], spec["mappings"], trigger="bench")
        deadline = time.monotonic() + spec["timeout_s"]
        while report["review"]["state"] == "In Process" and time.monotonic() < deadline:
            runner.drain(timeout_s=2, idle_s=0.2)
            report = full_sync.status()
        elapsed = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if spec["tracemalloc"] else None
    return {
        "elapsed_s": elapsed,
        "report": report,
        "storage": dict(counter.counts),
        "peak_rss_mib": peak_rss_mib(),
        "traced_peak_mib": traced,
    }


# -- parent process: stack, seeding, figures ------------------------------------------------------


def _seed(stack: Any, entity: str, n: int) -> None:
    make = SEED_ROWS.get(entity, lambda i: {})
    for i in range(n):
        stack.bc.insert(entity, make(i))


def _resolve(catalog: Any, wanted: list[str]) -> tuple[list[str], str]:
    if all(name in catalog.names() for name in wanted):
        return wanted, ""
    chosen = [name if name in catalog.names() else FALLBACK.get(name, name) for name in wanted]
    return chosen, (
        f"note: {', '.join(n for n in wanted if n not in catalog.names())} not in the catalog; "
        f"using the test mappings {', '.join(chosen)} from {FIXTURES.relative_to(ROOT)}"
    )


def _run(stack: Any, env: dict[str, str], label: str, spec: dict[str, Any]) -> RunFigures:
    for emulator in (stack.bc, stack.dataverse):
        emulator.reset_counters()
    done = subprocess.run(
        [sys.executable, "-m", "bench.full_sync", "--worker", json.dumps(spec)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=spec["timeout_s"] + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{label} run failed:\n{done.stderr[-4000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    lines = out["report"]["lines"]
    bc, dv = stack.bc.counters(), stack.dataverse.counters()
    records = sum(line[o] for line in lines for o in OUTCOMES)
    quota = spec.get("quota")
    rate = records / out["elapsed_s"] if out["elapsed_s"] else 0.0
    return RunFigures(
        label=label,
        records=records,
        elapsed_s=out["elapsed_s"],
        http_requests=bc["total"] + dv["total"],
        quota_units=bc["operations"] + dv["operations"],
        http_writes=bc["writes"] + dv["writes"],
        table_ops=out["storage"].get("table", 0),
        queue_sends=out["storage"].get("queue_sends", 0),
        peak_rss_mib=out["peak_rss_mib"],
        traced_peak_mib=out["traced_peak_mib"],
        state=out["report"]["review"]["state"],
        lines=[{k: line[k] for k in ("mapping", "recommendation", "status", *OUTCOMES)} for line in lines],
        path=spec["path"],
        quota=quota_figures(quota, (bc, dv), records, rate) if quota else None,
    )


def run_bench(
    records: int,
    latency_ms: float,
    mappings: list[str] | None = None,
    *,
    timeout_s: float = 3600,
    use_tracemalloc: bool = False,
    path: str = "new",
    quota: float | None = None,
    quota_window_s: float = 10.0,
    quota_full_start: bool = True,
    point_index: bool = False,
) -> BenchResult:
    from sync_core.mapping.catalog import load_catalog

    wanted = list(mappings or DEFAULT_MAPPINGS)
    chosen, note = _resolve(load_catalog([FIXTURES]), wanted)
    runs: list[RunFigures] = []
    spec = {"mappings": chosen, "timeout_s": timeout_s, "tracemalloc": use_tracemalloc}
    spec["quota"] = [quota, quota_window_s, quota_full_start] if quota else None
    spec["point_index"] = point_index
    for steps in PATHS[path]:
        runs += _run_stack(records, latency_ms, steps, spec, note)
    command = f"python -m bench.full_sync --records {records} --latency-ms {latency_ms:g}"
    command += f" --mappings {' '.join(wanted)} --path {path}" + (" --tracemalloc" if use_tracemalloc else "")
    command += f" --quota {quota:g} --quota-window {quota_window_s:g}" if quota else ""
    command += " --quota-empty-start" if quota and not quota_full_start else ""
    command += " --azurite-point-index" if point_index else ""
    return BenchResult(command, chosen, note, runs)


def _run_stack(
    records: int, latency_ms: float, steps: list[tuple[str, str]], spec: dict[str, Any], note: str
) -> list[RunFigures]:
    """A fresh stack, N records seeded per mapping, then each run of ``steps`` on its path."""
    from sandbox.azurite import Azurite
    from sandbox.stack import start_stack
    from sync_core.mapping.catalog import load_catalog

    catalog = load_catalog([FIXTURES])
    azurite = Azurite(point_index=True).start() if spec["point_index"] else None
    try:
        return _runs_on(start_stack(azurite=azurite), catalog, records, latency_ms, steps, spec, note)
    finally:
        if azurite is not None:
            azurite.stop()


def _runs_on(
    stack: Any,
    catalog: Any,
    records: int,
    latency_ms: float,
    steps: list[tuple[str, str]],
    spec: dict[str, Any],
    note: str,
) -> list[RunFigures]:
    try:
        env = {**os.environ, **stack.settings()}
        if note:
            env["SYNC_MAPPINGS_DIR"] = str(FIXTURES)
        for name in spec["mappings"]:
            _seed(stack, catalog.get(name).bc_entity, records)
        runs = []
        for path, label in steps:
            _arm(stack, latency_ms, spec["quota"])
            run_env = {**env, "SYNC_FULL_SYNC_CHUNKS": CHUNKS_SETTING[path]}
            runs.append(_run(stack, run_env, label, {**spec, "path": path}))
        return runs
    finally:
        stack.stop()


def _arm(stack: Any, latency_ms: float, quota: list[Any] | None) -> None:
    """Latency on every emulator request and, with a quota, its rate limit (fresh windows)."""
    knobs = quota_knobs(quota) if quota else {}
    for emulator in (stack.bc, stack.dataverse):
        emulator.set_knobs(latency_ms=latency_ms, **knobs)


ROWS: list[tuple[str, Any]] = [
    ("state", lambda r: r.state),
    ("records processed", lambda r: f"{r.records}"),
    ("elapsed", lambda r: f"{r.elapsed_s:.1f} s"),
    ("records/s", lambda r: f"{r.records_per_s:.1f}"),
    ("HTTP requests/record", lambda r: f"{r.per_record(r.http_requests):.2f}"),
    ("quota units/record", lambda r: f"{r.per_record(r.quota_units):.2f}"),
    ("HTTP writes", lambda r: f"{r.http_writes}"),
    ("Table Storage ops/record", lambda r: f"{r.per_record(r.table_ops):.3f}"),
    ("queue sends/record", lambda r: f"{r.per_record(r.queue_sends):.3f}"),
    ("peak RSS (child)", lambda r: f"{r.peak_rss_mib:.0f} MiB"),
]


def _header(run: RunFigures) -> str:
    return f"{run.path}: {'first run' if run.label == FIRST else 'rerun'}"


def render(result: BenchResult) -> str:
    rows = list(ROWS)
    if result.runs[0].traced_peak_mib is not None:
        rows.append(("peak Python allocations", lambda r: f"{r.traced_peak_mib:.1f} MiB"))
    out = [f"Full synchronization benchmark: {', '.join(result.mappings)}"]
    out += [result.note] if result.note else []
    out.append(f"  {'':<26}" + "".join(f"{_header(r):>18}" for r in result.runs))
    out += [f"  {name:<26}" + "".join(f"{get(r):>18}" for r in result.runs) for name, get in rows]
    out += render_quota(result.runs)
    out += _ratios(result.runs)
    out += render_targets(result.runs)
    for run in result.runs:
        out.append(f"  {_header(run)} lines:")
        for line in run.lines:
            figures = ", ".join(f"{o} {line[o]}" for o in OUTCOMES if line[o]) or "nothing"
            out.append(
                f"    {line['mapping']:<16} {line['recommendation']:<21} {line['status']:<9} {figures}"
            )
    for rerun in (r for r in result.runs if r.label != FIRST):
        out.append(f"  no-change rerun writes: {rerun.http_writes} ({rerun.path} path)")
    out.append(f"command: {result.command}")
    return "\n".join(out)


def _ratios(runs: list[RunFigures]) -> list[str]:
    """New path vs old path, records/s, first run and rerun (when both ran)."""
    by = {(r.path, r.label): r for r in runs}
    out = []
    for label in (FIRST, RERUN):
        old, new = by.get(("old", label)), by.get(("new", label))
        if old is not None and new is not None and old.records_per_s:
            out.append(f"  new vs old path, {label}: {new.records_per_s / old.records_per_s:.1f}x records/s")
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.full_sync", description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=1000, help="BC records seeded per mapping")
    p.add_argument("--latency-ms", type=float, default=20.0, help="latency of every emulator request")
    p.add_argument("--mappings", nargs="+", default=list(DEFAULT_MAPPINGS), metavar="MAPPING")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    p.add_argument(
        "--path",
        choices=sorted(PATHS),
        default="both",
        help="chunk messages (new), per record (old), both on fresh stacks, reruns: one stack's "
        "first run (new), then the no-change rerun on each path, firsts: each path's first run "
        "on a fresh stack, or new-first: the new path's first run alone",
    )
    p.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    p.add_argument(
        "--quota", type=float, metavar="R", help="rate limit each emulator to R quota units/s per client"
    )
    p.add_argument("--quota-window", type=float, default=10.0, metavar="W", help="its sliding window, s")
    p.add_argument(
        "--quota-empty-start", action="store_true", help="start each client's quota window empty, not full"
    )
    p.add_argument(
        "--azurite-point-index",
        action="store_true",
        help="serve Azurite's point operations from a (PartitionKey, RowKey) map, as Azure does, "
        "not a scan of the partition (sandbox/azurite_point_index.js; for N = 100,000)",
    )
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker)), default=str))
        return 0
    result = run_bench(
        args.records,
        args.latency_ms,
        args.mappings,
        timeout_s=args.timeout,
        use_tracemalloc=args.tracemalloc,
        path=args.path,
        quota=args.quota,
        quota_window_s=args.quota_window,
        quota_full_start=not args.quota_empty_start,
        point_index=args.azurite_point_index,
    )
    print(json.dumps(asdict(result)) if args.json else render(result))
    reruns = [r for r in result.runs if r.label != FIRST]
    ok = all(r.http_writes == 0 for r in reruns) and all(r.state == "Finished" for r in result.runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
