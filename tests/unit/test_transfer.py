"""Pure field transfer: mapping values, transforms, change detection, write names, match filters."""

from datetime import UTC, date, datetime

import pytest

from sync_core.errors import MappingError
from sync_core.mapping.catalog import default_catalog
from sync_core.mapping.hooks import currency_exchange_rate
from sync_core.mapping.model import FieldMapping, IntegrationTableMapping
from sync_core.mapping.rules_common import HookContext
from sync_core.mapping.transfer import (
    after_insert_values,
    changed_values,
    map_values,
    match_filter,
    writable_values,
    write_names,
)
from sync_core.mapping.transforms import resolve, values_equal
from sync_core.vocabulary import Record

CURRENCY = default_catalog().get("CURRENCY")
EUR = {"code": " eur ", "symbol": "€", "displayName": "Euro", "id": "x"}


def test_map_values_applies_field_mappings_and_transforms() -> None:
    assert map_values(CURRENCY, "to-dataverse", EUR, inserting=True) == {
        "isocurrencycode": "EUR",
        "currencysymbol": "€",
        "currencyname": "Euro",
    }


def test_changed_values_only_differing_fields() -> None:
    desired = {"isocurrencycode": "EUR", "currencyname": "Euro", "exchangerate": 0.9}
    current = {
        "isocurrencycode": "EUR",
        "currencyname": "Euro (old)",
        "exchangerate": 0.9000000000001,
    }
    assert changed_values(desired, current) == {"currencyname": "Euro"}


def test_values_equal_rules() -> None:
    assert values_equal(None, "") and values_equal(1, 1.0) and not values_equal("a", "A")
    assert not values_equal(True, 1.5)


def test_transforms_resolve_and_refuse_unknown() -> None:
    assert resolve("code")("  ab ") == "AB"
    assert resolve("truncate:3")("abcdef") == "abc"
    assert resolve("")(5) == 5
    with pytest.raises(ValueError, match="unknown transform"):
        resolve("truncate:x")


def test_lookup_write_names_and_constants() -> None:
    mapping = IntegrationTableMapping(
        name="T",
        bc_entity="customers",
        crm_entity="accounts",
        crm_key="accountid",
        direction="bidirectional",
        fields=(
            FieldMapping(
                crm_field="_transactioncurrencyid_value",
                bc_field="currencyId",
                crm_write="transactioncurrencyid@odata.bind",
            ),
            FieldMapping(crm_field="customertypecode", constant=3, direction="to-dataverse"),
            FieldMapping(crm_field="accountnumber", bc_field="number", on_insert_only=True),
        ),
    )
    values = map_values(mapping, "to-dataverse", {"currencyId": "c1", "number": "10000"}, inserting=False)
    assert values == {"_transactioncurrencyid_value": "c1", "customertypecode": 3}
    assert write_names(mapping, "to-dataverse", values) == {
        "transactioncurrencyid@odata.bind": "c1",
        "customertypecode": 3,
    }
    assert map_values(
        mapping, "to-bc", {"_transactioncurrencyid_value": "g", "accountnumber": "9"}, inserting=True
    ) == {"currencyId": "g", "number": "9"}


def test_writable_values_follow_crm_access() -> None:
    invoice = default_catalog().get("POSTEDSALESINV-INV")
    values = {"invoicenumber": "103001", "totalamount": 12.5, "totalamountlessfreight": 10.0, "name": "x"}
    assert writable_values(invoice, values, creating=True) == {"invoicenumber": "103001", "name": "x"}
    assert writable_values(invoice, values, creating=False) == {
        "totalamount": 12.5,
        "totalamountlessfreight": 10.0,
        "name": "x",  # not a field mapping (a hook's value): kept
    }
    assert after_insert_values(invoice, values) == {"totalamount": 12.5, "totalamountlessfreight": 10.0}
    assert writable_values(invoice, values, creating=False, direction="to-bc") == values
    assert writable_values(CURRENCY, {"isocurrencycode": "EUR"}, creating=False) == {"isocurrencycode": "EUR"}


def test_match_filter_quotes_and_needs_values() -> None:
    assert match_filter(CURRENCY, {"isocurrencycode": "O'B"}) == "isocurrencycode eq 'O''B'"
    assert match_filter(CURRENCY, {"isocurrencycode": ""}) is None


class _Reference:
    def __init__(self, rates: list[dict], lcy: str = "USD") -> None:
        self._rates, self._lcy = rates, lcy
        self.filters: list[str | None] = []

    def rows(self, entity: str, filter: str | None = None, *, fresh: bool = False) -> list[dict]:
        assert entity == "currencyExchangeRates"
        self.filters.append(filter)
        return self._rates

    def lcy_code(self) -> str:
        return self._lcy


def _ctx(code: str, reference: _Reference, inserting: bool = True) -> HookContext:
    record = Record("id", datetime(2026, 1, 1, tzinfo=UTC), None, {"code": code})
    return HookContext("to-dataverse", inserting, record, reference, date(2026, 6, 1))


def _rate(starting: str, relational: float) -> dict:
    return {
        "currencyCode": "EUR",
        "startingDate": starting,
        "exchangeRateAmount": 1,
        "relationalExchangeRateAmount": relational,
    }


def test_currency_exchange_rate_uses_latest_rate_not_in_future() -> None:
    rates = [
        _rate("2026-01-01", 1.25),
        _rate("2026-05-01", 1.0 / 0.8),
        _rate("2027-01-01", 5),
    ]
    reference = _Reference(rates)
    out = currency_exchange_rate(_ctx("EUR", reference), {"isocurrencycode": "EUR"})
    assert out == {"isocurrencycode": "EUR", "exchangerate": 0.8, "currencyprecision": 2}
    assert reference.filters == ["currencyCode eq 'EUR'"]
    assert "currencyprecision" not in currency_exchange_rate(_ctx("EUR", reference, False), {})


def test_currency_exchange_rate_lcy_is_one_and_missing_rate_is_bcs_error() -> None:
    assert currency_exchange_rate(_ctx("USD", _Reference([])), {})["exchangerate"] == 1.0
    with pytest.raises(MappingError) as info:
        currency_exchange_rate(_ctx("JPY", _Reference([])), {})
    assert info.value.message == (
        "Cannot create or update the currency JPY in Dataverse, because there is no exchange "
        "rate defined for it."
    )
    assert info.value.field == "exchangerate" and "Currency Exchange Rates" in (info.value.remedy or "")
