"""Coupling operations through the operator commands, against the emulators and Azurite.

CURRENCY: couple / uncouple, create in Dataverse, synchronize now, a Skipped record restored,
retry, match-based coupling (dry run, then a real run), runtime settings changing what syncs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.stack import SandboxStack, environment
from sync_core.app import wiring
from sync_core.app.wiring import Services
from tests.e2e.host import deliver_all, queued
from tests.e2e.operator_support import (
    add_dv_currency,
    attach_settings,
    bc_currency,
    cli,
    cli_refused,
    cli_usage_error,
    couplings_of,
    dv_currencies,
)

Cap = pytest.CaptureFixture[str]
MAPPINGS = str(Path(__file__).parent.parent / "fixtures" / "mappings")


@pytest.fixture
def svc(stack: SandboxStack) -> Services:
    return attach_settings(stack)


def test_couple_sync_now_and_uncouple(stack: SandboxStack, svc: Services, capsys: Cap) -> None:
    eur, gbp = bc_currency(stack, "EUR"), bc_currency(stack, "GBP")
    dv_eur = add_dv_currency(stack, "EUR", "Euro (CRM)")
    got = cli(capsys, svc, "couple", "CURRENCY", "--bc-id", eur, "--crm-id", dv_eur)["coupling"]
    assert got["coupled"] is True
    [coupling] = couplings_of(svc, "CURRENCY")
    assert (coupling.state, coupling.bc_modified_on, coupling.crm_modified_on) == ("coupled", None, None)
    again = cli(capsys, svc, "couple", "CURRENCY", "--bc-id", eur.upper(), "--crm-id", dv_eur)
    assert again["coupling"]["coupled"] is False  # the same pair: nothing to do
    err = cli_refused(capsys, svc, "couple", "CURRENCY", "--bc-id", gbp, "--crm-id", dv_eur)
    assert f"already coupled to the BC record {eur}" in err and "uncouple" in err
    err = cli_refused(capsys, svc, "couple", "CURRENCY", "--bc-id", dv_eur, "--crm-id", dv_eur)
    assert "There is no BC record" in err
    err = cli_refused(capsys, svc, "couple", "PAYMENT TERMS", "--bc-id", eur, "--crm-id", dv_eur)
    assert "option mapping" in err
    assert "is not a GUID" in cli_usage_error(
        capsys, svc, "couple", "CURRENCY", "--bc-id", "EUR", "--crm-id", dv_eur
    )

    synced = cli(capsys, svc, "sync-now", "CURRENCY", "--crm-id", dv_eur, "--direction", "to-dataverse")
    assert synced["synchronized"]["outcome"] == "modified"
    assert dv_currencies(stack)["EUR"]["currencyname"] == "Euro"  # every field compared after couple
    err = cli_refused(capsys, svc, "sync-now", "CURRENCY", "--bc-id", eur, "--direction", "to-bc")
    assert "not configured for to-bc" in err
    err = cli_refused(capsys, svc, "sync-now", "CURRENCY", "--bc-id", gbp, "--direction", "to-dataverse")
    assert "is not coupled" in err

    assert cli(capsys, svc, "uncouple", "CURRENCY", "--bc-id", eur)["uncoupled"]["uncoupled"] == 1
    assert couplings_of(svc, "CURRENCY") == []
    assert "is not coupled" in cli_refused(capsys, svc, "uncouple", "CURRENCY", "--crm-id", dv_eur)
    assert dv_currencies(stack)["EUR"]["transactioncurrencyid"] == dv_eur  # uncoupling changes no record


def test_a_row_coupled_to_a_deleted_bc_record_can_be_coupled_again(
    stack: SandboxStack, svc: Services, capsys: Cap
) -> None:
    gone = stack.bc.insert("currencies", {"code": "XTS", "displayName": "Test", "symbol": "X"})["id"]
    cad, dv_row = bc_currency(stack, "CAD"), add_dv_currency(stack, "CAD")
    cli(capsys, svc, "couple", "CURRENCY", "--bc-id", gone, "--crm-id", dv_row)
    assert "already coupled" in cli_refused(
        capsys, svc, "couple", "CURRENCY", "--bc-id", cad, "--crm-id", dv_row
    )
    stack.bc.delete("currencies", gone)
    got = cli(capsys, svc, "couple", "CURRENCY", "--bc-id", cad, "--crm-id", dv_row)["coupling"]
    assert got["coupled"] is True and got["replaced_bc_id"] == gone
    assert [(c.bc_id, c.crm_id) for c in couplings_of(svc, "CURRENCY")] == [(cad, dv_row)]
    assert cli(capsys, svc, "uncouple", "CURRENCY", "--all")["uncoupled"]["uncoupled"] == 1


def test_create_in_dataverse(stack: SandboxStack, svc: Services, capsys: Cap) -> None:
    gbp, jpy = bc_currency(stack, "GBP"), bc_currency(stack, "JPY")
    created = cli(capsys, svc, "create-in-dataverse", "CURRENCY", "--bc-id", gbp)["created"]
    row = dv_currencies(stack)["GBP"]
    assert created["outcome"] == "inserted" and created["destination_id"] == row["transactioncurrencyid"]
    assert [(c.bc_id, c.crm_id) for c in couplings_of(svc, "CURRENCY")] == [(gbp, created["destination_id"])]
    jobs = cli(capsys, svc, "jobs", "--mapping", "CURRENCY")["jobs"]
    assert (
        jobs[0]["job_id"] == created["job_id"] and jobs[0]["counts"]["inserted"] == 1 and jobs[0]["finished"]
    )
    assert "already coupled" in cli_refused(capsys, svc, "create-in-dataverse", "CURRENCY", "--bc-id", gbp)
    err = cli_refused(capsys, svc, "create-in-dataverse", "CURRENCY", "--bc-id", jpy)
    assert "no exchange rate defined" in err
    assert cli(capsys, svc, "errors", "--mapping", "CURRENCY")["errors"][0]["source_id"] == jpy
    assert "JPY" not in dv_currencies(stack)
    assert "not configured for to-bc" in cli_refused(
        capsys, svc, "create-in-bc", "CURRENCY", "--crm-id", created["destination_id"]
    )


def _add_rate(stack: SandboxStack, code: str, rate: float) -> None:
    stack.bc.insert(
        "currencyExchangeRates",
        {
            "currencyCode": code,
            "startingDate": "2024-01-01",
            "exchangeRateAmount": 1,
            "relationalExchangeRateAmount": rate,
        },
    )


def test_same_error_twice_skips_then_restore_and_retry(
    stack: SandboxStack, svc: Services, capsys: Cap
) -> None:
    conn = stack.azurite.connection_string
    jpy, dv_jpy = bc_currency(stack, "JPY"), add_dv_currency(stack, "JPY")
    cli(capsys, svc, "couple", "CURRENCY", "--bc-id", jpy, "--crm-id", dv_jpy)
    err = cli_refused(capsys, svc, "sync-now", "CURRENCY", "--bc-id", jpy, "--direction", "to-dataverse")
    assert "failed" in err and "no exchange rate" in err
    assert "not Skipped" in cli_refused(capsys, svc, "restore", "CURRENCY", "--bc-id", jpy)
    retried = cli(capsys, svc, "retry", "CURRENCY", "--bc-id", jpy)["retry"]
    assert retried["enqueued"] == 1 and len(deliver_all(conn)) == 1
    [coupling] = couplings_of(svc, "CURRENCY")
    assert coupling.skipped and coupling.to_dataverse.result == "failure"  # the same error twice
    assert "is Skipped" in cli_refused(capsys, svc, "retry", "CURRENCY", "--crm-id", dv_jpy)
    assert "restore" in cli_refused(
        capsys, svc, "sync-now", "CURRENCY", "--bc-id", jpy, "--direction", "to-dataverse"
    )
    assert cli(capsys, svc, "retry", "CURRENCY", "--all")["retry"]["enqueued"] == 0

    _add_rate(stack, "JPY", 0.0067)
    restored = cli(capsys, svc, "restore", "CURRENCY", "--all")["restore"]
    assert (restored["restored"], restored["enqueued"]) == (1, 1)
    assert not couplings_of(svc, "CURRENCY")[0].skipped  # cleared at once, before the queue runs
    assert len(deliver_all(conn)) == 1
    [coupling] = couplings_of(svc, "CURRENCY")
    assert not coupling.skipped and coupling.to_dataverse.result == "success"
    assert dv_currencies(stack)["JPY"]["exchangerate"] == pytest.approx(1 / 0.0067)
    jobs = cli(capsys, svc, "jobs", "--mapping", "CURRENCY")["jobs"]
    assert jobs[0]["job_id"] == restored["job_ids"][0] and jobs[0]["counts"]["modified"] == 1


def test_match_couple_dry_run_then_couple_create_and_sync(
    stack: SandboxStack, svc: Services, capsys: Cap
) -> None:
    conn = stack.azurite.connection_string
    dv_eur, dv_gbp = add_dv_currency(stack, "eur"), add_dv_currency(stack, "GBP")
    cli(
        capsys,
        svc,
        "couple",
        "CURRENCY",
        "--bc-id",
        bc_currency(stack, "CAD"),
        "--crm-id",
        add_dv_currency(stack, "CAD"),
    )
    report = cli(capsys, svc, "match-couple", "CURRENCY", "--match", "isocurrencycode", "--dry-run")[
        "match_couple"
    ]
    assert report["counts"] == {"matched": 2, "ambiguous": 0, "unmatched": 2, "already_coupled": 1}
    matched = {(s["bc_id"], s["crm_id"]) for s in report["samples"]["matched"]}
    assert matched == {(bc_currency(stack, "EUR"), dv_eur), (bc_currency(stack, "GBP"), dv_gbp)}
    assert {s["bc_id"] for s in report["samples"]["unmatched"]} == {
        bc_currency(stack, c) for c in ("DKK", "JPY")
    }
    assert report["dataverse_unavailable"] == 1  # the CAD row is coupled
    assert len(couplings_of(svc, "CURRENCY")) == 1 and queued(conn) == 0  # a dry run writes nothing
    strict = cli(
        capsys, svc, "match-couple", "CURRENCY", "--match", "isocurrencycode", "--case-sensitive", "--dry-run"
    )
    assert strict["match_couple"]["counts"]["matched"] == 1  # "eur" is not "EUR"
    assert "no field mapping for 'code'" in cli_refused(
        capsys, svc, "match-couple", "CURRENCY", "--match", "code"
    )

    done = cli(
        capsys, svc, "match-couple", "CURRENCY", "--match", "isocurrencycode", "--create-new", "--sync-after"
    )
    assert (done["match_couple"]["coupled"], done["match_couple"]["enqueued"]) == (2, 4)
    assert len(couplings_of(svc, "CURRENCY")) == 3
    assert len(deliver_all(conn)) == 4
    rows = dv_currencies(stack)
    assert rows["EUR"]["isocurrencycode"] == "EUR" and rows["EUR"]["currencyname"] == "Euro"  # synced after
    assert rows["DKK"]["currencyname"] == "Danish Krone"  # created: no match
    assert "JPY" not in rows  # created, but it fails: no exchange rate
    after = cli(capsys, svc, "match-couple", "CURRENCY", "--match", "isocurrencycode", "--dry-run")[
        "match_couple"
    ]
    assert after["counts"] == {"matched": 0, "ambiguous": 0, "unmatched": 1, "already_coupled": 4}


def test_mapping_set_changes_what_the_next_sync_writes(
    stack: SandboxStack, svc: Services, capsys: Cap
) -> None:
    conn = stack.azurite.connection_string
    cli(capsys, svc, "run", "CURRENCY")
    deliver_all(conn)
    row = cli(capsys, svc, "mapping-set", "CURRENCY", "--disable-field", "currencysymbol")["mapping"]
    assert row["runtime_settings"] == {"disabled_fields": ["currencysymbol"]}
    listed = {m["name"]: m for m in cli(capsys, svc, "mappings")["mappings"]}["CURRENCY"]
    assert {f["crm"]: f["enabled"] for f in listed["fields"]}["currencysymbol"] is False
    eur = bc_currency(stack, "EUR")
    stack.bc.update("currencies", eur, {"symbol": "EU", "displayName": "Euro (new)"})
    cli(capsys, svc, "run", "CURRENCY")
    assert len(deliver_all(conn)) == 1
    assert (dv_currencies(stack)["EUR"]["currencysymbol"], dv_currencies(stack)["EUR"]["currencyname"]) == (
        "€",
        "Euro (new)",
    )
    cli(capsys, svc, "mapping-set", "CURRENCY", "--enable-field", "currencysymbol")
    stack.bc.update("currencies", eur, {"displayName": "Euro"})
    cli(capsys, svc, "run", "CURRENCY")
    deliver_all(conn)
    assert dv_currencies(stack)["EUR"]["currencysymbol"] == "EU"
    assert "websiteurl" in cli_refused(
        capsys, svc, "mapping-set", "CURRENCY", "--disable-field", "websiteurl"
    )
    assert "unknown mapping 'NOPE'" in cli_refused(
        capsys, svc, "mapping-set", "NOPE", "--synch-only-coupled", "no"
    )
    cli_usage_error(capsys, svc, "mapping-set", "CURRENCY", "--update-conflict-resolution", "bc-wins")


# -- a bidirectional mapping (the test-only TEST-ACCOUNT: customers.displayName <-> accounts.name) --


@pytest.fixture
def account_svc(stack: SandboxStack) -> Iterator[Services]:
    with environment({"SYNC_MAPPINGS_DIR": MAPPINGS}):
        wiring.reset()
        yield attach_settings(stack)
    wiring.reset()


def _account(stack: SandboxStack, name: str) -> str:
    return next(r["accountid"] for r in stack.dataverse.rows("accounts") if r["name"] == name)


def _customer(stack: SandboxStack, name: str) -> str:
    return next(r["id"] for r in stack.bc.rows("customers") if r["displayName"] == name)


def test_create_in_bc(stack: SandboxStack, account_svc: Services, capsys: Cap) -> None:
    fabrikam = _account(stack, "Fabrikam, Inc.")
    created = cli(capsys, account_svc, "create-in-bc", "TEST-ACCOUNT", "--crm-id", fabrikam)["created"]
    assert created["outcome"] == "inserted" and created["destination_id"] == _customer(
        stack, "Fabrikam, Inc."
    )
    [coupling] = couplings_of(account_svc, "TEST-ACCOUNT")
    assert (coupling.bc_id, coupling.crm_id, coupling.state) == (
        created["destination_id"],
        fabrikam,
        "coupled",
    )
    assert "already coupled" in cli_refused(
        capsys, account_svc, "create-in-bc", "TEST-ACCOUNT", "--crm-id", fabrikam
    )
    stack.dataverse.update("accounts", fabrikam, {"name": "Fabrikam (renamed)"})
    synced = cli(
        capsys, account_svc, "sync-now", "TEST-ACCOUNT", "--bc-id", coupling.bc_id, "--direction", "to-bc"
    )
    assert synced["synchronized"]["outcome"] == "modified"
    assert stack.bc.get("customers", coupling.bc_id)["displayName"] == "Fabrikam (renamed)"


def test_synch_only_coupled_set_at_runtime(stack: SandboxStack, account_svc: Services, capsys: Cap) -> None:
    def run() -> dict:
        return cli(capsys, account_svc, "run", "TEST-ACCOUNT")["jobs"][0]

    first = run()
    assert first["direction"] == "to-dataverse" and first["read"] > 0 and first["enqueued"] == 0
    stack.bc.update("customers", _customer(stack, "Selangorian Ltd."), {"phoneNumber": "+44 1"})
    assert run()["enqueued"] == 0  # uncoupled: left out
    cli(capsys, account_svc, "mapping-set", "TEST-ACCOUNT", "--synch-only-coupled", "no")
    stack.bc.update("customers", _customer(stack, "Selangorian Ltd."), {"phoneNumber": "+44 2"})
    assert run()["enqueued"] == 1


def test_match_couple_reports_ambiguous_rows(stack: SandboxStack, account_svc: Services, capsys: Cap) -> None:
    for _ in range(2):
        stack.dataverse.insert("accounts", {"name": "SELANGORIAN LTD."})
    report = cli(capsys, account_svc, "match-couple", "TEST-ACCOUNT", "--match", "name", "--dry-run")
    counts, samples = report["match_couple"]["counts"], report["match_couple"]["samples"]
    assert counts["ambiguous"] == 1 and samples["ambiguous"][0]["bc_id"] == _customer(
        stack, "Selangorian Ltd."
    )
    assert len(samples["ambiguous"][0]["crm_ids"]) == 2
    cannon = (_customer(stack, "The Cannon Group PLC"), _account(stack, "The Cannon Group PLC"))
    assert (
        counts["matched"] == 1 and (samples["matched"][0]["bc_id"], samples["matched"][0]["crm_id"]) == cannon
    )
    assert counts["unmatched"] == len(stack.bc.rows("customers")) - 2
    done = cli(capsys, account_svc, "match-couple", "TEST-ACCOUNT", "--match", "name")["match_couple"]
    assert (done["coupled"], done["enqueued"]) == (1, 0)
    assert [(c.bc_id, c.crm_id) for c in couplings_of(account_svc, "TEST-ACCOUNT")] == [cannon]


def test_uncoupling_a_customer_uncouples_the_contacts_of_its_account(
    stack: SandboxStack, svc: Services, capsys: Cap
) -> None:
    """BC §4.4: the coupling-removal of an account removes its contacts' couplings too."""
    customer = next(r for r in stack.bc.rows("integrationCustomers") if r["number"] == "10000")
    account = next(r for r in stack.dataverse.rows("accounts") if r["name"] == "The Cannon Group PLC")
    contacts = stack.bc.rows("integrationContacts")
    mark = next(r for r in stack.dataverse.rows("contacts") if r["lastname"] == "McArthur")
    other = next(r for r in stack.dataverse.rows("contacts") if r["_parentcustomerid_value"] is None)
    cli(capsys, svc, "couple", "CUSTOMER", "--bc-id", customer["id"], "--crm-id", account["accountid"])
    cli(capsys, svc, "couple", "CONTACT", "--bc-id", contacts[0]["id"], "--crm-id", mark["contactid"])
    cli(capsys, svc, "couple", "CONTACT", "--bc-id", contacts[1]["id"], "--crm-id", other["contactid"])
    result = cli(capsys, svc, "uncouple", "CUSTOMER", "--bc-id", customer["id"])["uncoupled"]
    assert (result["uncoupled"], result["children"]) == (1, {"CONTACT": 1})
    # the contact of another (or no) account keeps its coupling; no record changed
    assert [c.crm_id for c in couplings_of(svc, "CONTACT")] == [other["contactid"]]
    still = stack.dataverse.get("contacts", mark["contactid"])
    assert still["_parentcustomerid_value"] == account["accountid"]
