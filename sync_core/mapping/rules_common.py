"""What BC's hard-coded rules (``rules_*`` modules) share: the "ignore this record" signal, setup.

BC drops some records after its query ("post-filters": the write-in product, ...): they are
neither synchronized nor failed. A hook says so by raising ``IgnoredRecord``. It is a
``MappingError``, so an engine that does not know it still never writes the record (it fails it,
then marks it Skipped); an engine that does counts it as skipped and records no error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sync_core.errors import MappingError
from sync_core.odata.query import odata_literal

if TYPE_CHECKING:
    from sync_core.mapping.hooks import HookContext


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
