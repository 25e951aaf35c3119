"""Record queue messages: what a mapping job or a webhook asks the record processor to do (one
record each), and a full synchronization's chunk messages (``kind`` = ``chunk``: one staged
chunk of a full-sync job's records, read from the review store by its number).

``correlation_id`` and ``enqueued_at`` (when the change reached the app, ISO 8601) follow the
change to the write; a message built inside a ``telemetry.correlated`` scope takes the scope's. A
message written before they existed reads as "" (the processor then uses the job id).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, get_args

from sync_core.errors import DataError
from sync_core.telemetry import current_correlation_id, current_received_at
from sync_core.vocabulary import Direction

MAX_MESSAGE_BYTES = 48 * 1024  # a base64-encoded storage queue message must stay under 64 KiB


@dataclass(frozen=True)
class RecordMessage:
    mapping: str
    direction: Direction
    source_id: str
    job_id: str = ""
    reason: str = "modified"  # modified | retry | webhook | full-sync | command
    correlation_id: str = field(default_factory=current_correlation_id)
    enqueued_at: str = field(default_factory=current_received_at)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @staticmethod
    def from_json(text: str | bytes) -> RecordMessage:
        try:
            data: Any = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"record message is not JSON: {exc}") from exc
        return RecordMessage.from_data(data)

    @staticmethod
    def from_data(data: Any) -> RecordMessage:
        if not isinstance(data, dict):
            raise DataError("record message must be a JSON object")
        missing = [k for k in ("mapping", "direction", "source_id") if not data.get(k)]
        if missing:
            raise DataError(f"record message lacks {', '.join(missing)}")
        if data["direction"] not in get_args(Direction):
            raise DataError(f"record message has unknown direction {data['direction']!r}")
        return RecordMessage(
            mapping=str(data["mapping"]),
            direction=data["direction"],
            source_id=str(data["source_id"]),
            job_id=str(data.get("job_id") or ""),
            reason=str(data.get("reason") or "modified"),
            correlation_id=str(data.get("correlation_id") or ""),
            enqueued_at=str(data.get("enqueued_at") or ""),
        )


CHUNK_KIND = "chunk"


@dataclass(frozen=True)
class ChunkMessage:
    """Chunk ``chunk`` of full-sync job ``job_id`` (mapping, direction): its records are staged."""

    job_id: str
    mapping: str
    direction: Direction
    chunk: int
    correlation_id: str = field(default_factory=current_correlation_id)
    kind: str = CHUNK_KIND

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @staticmethod
    def from_data(data: dict[str, Any]) -> ChunkMessage:
        missing = [k for k in ("job_id", "mapping", "direction") if not data.get(k)]
        if missing:
            raise DataError(f"chunk message lacks {', '.join(missing)}")
        if data["direction"] not in get_args(Direction):
            raise DataError(f"chunk message has unknown direction {data['direction']!r}")
        chunk = data.get("chunk")
        if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 0:
            raise DataError("chunk message needs a chunk number (an integer >= 0)")
        return ChunkMessage(
            str(data["job_id"]),
            str(data["mapping"]),
            data["direction"],
            chunk,
            str(data.get("correlation_id") or ""),
        )


def parse_record_queue_message(text: str | bytes) -> RecordMessage | ChunkMessage:
    """A record queue message: a chunk message when its ``kind`` says so, else a record message."""
    try:
        data: Any = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"record message is not JSON: {exc}") from exc
    if isinstance(data, dict) and data.get("kind") == CHUNK_KIND:
        return ChunkMessage.from_data(data)
    return RecordMessage.from_data(data)
