"""JobLogStore contract: runs, idempotent per-record outcomes, summaries, newest-first lists."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sync_core.state.ports import OUTCOMES, JobRun, OutcomeEntry
from sync_core.state.stores import StateStores

T0 = datetime(2024, 6, 1, 8, 30, 0, 250001, tzinfo=UTC)


def run(job_id: str, mapping: str = "CUSTOMER", minutes: int = 0, **kw) -> JobRun:
    return JobRun(
        job_id=job_id,
        mapping=mapping,
        direction="to-dataverse",
        started_at=T0 + timedelta(minutes=minutes),
        **kw,
    )


def test_save_run_then_summary_with_zero_counts(stores: StateStores) -> None:
    log = stores.job_log
    log.save_run(run("job-1"))
    summary = log.summary("job-1")
    assert summary is not None
    assert summary.run == run("job-1")
    assert summary.counts == dict.fromkeys(OUTCOMES, 0)
    assert summary.processed == 0 and not summary.finished
    assert log.summary("job-unknown") is None


def test_save_run_again_upserts_and_finishes(stores: StateStores) -> None:
    log = stores.job_log
    log.save_run(run("job-1"))
    done = run("job-1", finished_enqueue_at=T0 + timedelta(seconds=3), read=3, enqueued=2)
    log.save_run(replace(done, message="3 read, 2 enqueued", read=3_000_000_000))
    for source_id in ("a", "b"):
        log.record_outcome("job-1", source_id, "modified")
    summary = log.summary("job-1")
    assert summary is not None
    assert summary.run.read == 3_000_000_000 and summary.run.enqueued == 2
    assert summary.run.finished_enqueue_at == T0 + timedelta(seconds=3)
    assert summary.run.message == "3 read, 2 enqueued"
    assert summary.finished
    assert [r.job_id for r in log.list_runs()] == ["job-1"]


def test_record_outcome_is_idempotent_and_never_downgraded(stores: StateStores) -> None:
    log = stores.job_log
    log.save_run(run("job-1", enqueued=6))
    log.record_outcome("job-1", "rec-1", "inserted")
    log.record_outcome("job-1", "rec-1", "inserted")  # redelivered message
    log.record_outcome("job-1", "rec-1", "unchanged")  # its second pass found it synced
    log.record_outcome("job-1", "rec-2", "failed", "boom")
    log.record_outcome("job-1", "rec-2", "modified")  # retried, then succeeded
    log.record_outcome("job-1", "rec-3", "modified")
    log.record_outcome("job-1", "rec-3", "skipped")  # a duplicate message after the write
    log.record_outcome("job-1", "rec-4", "unchanged")
    log.record_outcome("job-1", "rec-4", "uncoupled")  # deletion resolution: coupling removed
    log.record_outcome("job-1", "a/b#c?d%", "skipped")
    log.record_outcome("job-2", "rec-1", "unchanged")
    summary = log.summary("job-1")
    assert summary is not None
    expected = {"inserted": 1, "modified": 2, "skipped": 1, "uncoupled": 1}
    assert summary.counts == {**dict.fromkeys(OUTCOMES, 0), **expected}
    assert summary.processed == 5


def test_unknown_outcome_is_refused(stores: StateStores) -> None:
    with pytest.raises(ValueError):
        stores.job_log.record_outcome("job-1", "rec-1", "exploded")  # type: ignore[arg-type]


def test_list_runs_newest_first_filtered_and_limited(stores: StateStores) -> None:
    log = stores.job_log
    log.save_run(run("c-1", "CUSTOMER", minutes=0))
    log.save_run(run("u-1", "UNIT OF MEASURE", minutes=1))
    log.save_run(run("c-2", "CUSTOMER", minutes=2))
    log.save_run(run("u-2", "UNIT OF MEASURE", minutes=3))
    log.save_run(run("c-2", "CUSTOMER", minutes=2, enqueued=5))  # second save of the same run
    assert [r.job_id for r in log.list_runs()] == ["u-2", "c-2", "u-1", "c-1"]
    assert [r.job_id for r in log.list_runs("CUSTOMER")] == ["c-2", "c-1"]
    assert [r.job_id for r in log.list_runs("UNIT OF MEASURE", limit=1)] == ["u-2"]
    assert [r.job_id for r in log.list_runs(limit=3)] == ["u-2", "c-2", "u-1"]
    assert log.list_runs("CUSTOMER")[0].enqueued == 5
    assert log.list_runs("ITEM") == []


def test_special_characters_in_job_ids_and_mappings(stores: StateStores) -> None:
    log = stores.job_log
    weird = run("job/1#?%", mapping="SALES/ORDER #1")
    log.save_run(weird)
    log.record_outcome("job/1#?%", "src\\1", "inserted")
    summary = log.summary("job/1#?%")
    assert summary is not None and summary.run == weird and summary.counts["inserted"] == 1
    assert log.list_runs("SALES/ORDER #1") == [weird]
    assert log.summary("job/1#?") is None


def test_a_finished_runs_counts_stay_when_looked_at_again(stores: StateStores) -> None:
    log = stores.job_log
    log.save_run(run("job-9", finished_enqueue_at=T0, read=2, enqueued=2))
    log.record_outcome("job-9", "a", "inserted")
    log.record_outcome("job-9", "b", "failed", "no exchange rate")
    first = log.summary("job-9")
    assert first is not None and first.finished
    log.record_outcome("job-9", "b", "unchanged")  # a redelivery of b: weaker, changes nothing
    again = log.summary("job-9")
    assert again is not None and again.counts == first.counts
    assert (again.counts["inserted"], again.counts["failed"], again.processed) == (1, 1, 2)


def test_record_outcomes_in_transactions_keep_the_strongest(stores: StateStores) -> None:
    """Many records at once (more than one transaction of 100), same merge rules as one by one."""
    log = stores.job_log
    log.save_run(run("job-c", finished_enqueue_at=T0, read=250, enqueued=250))
    log.record_outcome("job-c", "rec-0", "inserted")  # an earlier pass inserted it
    log.record_outcome("job-c", "rec-1", "failed", "boom")
    entries = [OutcomeEntry(f"rec-{i}", "unchanged") for i in range(240)]
    entries += [OutcomeEntry("rec-2", "skipped", "marked Skipped"), OutcomeEntry("rec-2", "unchanged")]
    entries += [OutcomeEntry(f"a/b#c?{i}%", "skipped", "x" * 5000) for i in range(10)]
    log.record_outcomes("job-c", entries)
    log.record_outcomes("job-c", entries)  # the chunk redelivered
    log.record_outcomes("job-c", [])
    summary = log.summary("job-c")
    assert summary is not None and summary.finished
    assert summary.counts == {
        **dict.fromkeys(OUTCOMES, 0),
        "inserted": 1,
        "failed": 1,
        "skipped": 11,
        "unchanged": 237,
    }
    with pytest.raises(ValueError):
        log.record_outcomes("job-c", [OutcomeEntry("rec-x", "exploded")])  # type: ignore[arg-type]


def test_chunk_rows_add_up_and_a_later_pass_replaces_its_chunk(stores: StateStores) -> None:
    log = stores.job_log
    assert log.chunk_tally("job-t") is None  # no run
    log.save_run(run("job-t", finished_enqueue_at=T0, read=500, enqueued=500))
    empty = log.chunk_tally("job-t")
    assert empty is not None and sum(empty.counts.values()) == 0 and empty.chunks == 0
    log.record_chunk("job-t", 0, {"inserted": 190, "failed": 2}, ["a/b#1", "rec-2"])
    log.record_chunk("job-t", 1, {"inserted": 200, "unchanged": 0})
    log.record_chunk("job-t", 0, {"inserted": 1, "unchanged": 198}, ["rec-2"])  # chunk 0 again
    tally = log.chunk_tally("job-t")
    assert tally is not None and tally.run.enqueued == 500 and tally.chunks == 2
    assert (tally.counts["inserted"], tally.counts["unchanged"], tally.counts["failed"]) == (201, 198, 0)
    assert tally.sent_again == ("rec-2",) and tally.unlisted == 0
    with pytest.raises(ValueError):
        log.record_chunk("job-t", 2, {"exploded": 1})
    log.record_outcome("job-t", "rec-2", "inserted")
    log.record_outcome("job-t", "rec-2", "unchanged")
    assert log.outcomes_of("job-t", ["rec-2", "a/b#1", "nope"]) == {"rec-2": "inserted"}
    summary = log.summary("job-t")
    assert summary is not None and summary.counts["inserted"] == 1


def test_chunk_rows_of_one_job_leave_other_jobs_alone(stores: StateStores) -> None:
    log = stores.job_log
    for job in ("job-u", "job-v"):
        log.save_run(run(job, finished_enqueue_at=T0, read=10, enqueued=10))
    log.record_chunk("job-u", 0, {"modified": 10})
    other = log.chunk_tally("job-v")
    assert other is not None and other.chunks == 0 and sum(other.counts.values()) == 0
    summary = log.summary("job-u")  # chunk rows are not outcomes
    assert summary is not None and summary.processed == 0 and not summary.finished


def test_a_chunk_whose_ids_do_not_fit_its_row_says_how_many(stores: StateStores) -> None:
    log = stores.job_log
    log.save_run(run("job-w", finished_enqueue_at=T0, read=200, enqueued=200))
    long_ids = [f"{i:04d}" + "x" * 250 for i in range(200)]  # BC keys may be long: 50K characters
    log.record_chunk("job-w", 0, {"failed": 1}, long_ids[:1])
    log.record_chunk("job-w", 1, {}, long_ids)
    tally = log.chunk_tally("job-w")
    assert tally is not None and tally.sent_again == (long_ids[0],) and tally.unlisted == 200
