"""A check follows a chunked full-sync job by its chunks' rows; it counts every outcome only at the end."""

from __future__ import annotations

from datetime import UTC, datetime

from sync_core.state.memory import MemoryJobLogStore
from sync_core.state.ports import JobRun, JobSummary
from sync_core.sync.full_sync.progress import POINT_READS_MAX, job_progress

T = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


class Watched(MemoryJobLogStore):
    """The twin, with the exact counts (``summary``) counted."""

    def __init__(self) -> None:
        super().__init__()
        self.exact = 0

    def summary(self, job_id: str) -> JobSummary | None:
        self.exact += 1
        return super().summary(job_id)


def staged(log: Watched, records: int) -> None:
    log.save_run(JobRun("job", "CUSTOMER", "to-dataverse", T, T, read=records, enqueued=records))


def look(log: Watched) -> JobSummary:
    found = job_progress(log, "job", chunks=True)
    assert found is not None
    return found


def test_the_chunks_rows_are_the_progress_until_every_record_is_accounted_for() -> None:
    log = Watched()
    staged(log, 400)
    log.record_outcomes("job", [])
    first = look(log)
    assert (first.processed, first.finished, log.exact) == (0, False, 0)
    log.record_chunk("job", 0, {"inserted": 198}, ["a", "b"])  # two sent back on their own
    half = look(log)
    assert (half.processed, half.counts["inserted"], half.finished, log.exact) == (198, 198, False, 0)
    log.record_chunk("job", 1, {"inserted": 200})
    log.record_outcome("job", "a", "failed", "no currency")
    tail = look(log)  # "b" has no outcome yet: still running, counted without a scan
    assert (tail.processed, tail.counts["failed"], tail.finished, log.exact) == (399, 1, False, 0)
    log.record_outcome("job", "b", "inserted")
    for i in range(398):  # what the chunks recorded, record by record
        log.record_outcome("job", f"r{i}", "inserted")
    done = look(log)
    assert done.finished and log.exact == 1
    assert (done.counts["inserted"], done.counts["failed"]) == (399, 1)


def test_exact_counts_decide_even_when_the_chunks_rows_say_more() -> None:
    log = Watched()
    staged(log, 10)
    log.record_chunk("job", 0, {"modified": 10})  # a pass whose outcomes did not all land
    log.record_outcome("job", "r1", "modified")
    summary = look(log)
    assert not summary.finished and summary.processed == 1 and log.exact == 1


def test_many_records_sent_back_are_counted_in_one_scan_not_read_one_by_one() -> None:
    log = Watched()
    many = POINT_READS_MAX + 1
    staged(log, many)
    log.record_chunk("job", 0, {}, [f"r{i}" for i in range(many)])
    summary = look(log)
    assert not summary.finished and log.exact == 1


def test_a_scan_cut_short_and_an_unknown_job() -> None:
    log = Watched()
    log.save_run(JobRun("job", "CUSTOMER", "to-dataverse", T))  # staging not finished
    summary = look(log)
    assert summary.run.finished_enqueue_at is None and not summary.finished
    assert job_progress(log, "other", chunks=True) is None
    assert job_progress(log, "job", chunks=False) is not None and log.exact == 1
