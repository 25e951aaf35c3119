"""Full synchronization end to end: the review, waves in dependency order, progress while it
runs, a restart after a crash without duplicates, a no-change rerun that writes nothing.

Only queue messages move it: the record queue (``process_record``) and the control queue
(``process_control``), delivered here by hand the way the Functions host would, against Azurite
and the emulators. CURRENCY comes from the catalog, FS-ITEM / FS-CUSTOMER from the test folder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.functions.queue import QueueMessage

from sandbox.stack import SandboxStack
from sync_core.app import full_sync, wiring
from sync_core.errors import ConflictError
from sync_core.settings import CONTROL_QUEUE, RECORD_QUEUE
from sync_core.state.queues import queue_client
from sync_core.sync.full_sync import feed as full_sync_feed
from sync_core.sync.full_sync import lines as full_sync_lines
from tests.e2e.host import http, user_functions
from tests.e2e.operator_support import command_json, run_command

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mappings_fullsync"


@pytest.fixture
def fs_stack(stack: SandboxStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxStack]:
    monkeypatch.setenv("SYNC_MAPPINGS_DIR", str(FIXTURES))
    monkeypatch.setattr(full_sync_lines, "CHECK_DELAY_S", 1)
    wiring.reset()
    yield stack
    wiring.reset()


PER_CHUNK = 2  # records per staged chunk in these tests (the 5 currencies: 3 chunks)


@pytest.fixture(params=["chunks", "per-record"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of feeding records (``SYNC_FULL_SYNC_CHUNKS``)."""
    monkeypatch.setenv("SYNC_FULL_SYNC_CHUNKS", "1" if request.param == "chunks" else "0")
    monkeypatch.setattr(full_sync_feed, "STAGE_CHUNK", PER_CHUNK)
    return str(request.param)


def messages_for(path: str, records: int) -> int:
    """How many record queue messages carry ``records`` records (whole chunks)."""
    return records // PER_CHUNK if path == "chunks" else records


def deliver(conn: str, queue: str, function: str, limit: int = 32) -> int:
    """Receive up to ``limit`` visible messages of ``queue`` and run ``function`` on each."""
    process = user_functions()[function]
    client = queue_client(conn, queue)
    try:
        batch = list(client.receive_messages(max_messages=limit, visibility_timeout=60))
    except Exception:  # the queue does not exist yet
        return 0
    for m in batch[:limit]:
        process(QueueMessage(id=m.id, body=m.content.encode(), dequeue_count=m.dequeue_count))
        client.delete_message(m)
    return len(batch[:limit])


def run_to_end(conn: str, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = deliver(conn, RECORD_QUEUE, "process_record") + deliver(conn, CONTROL_QUEUE, "process_control")
        report = full_sync.status()
        if report["review"]["state"] != "In Process":
            return report
        if not got:
            time.sleep(0.2)
    raise AssertionError(f"not finished in {timeout_s} s: {full_sync.status()}")


def lines_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["mapping"]: line for line in report["lines"]}


def counts(line: dict[str, Any]) -> dict[str, int]:
    return {k: line[k] for k in ("inserted", "modified", "unchanged", "skipped", "failed") if line[k]}


def test_waves_in_dependency_order_with_progress_visible(fs_stack: SandboxStack, path: str) -> None:
    conn = fs_stack.azurite.connection_string
    started = lines_of(full_sync.start(["CURRENCY", "FS-ITEM"]))
    assert started["CURRENCY"]["recommendation"] == "Full Synchronization"  # one USD at rate 1
    assert started["CURRENCY"]["status"] == "Ready"
    assert started["FS-ITEM"]["status"] == "Waiting"
    assert started["FS-ITEM"]["message"] == "dependency not satisfied: CURRENCY"

    assert deliver(conn, CONTROL_QUEUE, "process_control") == 1  # the CURRENCY line: every record
    mid = lines_of(full_sync.status())
    assert mid["CURRENCY"]["status"] == "In Process" and mid["CURRENCY"]["jobs"].startswith("to-dataverse")
    assert mid["FS-ITEM"]["status"] == "Waiting"
    with_two = messages_for(path, 2)
    assert deliver(conn, RECORD_QUEUE, "process_record", limit=with_two) == with_two
    time.sleep(1.2)
    assert deliver(conn, CONTROL_QUEUE, "process_control") == 1  # the check: counts so far
    mid = lines_of(full_sync.status())
    assert mid["CURRENCY"]["status"] == "In Process"
    assert sum(counts(mid["CURRENCY"]).values()) == 2 and "2 of 5" in mid["CURRENCY"]["message"]

    final = run_to_end(conn)
    assert final["review"]["state"] == "Finished"
    done = lines_of(final)
    assert (done["CURRENCY"]["status"], counts(done["CURRENCY"])) == (
        "Finished",
        {"inserted": 4, "failed": 1},
    )
    items = fs_stack.bc.rows("items")
    assert counts(done["FS-ITEM"]) == {"inserted": len(items)}
    numbers = [p["productnumber"] for p in fs_stack.dataverse.rows("products")]
    assert sorted(numbers) == sorted(i["number"] for i in items)
    assert done["FS-ITEM"]["started_at"] >= done["CURRENCY"]["finished_at"]
    mark = wiring.services().stores.watermarks.get("CURRENCY", "to-dataverse").value
    assert mark is not None  # moved to when the full sync's scan started (BC copies it back)
    assert done["CURRENCY"]["started_at"] <= mark.isoformat() <= done["CURRENCY"]["finished_at"]


def test_restart_after_a_crash_makes_no_duplicates(fs_stack: SandboxStack, path: str) -> None:
    conn = fs_stack.azurite.connection_string
    for i in range(30):
        fs_stack.bc.insert("items", {"displayName": f"Crash test item {i}"})
    items = len(fs_stack.bc.rows("items"))
    full_sync.start(["FS-ITEM"])  # CURRENCY is outside this run: its dependency counts as met
    assert deliver(conn, CONTROL_QUEUE, "process_control") == 1
    sixteen = messages_for(path, 16)  # 16 records, before the crash
    assert deliver(conn, RECORD_QUEUE, "process_record", limit=sixteen) == sixteen
    for queue in (RECORD_QUEUE, CONTROL_QUEUE):  # the crash: every message in flight is lost
        queue_client(conn, queue).clear_messages()
    assert lines_of(full_sync.status())["FS-ITEM"]["status"] == "In Process"
    with pytest.raises(ConflictError, match="in process"):
        full_sync.start(["FS-ITEM"])

    restarted = full_sync.restart()
    assert "restarted FS-ITEM" in restarted["review"]["note"]
    assert lines_of(restarted)["FS-ITEM"]["status"] == "Ready"
    line = lines_of(run_to_end(conn))["FS-ITEM"]
    assert line["status"] == "Finished"
    assert counts(line) == {"inserted": items - 16, "unchanged": 16}
    numbers = [p["productnumber"] for p in fs_stack.dataverse.rows("products")]
    assert len(numbers) == len(set(numbers)) == items


def test_no_change_rerun_writes_nothing(fs_stack: SandboxStack, path: str) -> None:
    conn = fs_stack.azurite.connection_string
    full_sync.start(["CURRENCY", "FS-ITEM"])
    run_to_end(conn)
    for emulator in (fs_stack.bc, fs_stack.dataverse):
        emulator.reset_counters()
    again = lines_of(full_sync.start(["CURRENCY", "FS-ITEM"], ["CURRENCY", "FS-ITEM"]))
    assert {line["recommendation"] for line in again.values()} == {"Full Synchronization"}
    assert again["FS-ITEM"]["message"].startswith("dependency not satisfied: CURRENCY; full synchronization")
    done = lines_of(run_to_end(conn))
    assert fs_stack.dataverse.counters()["writes"] == 0 and fs_stack.bc.counters()["writes"] == 0
    assert counts(done["FS-ITEM"]) == {"unchanged": len(fs_stack.bc.rows("items"))}
    assert counts(done["CURRENCY"]).get("unchanged") == 4


def test_couple_records_line_runs_match_based_coupling(fs_stack: SandboxStack) -> None:
    conn = fs_stack.azurite.connection_string
    line = lines_of(full_sync.start(["FS-CUSTOMER"]))["FS-CUSTOMER"]
    assert line["recommendation"] == "Couple Records"  # BC customers and Dataverse accounts exist
    line = lines_of(run_to_end(conn))["FS-CUSTOMER"]
    assert line["status"] == "Finished" and "match-based coupling on name" in line["message"]
    couplings = list(wiring.services().stores.couplings.iter_mapping("FS-CUSTOMER"))
    assert len(couplings) == len(fs_stack.bc.rows("customers"))
    names = [a["name"] for a in fs_stack.dataverse.rows("accounts")]
    assert len(names) == len(set(names))  # the Cannon Group was matched, not created again


def test_operator_routes(fs_stack: SandboxStack) -> None:
    url = "http://localhost/api/manage/full-sync"
    none = http("manage_full_sync_status", "GET", url)
    assert none.status_code == 404
    started = http("manage_full_sync_start", "POST", f"{url}/start", b'{"mappings": ["FS-ITEM"]}')
    assert started.status_code == 202
    refused = http("manage_full_sync_start", "POST", f"{url}/start", b"{}")
    assert refused.status_code == 409 and "in process" in refused.get_body().decode()
    bad = http("manage_full_sync_start", "POST", f"{url}/start", b'{"mappings": ["NOPE"]}')
    assert bad.status_code == 400 and "NOPE" in bad.get_body().decode()
    assert http("manage_full_sync_status", "GET", url).status_code == 200
    assert http("manage_full_sync_restart", "POST", f"{url}/restart", b"{}").status_code == 202


def test_full_sync_command_as_an_operator_runs_it(fs_stack: SandboxStack) -> None:
    """``python -m sync_core full-sync start|status|restart``, each in its own process."""
    conn = fs_stack.azurite.connection_string
    refused = run_command("full-sync", "status", expect=1)
    assert "no full synchronization has been started" in refused.stderr
    started = command_json("full-sync", "start", "--mapping", "FS-ITEM")
    assert [line["mapping"] for line in started["lines"]] == ["FS-ITEM"]
    assert started["review"]["state"] == "In Process"
    again = run_command("full-sync", "start", "--mapping", "FS-ITEM", expect=1)
    assert "in process" in again.stderr
    restarted = command_json("full-sync", "restart")  # before any message ran: a fresh attempt
    assert restarted["review"]["run_id"] == started["review"]["run_id"]
    run_to_end(conn)
    text = run_command("full-sync", "status", "--mapping", "FS-ITEM").stdout
    assert "mapping=FS-ITEM" in text and "status=Finished" in text
    [line] = command_json("full-sync", "status")["lines"]
    assert line["inserted"] == len(fs_stack.bc.rows("items")) - line["skipped"] - line["failed"] > 0


def test_full_synchronization_of_the_demo_company_as_bc_reviews_it(stack: SandboxStack) -> None:
    """BC §2.2: SALESORDER-ORDER (unidirectional mode) and the invoice lines are not in the review.
    A Dataverse contact whose parent account is neither a customer nor a vendor becomes a BC person
    without a company, and no customer is created (BC's TestSynchCRMContactWithNonCustomerCRMAccountParent);
    one under an uncoupled Customer-type account fails."""
    partner = stack.dataverse.insert("accounts", {"name": "Litware Partners", "customertypecode": None})
    bind = f"/accounts({partner['accountid']})"
    pat = stack.dataverse.insert(
        "contacts", {"firstname": "Pat", "lastname": "Litware", "parentcustomerid_account@odata.bind": bind}
    )
    match = ("--match", "CUSTOMER=name", "--match", "CUSTPRCGRP-PRICE=name")  # BC asks for these
    started = command_json("full-sync", "start", *match, "--recommend-full-sync", "CONTACT")
    names = [line["mapping"] for line in started["lines"]]
    assert "SALESORDER-ORDER" not in names and "POSTEDSALESLINE-INV" not in names
    assert {"CUSTOMER", "CONTACT", "ITEM-PRODUCT", "POSTEDSALESINV-INV"} <= set(names)
    contact = lines_of(run_to_end(stack.azurite.connection_string, timeout_s=180))["CONTACT"]
    assert contact["status"] == "Finished" and contact["recommendation"] == "Full Synchronization"
    coupling = wiring.services().stores.couplings.get_by_crm("CONTACT", pat["contactid"])
    assert coupling is not None and coupling.state == "coupled"
    person = stack.bc.get("integrationContacts", coupling.bc_id)
    assert (person["type"], person["companyNo"], person["surname"]) == ("Person", "", "Litware")
    assert not [c for c in stack.bc.rows("integrationCustomers") if c["name"] == "Litware Partners"]
    errors = [e.message for e in wiring.services().stores.sync_errors.list("CONTACT")]
    assert "The contact cannot be synchronized because the company does not exist." in errors  # Nancy
