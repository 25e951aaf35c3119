"""What the status page costs as the tenant grows: ``GET /api/status`` on an empty store and on
one with many couplings, sync errors and a large finished job.

    python -m bench.status_page --couplings 100000 --errors 10000

Starts the embedded stack and measures the page through its function entry point (a real
``func.HttpRequest``), first on the empty store (the baseline), then after seeding Azurite with
``--couplings`` CUSTOMER couplings (two rows each, in entity-group transactions), ``--errors`` sync
errors over four mappings, and one finished CUSTOMER job run with an outcome row per coupling.
For each view (the whole page; the errors part, its second page, one mapping's, one record's; a
coupling search by BC id and by Dataverse id; the review part) it prints the median time of
``--repeat`` loads, its ratio to the same view on the empty store, and the Table Storage requests
of one load. The first whole-page load after seeding is shown apart: it counts the finished run's
outcomes once and keeps the counts on the run's row.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceExistsError

from bench.full_sync import StorageCounter
from bench.stack_run import on_stack
from sandbox.stack import SandboxStack

MAPPINGS = ("CUSTOMER", "CONTACT", "ITEM-PRODUCT", "CURRENCY")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _chunks(entities: Iterator[dict[str, Any]], size: int = 100) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for entity in entities:
        batch.append(entity)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _upsert_all(conn: str, table: str, entities: Iterator[dict[str, Any]]) -> None:
    """Upserts in transactions of 100 (the callers keep each run of 100 in one partition)."""
    from sync_core.state.tables import table_client

    client = table_client(conn, table)
    with contextlib.suppress(ResourceExistsError):
        client.create_table()
    for batch in _chunks(entities):
        client.submit_transaction([("upsert", e) for e in batch])


def _couplings(count: int) -> Iterator[tuple[Any, ...]]:
    from sync_core.state.ports import Coupling, DirectionStatus

    ok = DirectionStatus("success", None, "bench")
    for n in range(count):
        yield Coupling("CUSTOMER", str(uuid.UUID(int=n + 1)), str(uuid.UUID(int=10**12 + n)), to_dataverse=ok)


def seed(conn: str, couplings: int, errors: int) -> dict[str, str]:
    from sync_core.state.common import error_key, key_escape
    from sync_core.state.ports import JobRun, SyncErrorEntry
    from sync_core.state.tables import _coupling_entity, _index_entity, table_client
    from sync_core.state.tables_log import ALL_RUNS, TableJobLogStore, _error_entity

    rows = list(_couplings(couplings))
    _upsert_all(conn, "bcsynccouplings", (_coupling_entity(c) for c in rows))
    _upsert_all(conn, "bcsynccouplings", (_index_entity(c) for c in rows))
    entries = [
        SyncErrorEntry(
            MAPPINGS[n % 4],
            "to-dataverse",
            rows[n % len(rows)].bc_id,
            f"bench error {n}",
            T0 + timedelta(seconds=n),
        )
        for n in range(errors)
    ]
    keys = [error_key(e.occurred_at, f"{n:012x}") for n, e in enumerate(entries)]
    for mapping in MAPPINGS:
        mine = [(e, k) for e, k in zip(entries, keys, strict=True) if e.mapping == mapping]
        _upsert_all(conn, "bcsyncsyncerrors", (_error_entity(e, key_escape(mapping), k) for e, k in mine))
    _upsert_all(
        conn, "bcsyncsyncerrors", (_error_entity(e, ALL_RUNS, k) for e, k in zip(entries, keys, strict=True))
    )
    job = "bench-full-run"
    log = TableJobLogStore(table_client(conn, "bcsyncjobruns"), table_client(conn, "bcsyncjoboutcomes"))
    log.save_run(
        JobRun(job, "CUSTOMER", "to-dataverse", T0, T0, couplings, couplings, kind="full synchronization")
    )
    outcomes = (
        {"PartitionKey": job, "RowKey": c.bc_id, "source_id": c.bc_id, "o_inserted": True} for c in rows
    )
    _upsert_all(conn, "bcsyncjoboutcomes", outcomes)
    return {"bc_id": rows[-1].bc_id, "crm_id": rows[-1].crm_id}


@functools.cache
def _status_function() -> Callable[..., Any]:
    import function_app

    fn = next(f for f in function_app.app.get_functions() if f.get_function_name() == "status_page")
    return fn.get_user_function()  # type: ignore[no-any-return]


def _load(params: dict[str, str]) -> tuple[int, str]:
    import azure.functions as func

    req = func.HttpRequest("GET", "/api/status", params=params, body=b"")
    answer = _status_function()(req)
    return answer.status_code, answer.get_body().decode()


def measure_view(params: dict[str, str], repeat: int, counter: StorageCounter) -> dict[str, Any]:
    times = []
    for n in range(repeat):
        before = counter.counts["table"]
        started = time.perf_counter()
        status, _ = _load(params)
        times.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"status page {params} answered {status}")
        if n == 0:
            table_requests = counter.counts["table"] - before
    return {"median_ms": round(statistics.median(times) * 1000, 1), "table_requests": table_requests}


def views(ids: dict[str, str], cursor: str) -> dict[str, dict[str, str]]:
    return {
        "whole page": {},
        "errors, newest 50": {"part": "errors"},
        "errors, second page": {"part": "errors", "cursor": cursor},
        "errors of one mapping": {"part": "errors", "mapping": "CONTACT"},
        "errors of one record": {"part": "errors", "record": ids.get("bc_id", str(uuid.UUID(int=1)))},
        "coupling by BC id": {"part": "couplings", "q": ids.get("bc_id", str(uuid.UUID(int=1)))},
        "coupling by Dataverse id": {"part": "couplings", "q": ids.get("crm_id", str(uuid.UUID(int=2)))},
        "mappings and last runs": {"part": "mappings"},
        "full synchronization review": {"part": "review"},
    }


def run(stack: SandboxStack, couplings: int, errors: int, repeat: int) -> dict[str, Any]:
    from sync_core.app.wiring import services

    conn = stack.azurite.connection_string
    counter = StorageCounter(conn)
    counter.install()
    empty = {
        name: measure_view(p, repeat, counter) for name, p in views({}, "").items() if "second" not in name
    }
    started = time.perf_counter()
    ids = seed(conn, couplings, errors)
    seeded_s = time.perf_counter() - started
    before = counter.counts["table"]
    first = time.perf_counter()
    _load({})
    first_ms, first_requests = (time.perf_counter() - first) * 1000, counter.counts["table"] - before
    cursor = services().stores.sync_errors.page(size=50).next_cursor
    large = {name: measure_view(p, repeat, counter) for name, p in views(ids, cursor).items()}
    return {"empty": empty, "large": large, "first_ms": round(first_ms, 1), "first_requests": first_requests,
            "seeded_s": round(seeded_s, 1)}  # fmt: skip


def report(figures: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"status page, {args.couplings:,} couplings, {args.errors:,} errors, one finished run of "
        f"{args.couplings:,} records (seeded in {figures['seeded_s']} s); median of {args.repeat} loads",
        f"{'view':<30}{'empty ms':>10}{'large ms':>10}{'ratio':>8}{'table requests':>16}",
    ]
    for name, large in figures["large"].items():
        base = figures["empty"].get(name)
        ratio = f"{large['median_ms'] / base['median_ms']:.2f}" if base and base["median_ms"] else "—"
        empty_ms = f"{base['median_ms']}" if base else "—"
        lines.append(
            f"{name:<30}{empty_ms:>10}{large['median_ms']:>10}{ratio:>8}{large['table_requests']:>16}"
        )
    lines.append(
        f"first whole-page load after seeding (counts the finished run once): {figures['first_ms']} ms, "
        f"{figures['first_requests']} table requests"
    )
    lines.append(
        "command: python -m bench.status_page "
        f"--couplings {args.couplings} --errors {args.errors} --repeat {args.repeat}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None, measure: Callable[..., Any] = on_stack) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--couplings", type=int, default=100_000)
    parser.add_argument("--errors", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    figures = measure(lambda stack: run(stack, args.couplings, args.errors, args.repeat))
    print(json.dumps(figures, indent=2) if args.json else report(figures, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
