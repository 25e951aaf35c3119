"""Match-based coupling, the pure part: match fields, keys after transforms, classification."""

from __future__ import annotations

import pytest

from sync_core.errors import DataError
from sync_core.mapping.model import FieldMapping, IntegrationTableMapping
from sync_core.sync.commands.matching import Matcher, MatchIndex, MatchKey, MatchReport, match_fields

MAPPING = IntegrationTableMapping(
    name="CURRENCY",
    bc_entity="currencies",
    crm_entity="transactioncurrencies",
    crm_key="transactioncurrencyid",
    direction="to-dataverse",
    fields=(
        FieldMapping("isocurrencycode", "code", "to-dataverse", transform="code", match=True),
        FieldMapping("currencyname", "displayName", "to-dataverse"),
        FieldMapping("currencyprecision", constant=2, direction="to-dataverse"),
        FieldMapping("_ownerid_value", "salespersonCode", "to-dataverse", lookup="SALESPEOPLE"),
    ),
)


def _matcher(
    rows: dict[str, dict], *, coupled: set[str] = frozenset(), case_sensitive: bool = False
) -> Matcher:
    key = MatchKey(match_fields(MAPPING, ["isocurrencycode"]), case_sensitive)
    index = MatchIndex(key)
    for crm_id, values in rows.items():
        index.add(crm_id, values, coupled=crm_id in coupled)
    return Matcher(index)


def test_match_fields_are_named_by_dataverse_attribute() -> None:
    chosen = match_fields(MAPPING, ["isocurrencycode", " currencyname ", "isocurrencycode"])
    assert [f.bc_field for f in chosen] == ["code", "displayName"]


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        (["code"], "no field mapping for 'code'"),
        (["currencyprecision"], "mapped to a constant"),
        (["_ownerid_value"], "lookup or option field"),
        ([], "at least one"),
    ],
)
def test_bad_match_fields_are_refused(attrs: list[str], message: str) -> None:
    with pytest.raises(DataError, match=message):
        match_fields(MAPPING, attrs)


def test_bc_values_are_compared_after_the_transform_and_case_insensitively() -> None:
    matcher = _matcher({"dv-eur": {"isocurrencycode": "eur"}})
    assert matcher.classify({"code": " Eur "}, coupled=False) == ("matched", ["dv-eur"])


def test_case_sensitive_comparison() -> None:
    matcher = _matcher(
        {"dv-eur": {"isocurrencycode": "eur"}, "dv-gbp": {"isocurrencycode": "GBP"}}, case_sensitive=True
    )
    assert matcher.classify({"code": "EUR"}, coupled=False) == ("unmatched", [])
    assert matcher.classify({"code": "gbp"}, coupled=False) == ("matched", ["dv-gbp"])


def test_each_class() -> None:
    rows = {
        "dv-eur": {"isocurrencycode": "EUR"},
        "dv-dkk-1": {"isocurrencycode": "DKK"},
        "dv-dkk-2": {"isocurrencycode": "dkk"},
        "dv-cad": {"isocurrencycode": "CAD"},
        "dv-blank": {"isocurrencycode": ""},
    }
    matcher = _matcher(rows, coupled={"dv-cad"})
    assert matcher.classify({"code": "EUR"}, coupled=False) == ("matched", ["dv-eur"])
    assert matcher.classify({"code": "DKK"}, coupled=False) == ("ambiguous", ["dv-dkk-1", "dv-dkk-2"])
    assert matcher.classify({"code": "CAD"}, coupled=False) == ("unmatched", [])  # its row is coupled
    assert matcher.classify({"code": "JPY"}, coupled=False) == ("unmatched", [])
    assert matcher.classify({"code": ""}, coupled=False) == ("unmatched", [])  # blank never matches
    assert matcher.classify({"code": "GBP"}, coupled=True) == ("already_coupled", [])
    assert (matcher.index.rows, matcher.index.unavailable, matcher.index.blank) == (5, 1, 1)


def test_a_row_goes_to_the_first_bc_record_matching_it() -> None:
    matcher = _matcher({"dv-eur": {"isocurrencycode": "EUR"}})
    assert matcher.classify({"code": "EUR"}, coupled=False)[0] == "matched"
    assert matcher.classify({"code": "eur"}, coupled=False) == ("ambiguous", ["dv-eur"])


def test_numbers_and_multi_field_keys() -> None:
    key = MatchKey(match_fields(MAPPING, ["isocurrencycode", "currencyname"]))
    assert key.bc_key({"code": "eur", "displayName": "Euro"}) == ("eur", "euro")
    assert key.crm_key({"isocurrencycode": "EUR", "currencyname": "EURO"}) == ("eur", "euro")
    assert key.bc_key({"code": "eur"}) is None  # a missing part: no key
    number_key = MatchKey((FieldMapping("quantity", "qty"),))
    assert number_key.bc_key({"qty": 1}) == number_key.crm_key({"quantity": 1.0})


def test_report_counts_and_samples() -> None:
    report = MatchReport()
    for i in range(12):
        report.note("unmatched", f"bc-{i}", [])
    report.note("matched", "bc-m", ["dv-m"])
    report.note("ambiguous", "bc-a", ["dv-1", "dv-2"])
    assert report.counts == {"matched": 1, "ambiguous": 1, "unmatched": 12, "already_coupled": 0}
    assert len(report.samples["unmatched"]) == 10 and report.total == 14
    assert report.samples["matched"] == [{"bc_id": "bc-m", "crm_id": "dv-m"}]
    assert report.samples["ambiguous"] == [{"bc_id": "bc-a", "crm_ids": ["dv-1", "dv-2"]}]
