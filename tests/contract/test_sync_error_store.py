"""SyncErrorStore contract: add, list newest first, filter by mapping, limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync_core.state.ports import SyncErrorEntry
from sync_core.state.stores import StateStores

T0 = datetime(2024, 7, 1, 9, 0, 0, 999999, tzinfo=UTC)


def entry(source_id: str, mapping: str = "CUSTOMER", minutes: int = 0, **kw) -> SyncErrorEntry:
    return SyncErrorEntry(
        mapping=mapping,
        direction="to-bc",
        source_id=source_id,
        message=f"cannot sync {source_id}",
        occurred_at=T0 + timedelta(minutes=minutes),
        **kw,
    )


def test_add_then_list_round_trips_every_field(stores: StateStores) -> None:
    full = entry(
        "rec-1",
        job_id="job-1",
        destination_id="crm-1",
        field="telephone1",
        remedy="Fix the phone number in BC",
        error_code="0x80040217",
    )
    stores.sync_errors.add(full)
    assert stores.sync_errors.list() == [full]
    assert stores.sync_errors.list("CUSTOMER") == [full]
    assert stores.sync_errors.list("ITEM") == []


def test_list_newest_first_across_and_within_mappings(stores: StateStores) -> None:
    errors = stores.sync_errors
    errors.add(entry("c-1", "CUSTOMER", minutes=0))
    errors.add(entry("u-1", "UNIT OF MEASURE", minutes=1))
    errors.add(entry("c-2", "CUSTOMER", minutes=2))
    errors.add(entry("i-1", "A/B #1?", minutes=3))
    errors.add(entry("u-2", "UNIT OF MEASURE", minutes=4))
    assert [e.source_id for e in errors.list()] == ["u-2", "i-1", "c-2", "u-1", "c-1"]
    assert [e.source_id for e in errors.list(limit=2)] == ["u-2", "i-1"]
    assert [e.source_id for e in errors.list("CUSTOMER")] == ["c-2", "c-1"]
    assert [e.source_id for e in errors.list("UNIT OF MEASURE", limit=1)] == ["u-2"]
    assert [e.source_id for e in errors.list("A/B #1?")] == ["i-1"]


def test_same_record_failing_twice_keeps_both_entries(stores: StateStores) -> None:
    errors = stores.sync_errors
    errors.add(entry("rec-1", minutes=0))
    errors.add(entry("rec-1", minutes=0))
    assert [e.source_id for e in errors.list()] == ["rec-1", "rec-1"]


def test_pages_are_newest_first_without_overlap_and_keep_their_place(stores: StateStores) -> None:
    errors = stores.sync_errors
    for i in range(7):
        errors.add(entry(f"c-{i}", "CUSTOMER", minutes=2 * i))
        errors.add(entry(f"i-{i}", "ITEM", minutes=2 * i + 1))
    first = errors.page(size=5)
    assert [e.source_id for e in first.entries] == ["i-6", "c-6", "i-5", "c-5", "i-4"]
    assert first.next_cursor
    errors.add(entry("new", "CUSTOMER", minutes=99))  # a newer error does not shift the next page
    seen = [e.source_id for e in first.entries]
    cursor = first.next_cursor
    while cursor:
        page = errors.page(size=5, cursor=cursor)
        seen += [e.source_id for e in page.entries]
        cursor = page.next_cursor
    assert sorted(seen) == sorted([f"c-{i}" for i in range(7)] + [f"i-{i}" for i in range(7)])
    assert len(seen) == 14
    customer = errors.page("CUSTOMER", size=3)
    assert [e.source_id for e in customer.entries] == ["new", "c-6", "c-5"]
    rest = errors.page("CUSTOMER", size=10, cursor=customer.next_cursor)
    assert [e.source_id for e in rest.entries] == [f"c-{i}" for i in range(4, -1, -1)]
    assert rest.next_cursor == ""


def test_page_filters_one_record_and_refuses_a_foreign_cursor(stores: StateStores) -> None:
    errors = stores.sync_errors
    for i in range(4):
        errors.add(entry("rec-a" if i % 2 else "rec-b", "CUSTOMER", minutes=i))
    page = errors.page("CUSTOMER", source_id="rec-a")
    assert [e.occurred_at for e in page.entries] == [T0 + timedelta(minutes=3), T0 + timedelta(minutes=1)]
    assert errors.page(source_id="rec-b").entries[0].occurred_at == T0 + timedelta(minutes=2)
    assert errors.page("ITEM").entries == [] and errors.page("ITEM").next_cursor == ""
    with pytest.raises(ValueError):
        errors.page(cursor="' or 1 eq 1")
