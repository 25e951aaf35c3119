"""Chunk messages and the staging decision (pure): BC §4.1 exactly as the record engine decides."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sync_core.errors import DataError
from sync_core.mapping.catalog import default_catalog
from sync_core.settings import full_sync_chunks
from sync_core.state.memory import MemoryMessageQueue
from sync_core.state.stores import memory_stores
from sync_core.sync.context import SyncContext
from sync_core.sync.full_sync.chunks import CLAIMED, FAILED, SKIPPED, decide, from_ms, shortcut_allowed, to_ms
from sync_core.sync.messages import ChunkMessage, RecordMessage, parse_record_queue_message

T = datetime(2024, 6, 1, 8, 0, 0, 123000, tzinfo=UTC)
LAST = to_ms(T)


@pytest.mark.parametrize("direction", ["to-dataverse", "to-bc"])
def test_decision_follows_bcs_unchanged_rule(direction: str) -> None:
    same = T + timedelta(milliseconds=10)  # within BC's 10 ms: the same timestamp
    later = T + timedelta(milliseconds=11)
    assert decide(None, direction, T) == "insert"  # type: ignore[arg-type]  # uncoupled
    assert decide((LAST, 0), direction, same) == "unchanged"  # type: ignore[arg-type]
    assert decide((LAST, 0), direction, T - timedelta(days=1)) == "unchanged"  # type: ignore[arg-type]
    assert decide((LAST, 0), direction, later) == "process"  # type: ignore[arg-type]  # modified
    assert decide((None, 0), direction, T) == "process"  # type: ignore[arg-type]  # never synchronized
    assert decide((LAST, FAILED), direction, T) == "process"  # type: ignore[arg-type]  # failed: retry
    assert decide((LAST, CLAIMED), direction, T) == "process"  # type: ignore[arg-type]  # resume the claim
    assert decide((LAST, SKIPPED | FAILED), direction, later) == "skipped"  # type: ignore[arg-type]


def test_unix_ms_round_trip() -> None:
    assert from_ms(to_ms(T)) == T and to_ms(None) is None and from_ms(None) is None


def test_chunk_message_round_trip_and_record_messages_unchanged() -> None:
    chunk = ChunkMessage("job-1", "CUSTOMER", "to-bc", 7, correlation_id="c-1")
    body = json.loads(chunk.to_json())
    assert body == {
        "kind": "chunk", "job_id": "job-1", "mapping": "CUSTOMER", "direction": "to-bc",
        "chunk": 7, "correlation_id": "c-1",
    }  # fmt: skip
    assert parse_record_queue_message(chunk.to_json()) == chunk
    record = RecordMessage("CUSTOMER", "to-dataverse", "id-1", "job-1", "full-sync", "c-2", "")
    assert parse_record_queue_message(record.to_json().encode()) == record
    old = b'{"mapping":"CUSTOMER","direction":"to-bc","source_id":"x"}'  # written before kinds
    assert parse_record_queue_message(old) == RecordMessage.from_json(old)


@pytest.mark.parametrize(
    "body",
    [
        '{"kind":"chunk","mapping":"M","direction":"to-bc","chunk":0}',
        '{"kind":"chunk","job_id":"j","mapping":"M","direction":"sideways","chunk":0}',
        '{"kind":"chunk","job_id":"j","mapping":"M","direction":"to-bc","chunk":-1}',
        '{"kind":"chunk","job_id":"j","mapping":"M","direction":"to-bc","chunk":"3"}',
        '{"kind":"chunk","job_id":"j","mapping":"M","direction":"to-bc"}',
        "not json",
    ],
)
def test_bad_chunk_messages_are_data_errors(body: str) -> None:
    with pytest.raises(DataError):
        parse_record_queue_message(body)


def test_the_switch_defaults_to_chunks() -> None:
    assert full_sync_chunks({}) and full_sync_chunks({"SYNC_FULL_SYNC_CHUNKS": ""})
    assert full_sync_chunks({"SYNC_FULL_SYNC_CHUNKS": "1"}) and full_sync_chunks(
        {"SYNC_FULL_SYNC_CHUNKS": "true"}
    )
    for off in ("0", "false", "FALSE", " no ", "off"):
        assert not full_sync_chunks({"SYNC_FULL_SYNC_CHUNKS": off})


def test_no_shortcut_where_the_engine_would_do_more_than_decide() -> None:
    """Option mappings couple by synchronizing, a price group re-synchronizes its prices, a line
    mapping goes with its document, a one-way mapping has no other direction."""
    catalog = default_catalog()
    ctx = SyncContext(catalog, None, None, memory_stores(), MemoryMessageQueue("r"))  # type: ignore[arg-type]
    allowed = {
        (name, direction): shortcut_allowed(ctx, catalog.get(name), direction)  # type: ignore[arg-type]
        for name in ("CUSTOMER", "CURRENCY", "PAYMENT TERMS", "CUSTPRCGRP-PRICE", "POSTEDSALESLINE-INV")
        for direction in ("to-dataverse", "to-bc")
    }
    assert allowed == {
        ("CUSTOMER", "to-dataverse"): True, ("CUSTOMER", "to-bc"): True,
        ("CURRENCY", "to-dataverse"): True, ("CURRENCY", "to-bc"): False,
        ("PAYMENT TERMS", "to-dataverse"): False, ("PAYMENT TERMS", "to-bc"): False,
        ("CUSTPRCGRP-PRICE", "to-dataverse"): False, ("CUSTPRCGRP-PRICE", "to-bc"): False,
        ("POSTEDSALESLINE-INV", "to-dataverse"): False, ("POSTEDSALESLINE-INV", "to-bc"): False,
    }  # fmt: skip
