"""What BC's hard-coded rules (``rules_*`` modules) share: the hook's context and signature, the
"ignore this record" signal, setup.

BC drops some records after its query ("post-filters": the write-in product, ...): they are
neither synchronized nor failed. A hook says so by raising ``IgnoredRecord``. It is a
``MappingError``, so an engine that does not know it still never writes the record (it fails it,
then marks it Skipped); an engine that does counts it as skipped and records no error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from sync_core.errors import MappingError
from sync_core.vocabulary import Direction, Record, odata_literal


class ReferenceData(Protocol):
    """Read-only BC reference rows a hook may consult (exchange rates, setup)."""

    def rows(self, entity: str, filter: str | None = None, *, fresh: bool = False) -> list[Mapping[str, Any]]:
        """Rows of a BC entity set; cached briefly unless ``fresh`` (e.g. to number a new record)."""
        ...

    def lcy_code(self) -> str: ...


@dataclass(frozen=True)
class HookContext:
    """What a hook may know besides the values: ``destination`` is the record being updated
    (None when inserting, or when the engine does not pass it)."""

    direction: Direction
    inserting: bool
    source: Record
    reference: ReferenceData
    today: date
    destination: Record | None = None
    # the BC record coupled to a Dataverse id in a mapping (None: not coupled), when the engine
    # passes it: for rules that follow a coupling BC follows in code (a contact's company)
    coupled_bc: Callable[[str, str], Mapping[str, Any] | None] | None = None
    # a Dataverse row by entity set and id (None: no such row), when the engine passes it: for
    # rules that look at a related row BC reads in code (the type of a contact's parent account)
    crm_row: Callable[[str, str], Mapping[str, Any] | None] | None = None


Hook = Callable[[HookContext, dict[str, Any]], dict[str, Any]]


class IgnoredRecord(MappingError):
    """BC's post-filter: this record is never synchronized (not an error to fix)."""


def text(value: Any) -> str:
    return "" if value is None else str(value)


def code(value: Any) -> str:
    """A BC code as BC compares it: trimmed, upper-case."""
    return text(value).strip().upper()


def eq(field: str, value: Any) -> str:
    """``field eq <literal>`` for an OData ``$filter``."""
    return f"{field} eq {odata_literal(value)}"


def integration_setup(ctx: HookContext) -> Mapping[str, Any]:
    """The company's integration setup row (companion ``integrationSetup``), or an empty one."""
    rows = ctx.reference.rows("integrationSetup")
    return rows[0] if rows else {}
