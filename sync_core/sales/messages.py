"""Queue messages of the document processing: one CRM order or quote to bring to BC.

``correlation_id`` / ``enqueued_at`` as in ``sync.messages.RecordMessage`` (absent -> "").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast, get_args

from sync_core.errors import DataError
from sync_core.telemetry import current_correlation_id, current_received_at

DocumentType = Literal["order", "quote"]
Reason = Literal["webhook", "timer", "command"]
AUTOMATIC: frozenset[str] = frozenset({"webhook", "timer"})  # honour autoCreate / autoProcess


@dataclass(frozen=True)
class DocumentMessage:
    document: DocumentType
    crm_id: str
    job_id: str = ""
    reason: Reason = "webhook"
    correlation_id: str = field(default_factory=current_correlation_id)
    enqueued_at: str = field(default_factory=current_received_at)

    @property
    def automatic(self) -> bool:
        return self.reason in AUTOMATIC

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @staticmethod
    def from_json(text: str | bytes) -> DocumentMessage:
        try:
            data: Any = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"document message is not JSON: {exc}") from exc
        if not isinstance(data, dict) or not data.get("crm_id"):
            raise DataError("document message must be a JSON object with a crm_id")
        if data.get("document") not in get_args(DocumentType):
            raise DataError(f"document message has unknown document {data.get('document')!r}")
        reason = data.get("reason") or "webhook"
        if reason not in get_args(Reason):
            raise DataError(f"document message has unknown reason {reason!r}")
        return DocumentMessage(
            data["document"],
            str(data["crm_id"]),
            str(data.get("job_id") or ""),
            cast(Reason, reason),
            str(data.get("correlation_id") or ""),
            str(data.get("enqueued_at") or ""),
        )
