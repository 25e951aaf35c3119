"""Many couplings at once: claims and completions in entity-group transactions.

``TableCouplingStore.claim_many`` and ``complete_claims`` delegate here: 50 couplings (their
100 rows: coupling + index row) per transaction. A group that fails as a whole (a claim found
its row, a completion's etag was stale) is redone one coupling at a time, so every item gets its
own result. This module knows the store only through ``CouplingRows`` (no import of
``tables.py``); the batch checks (one mapping, no id twice) are shared with the in-memory twin.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sync_core.errors import AlreadyExistsError, ConflictError, NotFoundError
from sync_core.state.common import normalize_coupling
from sync_core.state.ports import Coupling

logger = logging.getLogger(__name__)

GROUP = 50  # couplings per transaction: two rows each, and a transaction holds at most 100
Operation = tuple[Any, ...]
_Item = tuple[int, Coupling]  # (position in the input, coupling)
_E = TypeVar("_E", bound=ConflictError)


class CouplingRows(Protocol):
    """What the bulk writes need of the Table store. Each ``*_operations`` gives the coupling
    row's operation first, then the index row's."""

    def claim(self, coupling: Coupling) -> Coupling: ...

    def save(self, coupling: Coupling) -> Coupling: ...

    def claim_operations(self, stored: Coupling) -> list[Operation]: ...

    def save_operations(self, stored: Coupling, etag: str) -> list[Operation]: ...

    def transact(self, what: str, operations: list[Operation]) -> list[Mapping[str, Any]]: ...


def check_batch(couplings: Sequence[Coupling], *, need_etags: bool = False) -> None:
    """ValueError unless all items are of one mapping (and, if asked, all carry an etag)."""
    mappings = {c.mapping for c in couplings}
    if len(mappings) > 1:
        raise ValueError(f"a batch of couplings must be of one mapping, not {sorted(mappings)}")
    if need_etags and any(c.etag is None for c in couplings):
        raise ValueError("complete_claims needs each coupling's etag (from claim or claim_many)")


def repeated(couplings: Sequence[Coupling]) -> set[int]:
    """Positions of the items whose bc_id or crm_id an earlier, kept item of the batch has."""
    bc_ids: set[str] = set()
    crm_ids: set[str] = set()
    positions: set[int] = set()
    for position, c in enumerate(couplings):
        if c.bc_id in bc_ids or c.crm_id in crm_ids:
            positions.add(position)
        else:
            bc_ids.add(c.bc_id)
            crm_ids.add(c.crm_id)
    return positions


def twice(error: type[_E], c: Coupling) -> _E:
    """The error of an item whose bc_id or crm_id an earlier item of the same batch has."""
    text = f"coupling {c.mapping} bc {c.bc_id} / crm {c.crm_id}: an id is twice in the batch"
    return error(text, status=409 if error is AlreadyExistsError else 412)


def _groups(couplings: Sequence[Coupling], error: type[_E], results: dict[int, Any]) -> Iterator[list[_Item]]:
    """Fill ``results`` with the repeated items' errors; yield the others by groups of GROUP."""
    skip = repeated(couplings)
    results.update({n: twice(error, couplings[n]) for n in skip})
    kept = [(n, c) for n, c in enumerate(couplings) if n not in skip]
    for start in range(0, len(kept), GROUP):
        yield kept[start : start + GROUP]


def claim_many(rows: CouplingRows, couplings: Sequence[Coupling]) -> list[Coupling | AlreadyExistsError]:
    check_batch(couplings)
    results: dict[int, Coupling | AlreadyExistsError] = {}
    for group in _groups(couplings, AlreadyExistsError, results):
        results.update(_claim_group(rows, group))
    return [results[n] for n in range(len(couplings))]


def _claim_group(rows: CouplingRows, group: list[_Item]) -> Mapping[int, Coupling | AlreadyExistsError]:
    operations = [op for _, c in group for op in rows.claim_operations(normalize_coupling(c, None))]
    what = f"claim {len(group)} couplings of {group[0][1].mapping}"
    try:
        result = rows.transact(what, operations)
    except AlreadyExistsError:
        logger.debug("%s: one is taken, claiming them one by one", what)
        return {n: _claim_one(rows, c) for n, c in group}
    return _stored(group, result)


def _stored(group: list[_Item], result: list[Mapping[str, Any]]) -> Mapping[int, Coupling]:
    """Each coupling as stored, with the etag of its coupling row (every other result)."""
    return {n: normalize_coupling(c, result[2 * k]["etag"]) for k, (n, c) in enumerate(group)}


def _claim_one(rows: CouplingRows, coupling: Coupling) -> Coupling | AlreadyExistsError:
    try:
        return rows.claim(coupling)
    except AlreadyExistsError as exc:
        return exc


def complete_claims(rows: CouplingRows, couplings: Sequence[Coupling]) -> list[Coupling | ConflictError]:
    check_batch(couplings, need_etags=True)
    results: dict[int, Coupling | ConflictError] = {}
    for group in _groups(couplings, ConflictError, results):
        results.update(_complete_group(rows, group))
    return [results[n] for n in range(len(couplings))]


def _complete_group(rows: CouplingRows, group: list[_Item]) -> Mapping[int, Coupling | ConflictError]:
    operations = [op for _, c in group for op in _save_operations(rows, c)]
    what = f"save {len(group)} couplings of {group[0][1].mapping}"
    try:
        result = rows.transact(what, operations)
    except (ConflictError, NotFoundError):
        logger.debug("%s: one changed since read, saving them one by one", what)
        return {n: _save_one(rows, c) for n, c in group}
    return _stored(group, result)


def _save_operations(rows: CouplingRows, coupling: Coupling) -> list[Operation]:
    if coupling.etag is None:  # checked by check_batch already
        raise ValueError("save needs the coupling's etag (read it first)")
    return rows.save_operations(normalize_coupling(coupling, None), coupling.etag)


def _save_one(rows: CouplingRows, coupling: Coupling) -> Coupling | ConflictError:
    try:
        return rows.save(coupling)
    except ConflictError as exc:
        return exc
