"""Two workers race to claim the same record over the same Azurite tables: exactly one wins."""

from __future__ import annotations

import threading

import pytest

from sync_core.errors import AlreadyExistsError
from sync_core.state.memory import MemoryCouplingStore
from sync_core.state.ports import Coupling, CouplingStore
from sync_core.state.stores import table_stores

MAPPING = "CUSTOMER"
ROUNDS = 20


def race(claims: list[tuple[CouplingStore, Coupling]]) -> tuple[list[Coupling], list[Exception]]:
    """Run the claims at the same moment, one thread per (store, coupling)."""
    barrier = threading.Barrier(len(claims))
    won: list[Coupling] = []
    lost: list[Exception] = []
    lock = threading.Lock()

    def worker(store: CouplingStore, coupling: Coupling) -> None:
        barrier.wait()
        try:
            result = store.claim(coupling)
        except Exception as exc:  # collected and asserted on
            with lock:
                lost.append(exc)
            return
        with lock:
            won.append(result)

    threads = [threading.Thread(target=worker, args=claim) for claim in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return won, lost


def _two_workers(storage_conn: str, table_prefix: str) -> tuple[CouplingStore, CouplingStore]:
    """Two store instances (own clients) over the same tables, like two function workers."""
    one = table_stores(storage_conn, table_prefix).couplings
    two = table_stores(storage_conn, table_prefix).couplings
    return one, two


@pytest.mark.azurite
def test_same_bc_id_different_crm_ids(storage_conn: str, table_prefix: str) -> None:
    one, two = _two_workers(storage_conn, table_prefix)
    for n in range(ROUNDS):
        bc_id = f"bc-{n}"
        mine = Coupling(MAPPING, bc_id, f"crm-{n}-a", state="claimed")
        theirs = Coupling(MAPPING, bc_id, f"crm-{n}-b", state="claimed")
        won, lost = race([(one, mine), (two, theirs)])
        assert len(won) == 1 and len(lost) == 1, (won, lost)
        assert isinstance(lost[0], AlreadyExistsError)
        loser_crm = ({f"crm-{n}-a", f"crm-{n}-b"} - {won[0].crm_id}).pop()
        assert one.get_by_bc(MAPPING, bc_id) == won[0]
        assert two.get_by_crm(MAPPING, won[0].crm_id) == won[0]
        assert one.get_by_crm(MAPPING, loser_crm) is None


@pytest.mark.azurite
def test_same_crm_id_different_bc_ids(storage_conn: str, table_prefix: str) -> None:
    one, two = _two_workers(storage_conn, table_prefix)
    for n in range(ROUNDS):
        crm_id = f"crm-{n}"
        mine = Coupling(MAPPING, f"bc-{n}-a", crm_id, state="claimed")
        theirs = Coupling(MAPPING, f"bc-{n}-b", crm_id, state="claimed")
        won, lost = race([(one, mine), (two, theirs)])
        assert len(won) == 1 and len(lost) == 1, (won, lost)
        assert isinstance(lost[0], AlreadyExistsError)
        loser_bc = ({f"bc-{n}-a", f"bc-{n}-b"} - {won[0].bc_id}).pop()
        assert two.get_by_crm(MAPPING, crm_id) == won[0]
        assert one.get_by_bc(MAPPING, loser_bc) is None


def test_memory_twin_is_just_as_strict() -> None:
    store = MemoryCouplingStore()
    for n in range(ROUNDS):
        claims = [(store, Coupling(MAPPING, f"bc-{n}", f"crm-{n}-{w}")) for w in range(4)]
        won, lost = race(claims)
        assert len(won) == 1 and len(lost) == 3
        assert all(isinstance(exc, AlreadyExistsError) for exc in lost)
        assert store.get_by_bc(MAPPING, f"bc-{n}") == won[0]
