"""WatermarkStore contract: forward-only, insert-if-absent, IfNotModified."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync_core.errors import ConflictError
from sync_core.state.ports import Watermark
from sync_core.state.stores import StateStores

MAPPING = "UNIT OF MEASURE"
T0 = datetime(2024, 5, 1, 12, 0, 0, 654321, tzinfo=UTC)


def test_unknown_watermark_has_no_value_and_no_etag(stores: StateStores) -> None:
    assert stores.watermarks.get(MAPPING, "to-dataverse") == Watermark(MAPPING, "to-dataverse")


def test_first_advance_inserts_and_reads_back(stores: StateStores) -> None:
    marks = stores.watermarks
    advanced = marks.advance(marks.get(MAPPING, "to-dataverse"), T0)
    assert advanced.value == T0 and advanced.etag
    got = marks.get(MAPPING, "to-dataverse")
    assert got == advanced
    assert got.value is not None and got.value.microsecond == 654321
    assert marks.get(MAPPING, "to-bc").value is None
    assert marks.get("CUSTOMER", "to-dataverse").value is None


def test_advance_moves_forward_only(stores: StateStores) -> None:
    marks = stores.watermarks
    first = marks.advance(marks.get(MAPPING, "to-bc"), T0)
    later = marks.advance(first, T0 + timedelta(microseconds=1))
    assert later.value == T0 + timedelta(microseconds=1) and later.etag != first.etag
    assert marks.advance(later, T0) == later  # backwards: nothing written
    assert marks.advance(later, later.value) == later  # equal: nothing written
    assert marks.get(MAPPING, "to-bc") == later


def test_stale_etag_raises_conflict(stores: StateStores) -> None:
    marks = stores.watermarks
    first = marks.advance(marks.get(MAPPING, "to-bc"), T0)
    newer = marks.advance(first, T0 + timedelta(minutes=1))
    with pytest.raises(ConflictError):
        marks.advance(first, T0 + timedelta(minutes=2))
    assert marks.get(MAPPING, "to-bc") == newer


def test_concurrent_first_insert_raises_conflict(stores: StateStores) -> None:
    marks = stores.watermarks
    unknown = marks.get(MAPPING, "to-dataverse")
    winner = marks.advance(unknown, T0)
    with pytest.raises(ConflictError):
        marks.advance(unknown, T0 + timedelta(minutes=5))
    assert marks.get(MAPPING, "to-dataverse") == winner


def test_special_characters_in_mapping(stores: StateStores) -> None:
    marks = stores.watermarks
    mapping = "A/B #1? 50%"
    advanced = marks.advance(marks.get(mapping, "to-dataverse"), T0)
    assert marks.get(mapping, "to-dataverse") == advanced
    assert marks.get("A/B #1? 50", "to-dataverse").value is None
