"""What the Dataverse emulator's model reports after each write: the event pipeline's input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.dataverse_schema import EntityDef


@dataclass(frozen=True)
class Change:
    """One written row: ``Create`` / ``Update`` (``names`` = the stored columns the request set,
    lookups as ``_x_value``) or ``Delete`` (``row`` = the row as it was)."""

    message: str
    edef: EntityDef
    row: dict[str, Any]
    names: tuple[str, ...]
    caller: str
    pre: dict[str, Any] | None = None


Observer = Callable[[Change], None]
