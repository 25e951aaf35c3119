"""CouplingStore contract: the in-memory twin and the Table Storage store behave the same."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from azure.data.tables import TableClient, TableServiceClient

from sync_core.errors import AlreadyExistsError, ConflictError, TransientError
from sync_core.state.common import ERROR_MAX, key_escape, key_unescape
from sync_core.state.memory import MemoryCouplingStore
from sync_core.state.ports import Coupling, DirectionStatus
from sync_core.state.stores import StateStores, table_stores
from sync_core.state.tables import TableCouplingStore
from tests.contract.coupling_helpers import (
    MAPPING,
    CountingStore,
    claims,
    coupling,
    index_states,
    raw_table,
)


def test_claim_then_get_by_both_ids(stores: StateStores) -> None:
    store = stores.couplings
    claimed = store.claim(coupling(state="claimed"))
    assert claimed.etag
    assert store.get_by_bc(MAPPING, "bc-1") == claimed
    assert store.get_by_crm(MAPPING, "crm-1") == claimed
    assert store.get_by_bc(MAPPING, "bc-2") is None
    assert store.get_by_crm(MAPPING, "crm-2") is None
    assert store.get_by_bc("CUSTOMER", "bc-1") is None


def test_claim_twice_same_bc_id_fails_and_writes_nothing(stores: StateStores) -> None:
    store = stores.couplings
    first = store.claim(coupling("bc-1", "crm-1"))
    with pytest.raises(AlreadyExistsError):
        store.claim(coupling("bc-1", "crm-2"))
    assert store.get_by_crm(MAPPING, "crm-2") is None
    assert store.get_by_bc(MAPPING, "bc-1") == first


def test_claim_twice_same_crm_id_fails_and_writes_nothing(stores: StateStores) -> None:
    store = stores.couplings
    first = store.claim(coupling("bc-1", "crm-1"))
    with pytest.raises(AlreadyExistsError):
        store.claim(coupling("bc-2", "crm-1"))
    assert store.get_by_bc(MAPPING, "bc-2") is None
    assert store.get_by_crm(MAPPING, "crm-1") == first


def test_same_ids_in_another_mapping_are_independent(stores: StateStores) -> None:
    store = stores.couplings
    store.claim(coupling())
    other = store.claim(coupling(mapping="CUSTOMER"))
    assert store.get_by_crm("CUSTOMER", "crm-1") == other
    assert store.get_by_bc(MAPPING, "bc-1") != other


def test_save_with_current_etag_updates_and_changes_etag(stores: StateStores) -> None:
    store = stores.couplings
    claimed = store.claim(coupling(state="claimed"))
    status = DirectionStatus(result="success", job_id="job-1")
    saved = store.save(replace(claimed, state="coupled").with_status("to-dataverse", status))
    assert saved.etag and saved.etag != claimed.etag
    assert saved.state == "coupled"
    assert store.get_by_bc(MAPPING, "bc-1") == saved
    assert store.get_by_crm(MAPPING, "crm-1") == saved
    again = store.save(replace(saved, skipped=True))
    assert again.etag not in (saved.etag, claimed.etag)
    assert store.get_by_bc(MAPPING, "bc-1") == again


def test_stale_save_raises_conflict_and_keeps_the_newer_row(stores: StateStores) -> None:
    store = stores.couplings
    claimed = store.claim(coupling())
    newer = store.save(replace(claimed, skipped=True))
    with pytest.raises(ConflictError) as info:
        store.save(replace(claimed, to_bc=DirectionStatus(result="failure", error="x")))
    assert not isinstance(info.value, AlreadyExistsError)
    assert store.get_by_bc(MAPPING, "bc-1") == newer


def test_save_refuses_a_missing_etag(stores: StateStores) -> None:
    store = stores.couplings
    claimed = store.claim(coupling())
    with pytest.raises(ValueError):
        store.save(replace(claimed, etag=None))
    assert store.get_by_bc(MAPPING, "bc-1") == claimed


def test_twin_save_refuses_a_changed_crm_id() -> None:
    """The rule holds for both stores; only the twin checks it (the Table store's save does not
    read the stored row)."""
    store = MemoryCouplingStore()
    claimed = store.claim(coupling())
    with pytest.raises(ValueError):
        store.save(replace(claimed, crm_id="crm-other"))
    with pytest.raises(ValueError):
        store.complete_claims([replace(claimed, crm_id="crm-other")])
    assert store.get_by_bc(MAPPING, "bc-1") == claimed
    assert store.get_by_crm(MAPPING, "crm-other") is None


def test_save_after_delete_raises_conflict(stores: StateStores) -> None:
    store = stores.couplings
    claimed = store.claim(coupling())
    store.delete(claimed)
    with pytest.raises(ConflictError):
        store.save(replace(claimed, skipped=True))
    assert store.get_by_bc(MAPPING, "bc-1") is None


def test_delete_removes_both_lookups_and_frees_the_ids(stores: StateStores) -> None:
    store = stores.couplings
    claimed = store.claim(coupling())
    store.delete(claimed)
    assert store.get_by_bc(MAPPING, "bc-1") is None
    assert store.get_by_crm(MAPPING, "crm-1") is None
    assert list(store.iter_mapping(MAPPING)) == []
    store.claim(coupling("bc-1", "crm-9"))
    store.claim(coupling("bc-9", "crm-1"))
    assert store.get_by_crm(MAPPING, "crm-1").bc_id == "bc-9"  # type: ignore[union-attr]


def test_delete_with_stale_etag_conflicts_and_keeps_rows(stores: StateStores) -> None:
    store = stores.couplings
    claimed = store.claim(coupling())
    newer = store.save(replace(claimed, skipped=True))
    with pytest.raises(ConflictError):
        store.delete(claimed)
    assert store.get_by_crm(MAPPING, "crm-1") == newer


def test_delete_without_etag_and_delete_of_absent(stores: StateStores) -> None:
    store = stores.couplings
    store.claim(coupling())
    store.delete(coupling())  # etag None: unconditional
    assert store.get_by_bc(MAPPING, "bc-1") is None
    store.delete(coupling())  # absent: not an error
    store.delete(coupling("bc-x", "crm-x", etag='W/"whatever"'))


def test_delete_uses_the_stored_crm_id(stores: StateStores) -> None:
    store = stores.couplings
    store.claim(coupling("bc-1", "crm-1"))
    other = store.claim(coupling("bc-2", "crm-2"))
    store.delete(coupling("bc-1", "crm-2"))  # built by hand with the wrong crm id, no etag
    assert store.get_by_bc(MAPPING, "bc-1") is None
    assert store.get_by_crm(MAPPING, "crm-1") is None
    assert store.get_by_crm(MAPPING, "crm-2") == other


@pytest.mark.azurite
def test_delete_cleans_up_half_rows(storage_conn: str, table_prefix: str) -> None:
    store = table_stores(storage_conn, table_prefix).couplings
    raw = TableClient.from_connection_string(storage_conn, f"{table_prefix}couplings")
    one = store.claim(coupling("bc-1", "crm-1"))
    two = store.claim(coupling("bc-2", "crm-2"))
    raw.delete_entity(key_escape(MAPPING), "crm_crm-1")  # coupling row without its index row
    raw.delete_entity(key_escape(MAPPING), "bc_bc-2")  # index row without its coupling row
    store.delete(one)
    store.delete(two)
    assert [e["RowKey"] for e in raw.list_entities()] == []


def test_iter_mapping_pages_through_all_couplings_of_one_mapping(stores: StateStores) -> None:
    store = stores.couplings
    if isinstance(store, TableCouplingStore):
        store.page_size = 40
    ids = {f"bc-{n:04d}" for n in range(250)}
    for bc_id in ids:
        store.claim(coupling(bc_id, "crm" + bc_id[2:]))
    store.claim(coupling("bc-0000", "crm-0000", mapping="CUSTOMER"))
    seen = list(store.iter_mapping(MAPPING))
    assert {c.bc_id for c in seen} == ids
    assert len(seen) == 250
    assert all(c.mapping == MAPPING and c.etag for c in seen)
    assert [c.bc_id for c in seen] == sorted(ids)
    assert [c.bc_id for c in store.iter_mapping("CUSTOMER")] == ["bc-0000"]
    assert list(store.iter_mapping("NO SUCH MAPPING")) == []


def test_datetimes_round_trip_in_utc_with_microseconds(stores: StateStores) -> None:
    store = stores.couplings
    bc_time = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)
    crm_time = datetime(2024, 3, 1, 1, 2, 3, 7, tzinfo=timezone(timedelta(hours=2)))
    claimed = store.claim(coupling(bc_modified_on=bc_time, crm_modified_on=crm_time))
    got = store.get_by_bc(MAPPING, "bc-1")
    assert got == claimed
    assert got is not None and got.claimed_at is None
    assert got.bc_modified_on == bc_time and got.bc_modified_on.microsecond == 123456
    assert got.crm_modified_on == crm_time
    assert got.crm_modified_on is not None and got.crm_modified_on.utcoffset() == timedelta(0)
    assert type(got.bc_modified_on) is datetime


def test_special_characters_in_mapping_and_ids(stores: StateStores) -> None:
    store = stores.couplings
    mapping = "SALES/ORDER #1? 100% \\ o'brien"
    bc_id, crm_id = "a/b\\c#d?e%2F\tf", "ü'x y\x7f\x85"
    claimed = store.claim(coupling(bc_id, crm_id, mapping=mapping))
    assert store.get_by_bc(mapping, bc_id) == claimed
    assert store.get_by_crm(mapping, crm_id) == claimed
    assert [c.bc_id for c in store.iter_mapping(mapping)] == [bc_id]
    assert store.get_by_bc(mapping, "a/b\\c#d?e/\tf") is None
    store.delete(claimed)
    assert store.get_by_crm(mapping, crm_id) is None


def test_key_escape_only_touches_forbidden_characters() -> None:
    assert key_escape("UNIT OF MEASURE") == "UNIT OF MEASURE"
    assert key_escape("a/b\\c#d?e%f\x01\x85") == "a%2Fb%5Cc%23d%3Fe%25f%01%85"
    for text in ("a/b\\c#d?e%2Ff", "%%25", "plain-ü 'x'"):
        assert key_unescape(key_escape(text)) == text


def test_long_errors_are_clipped_and_statuses_round_trip(stores: StateStores) -> None:
    store = stores.couplings
    failed = DirectionStatus(result="failure", error="e" * 5000, job_id="job-7")
    claimed = store.claim(coupling(to_bc=failed, skipped=True))
    got = store.get_by_crm(MAPPING, "crm-1")
    assert got == claimed
    assert got is not None and got.to_bc.error == "e" * ERROR_MAX
    assert got.to_bc.job_id == "job-7" and got.to_dataverse == DirectionStatus()
    assert got.skipped is True


@pytest.mark.azurite
def test_tables_are_created_on_first_use_not_before(storage_conn: str, table_prefix: str) -> None:
    stores = table_stores(storage_conn, table_prefix)
    service = TableServiceClient.from_connection_string(storage_conn)
    names = lambda: {t.name for t in service.list_tables() if t.name.startswith(table_prefix)}  # noqa: E731
    assert names() == set()
    assert stores.couplings.get_by_bc(MAPPING, "bc-1") is None
    assert names() == {f"{table_prefix}couplings"}


def test_construction_does_no_io_and_unreachable_storage_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    table_stores(conn, "nothing")  # no I/O: must not fail
    client = TableClient.from_connection_string(conn, "unreachable", retry_total=0)
    with pytest.raises(TransientError):
        TableCouplingStore(client).get_by_bc(MAPPING, "bc-1")


def test_rekey_moves_a_claim_to_the_new_bc_id(stores: StateStores) -> None:
    store = stores.couplings
    claim = store.claim(coupling("pending-crm-9", "crm-9", state="claimed"))
    moved = store.rekey_bc(replace(claim, state="coupled"), "bc-9")
    assert moved.bc_id == "bc-9" and moved.state == "coupled" and moved.etag
    assert store.get_by_bc(MAPPING, "pending-crm-9") is None
    assert store.get_by_bc(MAPPING, "bc-9") == moved
    assert store.get_by_crm(MAPPING, "crm-9") == moved
    with pytest.raises(ConflictError):  # the claim is gone: a stale rekey is refused
        store.rekey_bc(claim, "bc-10")


def test_rekey_to_an_already_coupled_bc_id_changes_nothing(stores: StateStores) -> None:
    store = stores.couplings
    store.claim(coupling("bc-1", "crm-1"))
    claim = store.claim(coupling("pending-crm-2", "crm-2", state="claimed"))
    with pytest.raises(AlreadyExistsError):
        store.rekey_bc(claim, "bc-1")
    assert store.get_by_crm(MAPPING, "crm-2") == claim
    assert store.get_by_crm(MAPPING, "crm-1").bc_id == "bc-1"


def test_iter_failed_lists_failures_of_one_direction_that_are_not_skipped(stores: StateStores) -> None:
    store = stores.couplings
    failure = DirectionStatus("failure", "boom", "job")
    store.claim(coupling("bc-1", "crm-1", to_dataverse=failure))
    store.claim(coupling("bc-2", "crm-2", to_dataverse=failure, skipped=True))
    store.claim(coupling("bc-3", "crm-3", to_bc=failure))
    store.claim(coupling("bc-4", "crm-4", to_dataverse=DirectionStatus("success")))
    assert [c.bc_id for c in store.iter_failed(MAPPING, "to-dataverse")] == ["bc-1"]
    assert [c.bc_id for c in store.iter_failed(MAPPING, "to-bc")] == ["bc-3"]


def test_iter_sync_state_gives_the_deciding_columns_of_every_coupling(stores: StateStores) -> None:
    store = stores.couplings
    if isinstance(store, TableCouplingStore):
        store.page_size = 40
    t = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    for n in range(90):
        store.claim(coupling(f"bc-{n:03d}", f"crm-{n:03d}"))
    one = store.claim(coupling("bc-x", "crm-x", state="claimed"))
    stamped = replace(
        one,
        state="coupled",
        bc_modified_on=t,
        crm_modified_on=t + timedelta(seconds=1),
        to_dataverse=DirectionStatus("failure", "boom", "job-1"),
        to_bc=DirectionStatus("success", None, "job-2"),
        skipped=True,
    )
    store.save(stamped)
    store.claim(coupling("bc-other", "crm-other", mapping="CUSTOMER"))
    seen = {c.bc_id: c for c in store.iter_sync_state(MAPPING)}
    assert len(seen) == 91 and all(c.mapping == MAPPING for c in seen.values())
    got = seen["bc-x"]
    assert (got.crm_id, got.state, got.bc_modified_on, got.crm_modified_on, got.skipped) == (
        "crm-x", "coupled", t, t + timedelta(seconds=1), True,
    )  # fmt: skip
    assert (got.to_dataverse.result, got.to_bc.result) == ("failure", "success")
    assert got.to_dataverse.error is None and got.to_dataverse.job_id is None and got.etag is None
    assert seen["bc-007"].crm_id == "crm-007" and seen["bc-007"].state == "coupled"
    assert list(store.iter_sync_state("NO SUCH MAPPING")) == []


# -- many at once: claim_many, complete_claims ---------------------------------------------------


def _coupled(claim: Coupling, t: datetime) -> Coupling:
    """What a synchronization makes of a claim once the counterpart exists."""
    status = DirectionStatus("success", None, "job-1")
    return replace(claim, state="coupled", bc_modified_on=t, crm_modified_on=t, to_dataverse=status)


def _claimed(answers: list[Coupling | AlreadyExistsError]) -> list[Coupling]:
    got = [a for a in answers if isinstance(a, Coupling)]
    assert len(got) == len(answers)
    return got


def test_claim_many_claims_each_in_input_order(stores: StateStores) -> None:
    store = stores.couplings
    wanted = claims(120)
    answers = _claimed(store.claim_many(wanted))
    assert [(a.bc_id, a.crm_id, a.state) for a in answers] == [(c.bc_id, c.crm_id, "claimed") for c in wanted]
    assert len({a.etag for a in answers}) == 120 and all(a.etag for a in answers)
    for a in answers:
        assert store.get_by_bc(MAPPING, a.bc_id) == a
        assert store.get_by_crm(MAPPING, a.crm_id) == a
    for a in (answers[0], answers[49], answers[50], answers[119]):  # etags of both groups work
        saved = store.save(replace(a, state="coupled"))
        assert saved.etag != a.etag and store.get_by_crm(MAPPING, a.crm_id) == saved
    assert store.claim_many([]) == []


def test_claim_many_reports_the_taken_ids_item_by_item(stores: StateStores) -> None:
    store = stores.couplings
    taken_bc = store.claim(coupling("bc-0003", "crm-other"))
    taken_crm = store.claim(coupling("bc-other", "crm-0007"))
    answers = store.claim_many(claims(60))
    failed = [n for n, a in enumerate(answers) if isinstance(a, AlreadyExistsError)]
    assert failed == [3, 7]
    assert all(isinstance(a, Coupling) and a.etag for n, a in enumerate(answers) if n not in failed)
    assert store.get_by_bc(MAPPING, "bc-0003") == taken_bc and store.get_by_crm(MAPPING, "crm-0003") is None
    assert store.get_by_crm(MAPPING, "crm-0007") == taken_crm and store.get_by_bc(MAPPING, "bc-0007") is None
    assert store.get_by_crm(MAPPING, "crm-0059") == answers[59]
    assert len(list(store.iter_mapping(MAPPING))) == 60


def test_claim_many_refuses_an_id_twice_in_the_batch(stores: StateStores) -> None:
    store = stores.couplings
    batch = [coupling("bc-1", "crm-1"), coupling("bc-1", "crm-2"), coupling("bc-3", "crm-1")]
    batch.append(coupling("bc-4", "crm-2"))  # crm-2 is free: the item that had it was refused
    answers = store.claim_many(batch)
    assert [isinstance(a, AlreadyExistsError) for a in answers] == [False, True, True, False]
    assert store.get_by_crm(MAPPING, "crm-1") == answers[0]
    assert store.get_by_crm(MAPPING, "crm-2") == answers[3]
    assert store.get_by_bc(MAPPING, "bc-3") is None


def test_batches_must_be_of_one_mapping_and_completions_need_etags(stores: StateStores) -> None:
    store = stores.couplings
    with pytest.raises(ValueError):
        store.claim_many([coupling("bc-1", "crm-1"), coupling("bc-2", "crm-2", mapping="CUSTOMER")])
    assert store.get_by_bc(MAPPING, "bc-1") is None
    one = store.claim(coupling("bc-1", "crm-1"))
    other = store.claim(coupling("bc-2", "crm-2", mapping="CUSTOMER"))
    with pytest.raises(ValueError):
        store.complete_claims([replace(one, skipped=True), replace(other, skipped=True)])
    with pytest.raises(ValueError):
        store.complete_claims([replace(one, skipped=True), replace(one, bc_id="bc-9", etag=None)])
    assert store.get_by_bc(MAPPING, "bc-1") == one


def test_complete_claims_saves_each_and_reports_the_stale_ones(stores: StateStores) -> None:
    store = stores.couplings
    t = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    claimed = _claimed(store.claim_many(claims(60)))
    newer = store.save(replace(claimed[17], skipped=True))  # someone else, meanwhile
    store.delete(claimed[55])  # the second group's vanished coupling
    answers = store.complete_claims([_coupled(c, t) for c in claimed])
    stale = [n for n, a in enumerate(answers) if isinstance(a, ConflictError)]
    assert stale == [17, 55] and not any(isinstance(a, AlreadyExistsError) for a in answers)
    assert store.get_by_bc(MAPPING, "bc-0017") == newer
    assert store.get_by_bc(MAPPING, "bc-0055") is None and store.get_by_crm(MAPPING, "crm-0055") is None
    for n, a in enumerate(answers):
        if n not in stale:
            assert isinstance(a, Coupling) and a.etag not in (None, claimed[n].etag)
            assert a == replace(_coupled(claimed[n], t), etag=a.etag)
            assert store.get_by_crm(MAPPING, a.crm_id) == a
    states = {c.bc_id: c.state for c in store.iter_sync_state(MAPPING)}
    assert states.pop("bc-0017") == "claimed" and set(states.values()) == {"coupled"}
    again = store.save(replace(answers[0], skipped=True))  # the new etags work
    assert store.get_by_bc(MAPPING, "bc-0000") == again


def test_complete_claims_refuses_a_coupling_twice_in_the_batch(stores: StateStores) -> None:
    store = stores.couplings
    one, two = _claimed(store.claim_many(claims(2)))
    answers = store.complete_claims([replace(one, state="coupled"), replace(one, skipped=True), two])
    assert isinstance(answers[1], ConflictError) and not isinstance(answers[1], AlreadyExistsError)
    assert isinstance(answers[0], Coupling) and answers[0].state == "coupled"
    assert store.get_by_bc(MAPPING, one.bc_id) == answers[0]
    assert store.get_by_bc(MAPPING, two.bc_id) == answers[2]
    assert store.complete_claims([]) == []


@pytest.mark.azurite
def test_bulk_writes_and_save_are_one_request_per_transaction(storage_conn: str, table_prefix: str) -> None:
    counting = CountingStore(storage_conn, table_prefix)
    store = counting.store
    assert store.get_by_bc(MAPPING, "bc-0000") is None  # creates the table
    counting.count()
    claimed = _claimed(store.claim_many(claims(100)))
    assert counting.count() == 2
    twice = store.claim_many([coupling("bc-x", "crm-x"), coupling("bc-x", "crm-y")])
    assert isinstance(twice[1], AlreadyExistsError) and counting.count() == 1  # no doomed transaction
    t = datetime(2024, 5, 1, tzinfo=UTC)
    answers = store.complete_claims([_coupled(c, t) for c in claimed])
    assert counting.count() == 2
    first = answers[0]
    assert isinstance(first, Coupling) and all(isinstance(a, Coupling) for a in answers)
    store.save(replace(first, skipped=True))
    assert counting.count() == 1
    index = index_states(raw_table(storage_conn, table_prefix))
    assert index.pop("crm-x") == ("bc-x", "coupled")
    assert index == {f"crm-{n:04d}": (f"bc-{n:04d}", "coupled") for n in range(100)}


@pytest.mark.azurite
def test_save_upserts_a_missing_index_row(storage_conn: str, table_prefix: str) -> None:
    store = table_stores(storage_conn, table_prefix).couplings
    raw = raw_table(storage_conn, table_prefix)
    claimed = store.claim(coupling(state="claimed"))
    raw.delete_entity(key_escape(MAPPING), "crm_crm-1")
    saved = store.save(replace(claimed, state="coupled"))
    assert store.get_by_crm(MAPPING, "crm-1") == saved
    assert index_states(raw) == {"crm-1": ("bc-1", "coupled")}
