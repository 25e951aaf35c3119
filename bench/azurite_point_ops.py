"""What a point operation costs Azurite as one partition grows, with and without the point index.

    python -m bench.azurite_point_ops [--rows 50000] [--step 10000] [--partitions 1]

Fills one table with ``--rows`` rows (100-row insert transactions, spread round-robin over
``--partitions`` partitions) and at every ``--step`` rows times 100 point reads and 3 merge
transactions of 100 rows, on the stock Azurite and on one with ``sandbox/azurite_point_index.js``
preloaded. Figures are per operation, and the fill time of each step; stock / indexed is the ratio
in the same run. This is why ``python -m bench.full_sync --records 100000`` takes
``--azurite-point-index``: couplings live in one partition per mapping, the job's outcomes in one
partition per job.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from sandbox.azurite import Azurite

READS, MERGE_BATCHES, BATCH = 100, 3, 100


@dataclass
class Step:
    rows: int
    fill_s: float
    read_ms: float
    merge_ms: float


def _partition(i: int, partitions: int) -> str:
    return f"p{(i // BATCH) % partitions}"


def _fill(table: TableClient, start: int, end: int, partitions: int) -> None:
    for base in range(start, end, BATCH):
        pk = _partition(base, partitions)
        rows = [{"PartitionKey": pk, "RowKey": f"bc_{base + i:08d}", "x": "y" * 100} for i in range(BATCH)]
        table.submit_transaction([("create", row) for row in rows])


def _time_reads(table: TableClient, rows: int, partitions: int) -> float:
    started = time.perf_counter()
    for i in range(READS):
        key = (i * 7919) % rows
        table.get_entity(_partition(key, partitions), f"bc_{key:08d}")
    return (time.perf_counter() - started) * 1000 / READS


def _time_merges(table: TableClient, rows: int, partitions: int) -> float:
    started = time.perf_counter()
    for b in range(MERGE_BATCHES):
        base = (b * 37 * BATCH) % rows // BATCH * BATCH
        pk = _partition(base, partitions)
        merges = [{"PartitionKey": pk, "RowKey": f"bc_{base + i:08d}", "z": b} for i in range(BATCH)]
        table.submit_transaction([("upsert", m, {"mode": UpdateMode.MERGE}) for m in merges])
    return (time.perf_counter() - started) * 1000 / (MERGE_BATCHES * BATCH)


def measure(point_index: bool, rows: int, step: int, partitions: int) -> list[Step]:
    steps: list[Step] = []
    with Azurite(point_index=point_index) as azurite:
        service = TableServiceClient.from_connection_string(azurite.connection_string)
        table = service.create_table("pointops")
        filled = 0
        while filled < rows:
            target = min(rows, filled + step)
            started = time.perf_counter()
            _fill(table, filled, target, partitions)
            fill_s, filled = time.perf_counter() - started, target
            steps.append(
                Step(
                    filled,
                    fill_s,
                    _time_reads(table, filled, partitions),
                    _time_merges(table, filled, partitions),
                )
            )
            print(
                f"  {'indexed' if point_index else 'stock':<8} {filled:>8} rows", file=sys.stderr, flush=True
            )
    return steps


def render(stock: list[Step], indexed: list[Step], partitions: int) -> str:
    out = [f"Azurite point operations, rows spread over {partitions} partition(s): stock / point index"]
    out.append(f"  {'rows':>8} {'fill step s':>19} {'point read ms':>21} {'merge ms/row':>21}")
    for s, i in zip(stock, indexed, strict=True):
        out.append(
            f"  {s.rows:>8} {s.fill_s:>9.1f} /{i.fill_s:>8.1f} {s.read_ms:>10.2f} /{i.read_ms:>9.2f}"
            f" {s.merge_ms:>10.2f} /{i.merge_ms:>9.2f}   stock/indexed merge {s.merge_ms / i.merge_ms:.1f}x"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.azurite_point_ops", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--step", type=int, default=10_000)
    parser.add_argument("--partitions", type=int, default=1)
    args = parser.parse_args(argv)
    step = max(BATCH, args.step // BATCH * BATCH)
    stock = measure(False, args.rows, step, args.partitions)
    indexed = measure(True, args.rows, step, args.partitions)
    print(render(stock, indexed, args.partitions))
    print(
        "command: python -m bench.azurite_point_ops"
        f" --rows {args.rows} --step {step} --partitions {args.partitions}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
