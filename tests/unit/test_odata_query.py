"""OData literals, filters, $select and query-string encoding."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from sync_core.odata.query import encode_query, parse_datetime, select_param
from sync_core.odata.retry import RetryPolicy, parse_retry_after
from sync_core.vocabulary import and_filters, odata_literal


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("O'Bryan", "'O''Bryan'"),
        ("", "''"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (42, "42"),
        (-1.5, "-1.5"),
        (Decimal("1E+2"), "100"),
        (Decimal("12.3400"), "12.3400"),
        (uuid.UUID("6f1e3c2a-0000-4000-8000-000000000001"), "6f1e3c2a-0000-4000-8000-000000000001"),
        (date(2024, 5, 1), "2024-05-01"),
        (datetime(2024, 5, 1, 0, 0, 0, 123456, tzinfo=UTC), "2024-05-01T00:00:00.123Z"),
        (datetime(2024, 5, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T00:00:00.000Z"),
    ],
)
def test_literals(value: object, literal: str) -> None:
    assert odata_literal(value) == literal


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError):
        odata_literal(datetime(2024, 5, 1))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN"), object()])
def test_values_without_a_literal(value: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        odata_literal(value)


def test_and_filters() -> None:
    assert and_filters(None, "", "  ") is None
    assert and_filters("a eq 1") == "a eq 1"
    assert and_filters("a eq 1", None, "b eq 2 or c eq 3") == "(a eq 1) and (b eq 2 or c eq 3)"


def test_select_param_keeps_order_and_drops_duplicates() -> None:
    assert select_param(["id", "name", "id", "", "lastModifiedDateTime"]) == "id,name,lastModifiedDateTime"


def test_encode_query() -> None:
    query = encode_query(
        {
            "$filter": "name eq 'A&B + C' and modifiedon ge 2024-05-01T00:00:00.000Z",
            "$select": "id,name",
            "$top": 5,
            "$count": True,
            "$expand": None,
        }
    )
    assert query == (
        "$filter=name%20eq%20'A%26B%20%2B%20C'%20and%20modifiedon%20ge%202024-05-01T00:00:00.000Z"
        "&$select=id,name&$top=5&$count=true"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.1234567Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ],
)
def test_parse_datetime(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected


def test_retry_after_parsing() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2024, 5, 1, 10, tzinfo=UTC).timestamp()
    assert parse_retry_after("Wed, 01 May 2024 10:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 09:00:00 GMT", now=now) == 0.0


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=3.0)
    assert policy.next_delay(1, retry_after=None, remaining=60, rand=lambda: 1.0) == 1.0
    assert policy.next_delay(2, retry_after=None, remaining=60, rand=lambda: 0.0) == 1.0
    assert policy.next_delay(3, retry_after=None, remaining=60, rand=lambda: 1.0) == 3.0  # capped
    assert policy.next_delay(3, retry_after=None, remaining=0.5, rand=lambda: 1.0) == 0.5  # budget
    assert policy.next_delay(4, retry_after=None, remaining=60) is None  # attempts used up
    assert policy.next_delay(1, retry_after=10, remaining=60) == 10
    assert policy.next_delay(1, retry_after=61, remaining=60) is None  # Retry-After beyond budget
