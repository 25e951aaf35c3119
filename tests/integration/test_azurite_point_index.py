"""The benchmark's Azurite point index (sandbox/azurite_point_index.js) changes no answer.

The same script of table operations (inserts, reads, merges, replaces with stale ETags, deletes,
transactions that fail half-way and roll back, queries) runs on the tests' Azurite and on one
started with ``point_index=True``; both must answer alike, and as Azure Table Storage does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError, UpdateMode

from sandbox.azurite import Azurite, unique_name

pytestmark = pytest.mark.azurite


@pytest.fixture(scope="module")
def indexed_azurite() -> Iterator[Azurite]:
    with Azurite(point_index=True) as azurite:
        yield azurite


def _row(pk: str, rk: str, **values: Any) -> dict[str, Any]:
    return {"PartitionKey": pk, "RowKey": rk, **values}


def _read(table: TableClient, pk: str, rk: str) -> Any:
    try:
        entity = table.get_entity(pk, rk)
    except HttpResponseError as exc:
        return ("error", exc.status_code)
    return {k: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey")}


def _attempt(action: Any) -> Any:
    try:
        action()
    except TableTransactionError as exc:
        return ("transaction failed", exc.status_code)
    except HttpResponseError as exc:
        return ("error", exc.status_code)
    return "ok"


def _script(conn: str) -> list[Any]:
    """Observations of one run of the script; fresh table each time."""
    table = TableServiceClient.from_connection_string(conn).create_table(unique_name("pix"))
    seen: list[Any] = []
    table.submit_transaction([("create", _row("p", k, v=k)) for k in ("a", "b", "c")])
    table.create_entity(_row("q", "a", v="qa"))
    seen += [_read(table, pk, rk) for pk, rk in (("p", "a"), ("p", "c"), ("q", "a"), ("p", "z"))]
    seen.append(_attempt(lambda: table.create_entity(_row("p", "a", v="again"))))
    half_way = [
        ("upsert", _row("p", "a", v="changed"), {"mode": UpdateMode.MERGE}),
        ("create", _row("p", "d", v="d")),
        ("create", _row("p", "b", v="taken")),
    ]
    seen.append(_attempt(lambda: table.submit_transaction(half_way)))
    seen += [_read(table, "p", "a"), _read(table, "p", "d"), _read(table, "p", "b")]
    table.upsert_entity(_row("p", "b", w=2), mode=UpdateMode.MERGE)
    stale = table.get_entity("p", "c").metadata["etag"]
    table.update_entity(_row("p", "c", v="c2"), mode=UpdateMode.REPLACE)
    seen.append(
        _attempt(
            lambda: table.update_entity(
                _row("p", "c", v="c3"), etag=stale, match_condition=MatchConditions.IfNotModified
            )
        )
    )
    table.delete_entity("p", "a")
    seen += [_read(table, "p", "a"), _read(table, "p", "b"), _read(table, "p", "c")]
    table.create_entity(_row("p", "a", v="a2"))
    table.submit_transaction([("delete", _row("p", "b")), ("create", _row("p", "e", v="e"))])
    seen += [_read(table, "p", "a"), _read(table, "p", "b")]
    seen.append(sorted(e["RowKey"] for e in table.query_entities("PartitionKey eq 'p'")))
    return seen


def test_the_point_index_answers_as_azurite_does(storage_conn: str, indexed_azurite: Azurite) -> None:
    indexed = _script(indexed_azurite.connection_string)

    assert "point index loaded" in indexed_azurite.stderr()  # the preload ran in that process
    assert indexed == _script(storage_conn)
    assert indexed[:4] == [{"v": "a"}, {"v": "c"}, {"v": "qa"}, ("error", 404)]
    assert indexed[4] == ("error", 409)
    assert indexed[5] == ("transaction failed", 409)
    assert indexed[6:9] == [{"v": "a"}, ("error", 404), {"v": "b"}]  # rolled back
    assert indexed[9] == ("error", 412)
    assert indexed[10:13] == [("error", 404), {"v": "b", "w": 2}, {"v": "c2"}]
    assert indexed[13:] == [{"v": "a2"}, ("error", 404), ["a", "c", "e"]]
