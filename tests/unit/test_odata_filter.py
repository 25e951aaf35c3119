"""The sandbox's OData ``$filter`` parser and evaluator (pure, no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sandbox.odata.engine import (
    QueryError,
    execute,
    paginate,
    parse_query,
    split_top,
    validate_fields,
)
from sandbox.odata.filter import FilterError, evaluate, fields_in, key_values, parse_datetime, parse_filter

ROW = {
    "name": "O'Brien Ltd",
    "city": "Seattle",
    "credit": 2500.5,
    "count": 3,
    "active": True,
    "parent": None,
    "_ownerid_value": "1f0e4c2a-0000-4000-8000-00000000abcd",
    "modifiedon": "2024-05-01T12:30:00.250Z",
    "due": "2024-05-31",
}


def matches(expr: str, row: dict | None = None, ci: bool = False) -> bool:
    return evaluate(parse_filter(expr), ROW if row is None else row, ci=ci)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("count eq 3", True),
        ("count ne 3", False),
        ("count gt 2", True),
        ("count ge 3", True),
        ("count lt 3", False),
        ("count le 3", True),
        ("credit gt 2500.49", True),
        ("credit lt -1", False),
        ("active eq true", True),
        ("active eq false", False),
        ("active", True),
        ("name eq 'O''Brien Ltd'", True),
        ("city gt 'Boston'", True),
    ],
)
def test_comparison_operators(expr: str, expected: bool) -> None:
    assert matches(expr) is expected


def test_null_literal_matches_missing_and_none_only() -> None:
    assert matches("parent eq null")
    assert not matches("parent ne null")
    assert matches("name ne null")
    assert matches("nosuchfield eq null")
    assert not matches("parent gt 1")


def test_and_binds_tighter_than_or_and_parentheses_override() -> None:
    assert matches("count eq 1 and city eq 'X' or count eq 3")
    assert not matches("count eq 1 and (city eq 'X' or count eq 3)")
    assert matches("(count eq 1 or count eq 3) and city eq 'Seattle'")
    assert matches("not (count eq 1)")
    assert not matches("not count eq 3")


def test_string_case_sensitivity_is_a_choice() -> None:
    assert not matches("city eq 'seattle'")
    assert matches("city eq 'seattle'", ci=True)
    assert matches("contains(name,'brien')", ci=True)
    assert not matches("contains(name,'brien')")


def test_string_functions() -> None:
    assert matches("startswith(name,'O''B')")
    assert matches("endswith(city,'attle')")
    assert matches("contains(city,'att') and not startswith(city,'X')")
    assert matches("contains(city,'att') eq true")
    assert matches("tolower(city) eq 'seattle'")
    assert matches("toupper(city) eq 'SEATTLE'")


def test_guid_literals_are_unquoted_and_case_insensitive() -> None:
    assert matches("_ownerid_value eq 1F0E4C2A-0000-4000-8000-00000000ABCD")
    assert matches("_ownerid_value ne 00000000-0000-0000-0000-000000000000")


@pytest.mark.parametrize(
    "literal",
    [
        "2024-05-01T12:30:00Z",
        "2024-05-01T12:30:00.1Z",
        "2024-05-01T12:30:00.2499999Z",
        "2024-05-01T12:30:00+00:00",
        "2024-05-01T14:30:00+02:00",
        "2024-05-01T12:30:00 00:00",  # '+' decoded to a space in a query string
    ],
)
def test_datetime_literals(literal: str) -> None:
    assert matches(f"modifiedon gt {literal}")
    assert not matches(f"modifiedon le {literal}")


def test_datetime_equality_and_dates() -> None:
    assert matches("modifiedon eq 2024-05-01T12:30:00.250Z")
    assert matches("due eq 2024-05-31")
    assert matches("due gt 2024-05-30 and due lt 2024-06-01")
    assert matches("modifiedon ge 2024-05-01")
    assert matches("due lt 2024-06-01T00:00:00Z")


def test_parse_datetime_normalises_to_utc() -> None:
    assert parse_datetime("2024-05-01T14:00:00+02:00") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_datetime("2024-05-01T12:00:00") == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_type_mismatch_is_not_equal() -> None:
    assert not matches("name eq 3")
    assert matches("name ne 3")
    assert not matches("count eq '3'")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "name eqq 'x'",
        "name eq",
        "(count eq 3",
        "count eq 3)",
        "name eq 'unterminated",
        "frobnicate(name,'x')",
        "contains(name)",
        "count eq 3 and",
        "2024-13-45T00:00:00Z eq x",
    ],
)
def test_syntax_errors_raise(bad: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(bad)


def test_error_names_the_position() -> None:
    with pytest.raises(FilterError, match="position 5"):
        parse_filter("name eqq 'x'")


def test_fields_in_lists_every_property() -> None:
    node = parse_filter("a eq 1 and (contains(b,'x') or not c eq null) and tolower(d) eq 'y'")
    assert fields_in(node) == {"a", "b", "c", "d"}


def test_key_values_only_for_key_equalities_joined_by_or() -> None:
    a, b = "6A2F41A3-C54C-4F3B-9D7E-1A2B3C4D5E6F", "00000000-0000-0000-0000-000000000001"
    assert key_values(parse_filter(f"id eq {a} or {b} eq id or (id eq {a})"), "id") == {a.lower(), b}
    for other in (
        f"id eq {a} and id eq {b}",  # and: a scan
        f"id eq {a} or number eq '1'",  # another field
        f"id ne {a}",
        f"not (id eq {a})",
        "id eq 'x'",  # not a GUID
        f"accountid eq {a}",
    ):
        assert key_values(parse_filter(other), "id") is None, other


def test_query_options_and_execution() -> None:
    rows = [{"id": str(i), "n": i % 3, "s": f"x{i}"} for i in range(10)]
    opts = parse_query({"$filter": "n ne 0", "$orderby": "n desc,s", "$top": "4", "$select": "s"})
    ordered = execute(rows, opts, "id", ci=False)
    assert [r["s"] for r in ordered][:4] == ["x2", "x5", "x8", "x1"]
    page = paginate(ordered, opts, "id", False, page_size=3)
    assert [r["s"] for r in page.rows] == ["x2", "x5", "x8"] and page.next_token
    opts.skiptoken = page.next_token
    rest = paginate(ordered, opts, "id", False, page_size=3)
    assert [r["s"] for r in rest.rows] == ["x1"] and rest.next_token is None


def test_expand_options_and_validation() -> None:
    opts = parse_query({"$expand": "lines($select=a,b;$filter=a eq 'x,y';$top=2),other"})
    assert [e.name for e in opts.expand] == ["lines", "other"]
    assert opts.expand[0].options.select == ["a", "b"] and opts.expand[0].options.top == 2
    with pytest.raises(QueryError) as info:
        validate_fields(parse_query({"$select": "a,zz"}), {"a"}, set())
    assert info.value.field == "zz"
    with pytest.raises(QueryError):
        parse_query({"$top": "-1"})
    assert split_top("a(b,c),d", ",") == ["a(b,c)", "d"]
