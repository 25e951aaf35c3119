"""CURRENCY end to end: timer function -> Azurite queue -> queue function -> Dataverse emulator.

The function entry points are called with real trigger objects; state is in Azurite; BC and
Dataverse are the emulators, signed in through the local authority.
"""

from __future__ import annotations

import pytest

from sandbox.stack import SandboxStack
from sync_core.app import wiring
from tests.e2e.host import deliver_all, fire_timer

EXPECTED_SYNCED = {"CAD", "DKK", "EUR", "GBP"}


def _run(stack: SandboxStack) -> list[str]:
    stack.bc.reset_counters()
    stack.dataverse.reset_counters()
    fire_timer("sync_currency")
    return deliver_all(stack.azurite.connection_string)


def _latest_summary() -> dict[str, int]:
    log = wiring.services().stores.job_log
    run = log.list_runs("CURRENCY", limit=1)[0]
    summary = log.summary(run.job_id)
    assert summary is not None and summary.finished
    return {k: v for k, v in summary.counts.items() if v}


def _dv_currencies(stack: SandboxStack) -> dict[str, dict]:
    return {r["isocurrencycode"]: r for r in stack.dataverse.rows("transactioncurrencies")}


def _expected_rate(stack: SandboxStack, code: str) -> float:
    rate = max(
        (r for r in stack.bc.rows("currencyExchangeRates") if r["currencyCode"] == code),
        key=lambda r: r["startingDate"],
    )
    return rate["exchangeRateAmount"] / rate["relationalExchangeRateAmount"]


def test_first_run_creates_and_couples_and_reports_the_failed_record(stack: SandboxStack) -> None:
    before = set(_dv_currencies(stack))
    delivered = _run(stack)
    assert len(delivered) == len(stack.bc.rows("currencies"))
    rows = _dv_currencies(stack)
    assert set(rows) - before == EXPECTED_SYNCED  # JPY failed, the others synced
    for code in EXPECTED_SYNCED:
        assert rows[code]["exchangerate"] == pytest.approx(_expected_rate(stack, code))
        assert rows[code]["currencyprecision"] == 2
    couplings = list(wiring.services().stores.couplings.iter_mapping("CURRENCY"))
    assert {c.crm_id for c in couplings} == {rows[c]["transactioncurrencyid"] for c in EXPECTED_SYNCED}
    assert all(c.state == "coupled" and c.to_dataverse.result == "success" for c in couplings)
    assert _latest_summary() == {"inserted": 4, "failed": 1}
    errors = wiring.services().stores.sync_errors.list("CURRENCY")
    assert len(errors) == 1 and errors[0].field == "exchangerate"
    assert "currency JPY" in errors[0].message and "exchange rate" in errors[0].remedy
    assert stack.dataverse.counters()["by_method"].get("POST", 0) == 4


def test_no_change_run_writes_nothing_and_one_change_syncs_one_record(stack: SandboxStack) -> None:
    _run(stack)
    assert _run(stack) == []
    assert stack.dataverse.counters()["total"] == 0
    eur = next(r for r in stack.bc.rows("currencies") if r["code"] == "EUR")
    stack.bc.update("currencies", eur["id"], {"displayName": "Euro (changed)"})
    delivered = _run(stack)
    assert len(delivered) == 1 and eur["id"] in delivered[0]
    counters = stack.dataverse.counters()
    assert counters["writes"] == 1 and counters["by_method"].get("PATCH") == 1
    assert _dv_currencies(stack)["EUR"]["currencyname"] == "Euro (changed)"
    assert _latest_summary() == {"modified": 1}


def test_an_idle_timer_goes_on_hold_and_a_held_tick_only_looks(stack: SandboxStack) -> None:
    """BC §2.3: after an idle run the job is On Hold with Inactivity Timeout; a tick then asks BC
    for one changed id and, finding none, runs no job (no job log row, no queue message)."""
    _run(stack)
    _run(stack)  # nothing changed: idle
    log = wiring.services().stores.job_log
    runs = len(log.list_runs("CURRENCY", limit=100))
    assert _run(stack) == []
    assert len(log.list_runs("CURRENCY", limit=100)) == runs
    assert stack.bc.counters()["total"] == 1 and stack.dataverse.counters()["total"] == 0


def test_one_token_per_scope_for_all_calls(stack: SandboxStack) -> None:
    _run(stack)
    _run(stack)
    assert stack.authority.token_requests == 2  # one for BC, one for Dataverse


def test_throttling_and_a_5xx_burst_heal_by_themselves(stack: SandboxStack) -> None:
    from sandbox.odata.server import Fault

    stack.dataverse.set_knobs(faults=[Fault(status=503, count=2), Fault(status=429, count=1, retry_after=1)])
    _run(stack)
    assert set(_dv_currencies(stack)) >= EXPECTED_SYNCED
    assert _latest_summary() == {"inserted": 4, "failed": 1}
