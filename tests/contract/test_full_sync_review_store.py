"""FullSyncReviewStore contract: one review per run, one line per mapping, ETag-safe, a pointer
to the latest run that two starts cannot both move."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sync_core.errors import ConflictError
from sync_core.state.full_sync_review import (
    CurrentReview,
    FullSyncReview,
    FullSyncReviewStore,
    MemoryFullSyncReviewStore,
    ReviewLine,
    StagedRecord,
)
from sync_core.state.full_sync_review_tables import full_sync_review_store

T0 = datetime(2024, 5, 1, 12, 0, 0, 654321, tzinfo=UTC)
RUN = "20240501120000-abcdef01"


@pytest.fixture(params=["memory", pytest.param("tables", marks=pytest.mark.azurite)])
def reviews(request: pytest.FixtureRequest, table_prefix: str) -> FullSyncReviewStore:
    if request.param == "memory":
        return MemoryFullSyncReviewStore()
    return full_sync_review_store(request.getfixturevalue("storage_conn"), table_prefix)


def _lines(run_id: str = RUN) -> list[ReviewLine]:
    return [
        ReviewLine(run_id, "UNIT OF MEASURE", "No Records Found", status="Finished", position=1),
        ReviewLine(run_id, "CURRENCY", "Full Synchronization", status="Ready", position=0),
        ReviewLine(
            run_id,
            "CUSTOMER",
            "Couple Records",
            ("CURRENCY", "SALESPEOPLE"),
            position=2,
            match_fields=("name", "accountnumber"),
        ),
        ReviewLine(run_id, "ITEM/PRODUCT #1", "Full Synchronization", ("UNIT OF MEASURE",), position=3),
    ]


def _create(reviews: FullSyncReviewStore, run_id: str = RUN) -> None:
    reviews.create(FullSyncReview(run_id, T0, ("CURRENCY", "CUSTOMER")), _lines(run_id), reviews.current())


def test_nothing_before_the_first_run(reviews: FullSyncReviewStore) -> None:
    assert reviews.current() == CurrentReview()
    assert reviews.get(RUN) is None and reviews.lines(RUN) == [] and reviews.get_line(RUN, "CURRENCY") is None


def test_create_then_read_back_in_review_order(reviews: FullSyncReviewStore) -> None:
    _create(reviews)
    assert reviews.current().run_id == RUN and reviews.current().etag
    review = reviews.get(RUN)
    assert review == FullSyncReview(RUN, T0, ("CURRENCY", "CUSTOMER"), "command")
    lines = reviews.lines(RUN)
    assert [li.mapping for li in lines] == ["CURRENCY", "UNIT OF MEASURE", "CUSTOMER", "ITEM/PRODUCT #1"]
    customer = reviews.get_line(RUN, "CUSTOMER")
    assert customer is not None and customer.etag
    assert customer.dependencies == ("CURRENCY", "SALESPEOPLE") and customer.status == "Waiting"
    assert customer.counts == {
        "inserted": 0,
        "modified": 0,
        "unchanged": 0,
        "skipped": 0,
        "failed": 0,
        "uncoupled": 0,
    }
    assert customer.attempt == 1 and customer.jobs == {} and customer.started_at is None
    assert customer.match_fields == ("name", "accountnumber")
    assert reviews.get_line(RUN, "ITEM/PRODUCT #1") is not None  # keys are escaped


def test_save_line_keeps_every_field_and_changes_the_etag(reviews: FullSyncReviewStore) -> None:
    _create(reviews)
    line = reviews.get_line(RUN, "CUSTOMER")
    assert line is not None
    local = timezone(timedelta(hours=2))
    changed = replace(
        line,
        status="In Process",
        attempt=3,
        jobs={"to-dataverse": "job-1", "to-bc": "job-2"},
        counts={"inserted": 7, "failed": 1},
        started_at=T0,
        progress_at=T0.astimezone(local),
        message="x" * 20_000,
    )
    saved = reviews.save_line(changed)
    assert saved.etag and saved.etag != line.etag
    got = reviews.get_line(RUN, "CUSTOMER")
    assert got == saved
    assert list(got.jobs.items()) == [("to-dataverse", "job-1"), ("to-bc", "job-2")]
    assert got.counts == {
        "inserted": 7,
        "modified": 0,
        "unchanged": 0,
        "skipped": 0,
        "failed": 1,
        "uncoupled": 0,
    }
    assert got.progress_at == T0 and got.progress_at.tzinfo == UTC
    assert len(got.message) == 16_000 and got.processed == 8


def test_stale_line_etag_raises_conflict(reviews: FullSyncReviewStore) -> None:
    _create(reviews)
    line = reviews.get_line(RUN, "CURRENCY")
    assert line is not None
    newer = reviews.save_line(replace(line, status="In Process"))
    with pytest.raises(ConflictError):
        reviews.save_line(replace(line, status="Error"))
    assert reviews.get_line(RUN, "CURRENCY") == newer
    with pytest.raises(ValueError):
        reviews.save_line(replace(line, etag=None))


def test_two_starts_from_the_same_pointer_one_wins(reviews: FullSyncReviewStore) -> None:
    before = reviews.current()
    reviews.create(FullSyncReview("run-a", T0), _lines("run-a"), before)
    with pytest.raises(ConflictError):  # AlreadyExistsError is a ConflictError
        reviews.create(FullSyncReview("run-b", T0), _lines("run-b"), before)
    assert reviews.current().run_id == "run-a"
    pointer = reviews.current()
    reviews.create(FullSyncReview("run-c", T0 + timedelta(hours=1)), _lines("run-c"), pointer)
    with pytest.raises(ConflictError):
        reviews.create(FullSyncReview("run-d", T0), _lines("run-d"), pointer)
    assert reviews.current().run_id == "run-c"
    assert reviews.lines("run-a")[0].mapping == "CURRENCY"  # older runs stay readable


def test_staged_chunks_in_order_from_any_chunk(reviews: FullSyncReviewStore) -> None:
    job = "20240501120000-job/1"
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(25)]
    for chunk in (2, 0, 1):  # written out of order, and once more (a rescan): idempotent
        reviews.stage(job, chunk, ids[chunk * 10 : chunk * 10 + 10])
    reviews.stage(job, 1, ids[10:20])
    assert reviews.staged(job, 0, 10) == [ids[0:10], ids[10:20], ids[20:25]]
    assert reviews.staged(job, 1, 1) == [ids[10:20]]
    assert reviews.staged(job, 3, 5) == [] and reviews.staged(job, 0, 0) == []
    assert reviews.staged("other job", 0, 5) == []
    reviews.drop_stage(job)
    reviews.drop_stage(job)
    assert reviews.staged(job, 0, 10) == []


def test_fed_count_is_kept(reviews: FullSyncReviewStore) -> None:
    _create(reviews)
    line = reviews.get_line(RUN, "CURRENCY")
    assert line is not None and line.fed == 0
    reviews.save_line(replace(line, fed=4200))
    assert reviews.get_line(RUN, "CURRENCY").fed == 4200  # type: ignore[union-attr]


def test_staged_records_keep_modified_on_and_decision(reviews: FullSyncReviewStore) -> None:
    """200 GUIDs with their facts stay in one row (one point read), old id-only rows still read."""
    records = [
        StagedRecord(str(uuid.UUID(int=n)), 1_717_000_000_000 + n, ("unchanged", "skipped", "process")[n % 3])
        for n in range(200)
    ]
    records[5] = StagedRecord(records[5].id, None, "process")
    reviews.stage_records("job-a", 0, records)
    reviews.stage_records("job-a", 1, records[:3])
    reviews.stage("job-a", 2, ["x/1", "y#2"])
    assert reviews.staged_chunk("job-a", 0) == records
    assert reviews.staged_chunk("job-a", 1) == records[:3]
    assert reviews.staged_chunk("job-a", 2) == [StagedRecord("x/1"), StagedRecord("y#2")]
    assert reviews.staged_chunk("job-a", 3) is None and reviews.staged_chunk("job-b", 0) is None
    assert reviews.staged("job-a", 0, 10) == [
        [r.id for r in records],
        [r.id for r in records[:3]],
        ["x/1", "y#2"],
    ]
    reviews.drop_stage("job-a")
    assert reviews.staged_chunk("job-a", 0) is None
