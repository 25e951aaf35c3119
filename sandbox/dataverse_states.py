"""State rules of closed Dataverse rows (api-facts §A.4 and §I "Invoice state").

A row in one of its table's ``closed_states`` (an invoice that is Paid, Canceled or Closed) is
read-only: ordinary columns are refused until it is editable again (``DataverseModel``), its lines
can be neither created, changed nor deleted, and its state may only be changed back to an
editable one (an invoice: Active, statecode 0, e.g. statuscode 4 Billed). Any other state change
of a closed row, to another closed state or a status of its own state, is refused, as Dataverse
refuses a target state it does not allow from the current one. From an editable state every
declared state may be set (Active -> Paid / Canceled).
"""

from __future__ import annotations

from typing import Any

from sandbox.dataverse_schema import EntityDef
from sandbox.odata.protocol import ApiError

STATE_FIELDS = ("statecode", "statuscode")


def check_state_change(edef: EntityDef, current: dict[str, Any], changes: dict[str, Any]) -> None:
    """Refuse a state change of a closed row to anything but an editable state."""
    state = current.get("statecode")
    if state not in edef.closed_states or not any(name in changes for name in STATE_FIELDS):
        return
    target = changes.get("statecode", state)
    editable = edef.editable_states or ()
    if target in editable:
        return
    allowed = " or ".join(str(s) for s in editable) or "an editable state"
    raise ApiError(
        400,
        "0x80040203",
        "The target state is invalid. The target state may not exist or the system does not allow "
        f"changing to the target state from the current state: a closed {edef.logical} "
        f"(statecode {state}, statuscode {current.get('statuscode')}) must be set to statecode "
        f"{allowed} (Active) before any other change.",
    )
