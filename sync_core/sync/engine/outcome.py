"""What every step of the record engine shares: the outcome of one record, the message reasons
that force a write or an insert, and the conversions between BC and Dataverse blanks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sync_core.state.ports import RecordOutcome

SAME_TIMESTAMP = timedelta(milliseconds=10)  # BC: timestamps within 10 ms count as equal
# reasons that force the write: no unchanged shortcut, and on a conflict their direction wins
FORCE_REASONS = frozenset({"command", "restore"})
# reasons that insert an uncoupled record even when the mapping synchronizes only coupled ones
INSERT_REASONS = frozenset({"full-sync", "command", "restore"})
BC_BLANK_DATE = "0001-01-01"


@dataclass(frozen=True)
class Outcome:
    outcome: RecordOutcome
    message: str = ""
    destination_id: str = ""


def to_dataverse_values(values: dict[str, Any]) -> dict[str, Any]:
    """BC's blank date is Dataverse's null."""
    return {k: (None if v == BC_BLANK_DATE else v) for k, v in values.items()}


def to_bc_values(values: dict[str, Any], current: Any = None) -> dict[str, Any]:
    """Dataverse null is BC's blank: 0 / false / "" by the field's current type; omitted on insert."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is not None:
            out[key] = value
        elif current is not None:
            existing = current.get(key)
            out[key] = False if isinstance(existing, bool) else 0 if isinstance(existing, int | float) else ""
    return out
