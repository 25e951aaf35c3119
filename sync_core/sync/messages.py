"""Per-record queue messages: what a mapping job or a webhook asks the record processor to do.

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
