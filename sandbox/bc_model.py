"""BC row semantics: projections onto views, validated writes, number series and BC's own rules.

Rows are stored per table with internal keys starting with ``__`` (``__company``, ``__version``,
``__relation`` ...). A write through any view changes the one stored row, so v2.0 and companion
views of customers, contacts and items always agree (same ``id``, ``lastModifiedDateTime``, ETag).
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from typing import Any

from sandbox.bc_documents_schema import SERIES_TABLES
from sandbox.bc_rules import (
    GETTERS,
    bc_error,
    before_create,
    before_delete,
    before_update,
    caption,
    create_company_contact,
    sync_company_contact,
)
from sandbox.bc_schema import COMPOSITE_KEYS, NUMBER_SERIES, TABLES, VIEWS, BcField, BcView
from sandbox.bc_statistics import note_activity
from sandbox.odata.engine import EMPTY_GUID, Store, format_ms
from sandbox.odata.filter import parse_datetime
from sandbox.odata.protocol import ApiError

__all__ = ["GETTERS", "BcModel", "bc_error", "caption", "etag"]

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
EDM = {"s": "Edm.String", "n": "Edm.Decimal", "b": "Edm.Boolean", "d": "Edm.Date", "g": "Edm.Guid",
       "t": "Edm.DateTimeOffset"}  # fmt: skip


def etag(row: dict[str, Any]) -> str:
    raw = f"'{len(row['id'])};{row['__version']}{row['id'][:8]};00;'".encode()
    return f'W/"{base64.b64encode(raw).decode()}"'


class BcModel:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._gen = -1
        self._index: dict[str, dict[tuple[str, str], str]] = {}
        self._series: dict[tuple[str, str], int] = {}
        self._writes = 0
        self._lines_cache: dict[str, tuple[int, dict[str, list[dict]]]] = {}
        # told of every stored write: (table, old row or None, new row or None)
        self.observer: Callable[[str, dict | None, dict | None], None] | None = None

    @property
    def writes(self) -> int:
        """How many rows were written so far: a cache key for figures derived from them."""
        return self._writes

    # -- lookups -----------------------------------------------------------------------------

    def _fresh(self) -> None:
        if self._gen != self.store.generation:
            self._gen, self._index, self._series = self.store.generation, {}, {}

    def index(self, table: str) -> dict[tuple[str, str], str]:
        self._fresh()
        if table not in self._index:
            code = TABLES[table][0]
            self._index[table] = (
                {(r["__company"], r.get(code) or ""): r["id"] for r in self.store.table(table).values()}
                if code
                else {}
            )
        return self._index[table]

    def by_code(self, table: str, company: str, code: str | None) -> dict | None:
        row_id = self.index(table).get((company, code or "")) if code else None
        return self.store.table(table).get(row_id) if row_id else None

    def by_id(self, table: str, company: str, row_id: Any) -> dict | None:
        row = self.store.table(table).get(str(row_id or "").lower())
        return row if row is not None and row.get("__company") == company else None

    def rows(self, table: str, company: str) -> list[dict]:
        return [r for r in self.store.table(table).values() if r.get("__company") == company]

    def find(self, view: BcView, company: str, row_id: Any) -> dict | None:
        """The row ``row_id`` when ``view`` shows it (a quote is no row of ``salesOrders``)."""
        row = self.by_id(view.table, company, row_id)
        return row if row is not None and view.shows(row) else None

    def view_rows(self, view: BcView, company: str) -> list[dict]:
        return [r for r in self.rows(view.table, company) if view.shows(r)]

    def lines_of(self, line_table: str) -> dict[str, list[dict]]:
        cached = self._lines_cache.get(line_table)
        if cached and cached[0] == self._writes and self._gen == self.store.generation:
            return cached[1]
        grouped: dict[str, list[dict]] = {}
        for row in self.store.table(line_table).values():
            grouped.setdefault(row.get("documentId") or "", []).append(row)
        self._lines_cache[line_table] = (self._writes, grouped)
        return grouped

    # -- projection --------------------------------------------------------------------------

    def project(self, view: BcView, row: dict, only: set[str] | None = None) -> dict:
        """The API shape of a stored row (just the fields in ``only`` when given)."""
        out: dict[str, Any] = {"@odata.etag": etag(row)} if "__version" in row and only is None else {}
        for f in view.fields:
            if only is not None and f.api not in only:
                continue
            if f.getter:
                value = GETTERS[f.getter](self, view, row)
            elif f.link:
                target = self.by_code(f.link, row["__company"], row.get(f.stored))
                value = target["id"] if target else EMPTY_GUID
            else:
                value = row.get(f.stored)
                value = f.default if value is None else f.to_api(value)
            out[f.api] = value
        return out

    # -- writes ------------------------------------------------------------------------------

    def create(
        self,
        view: BcView,
        body: Any,
        company: str,
        *,
        admin: bool = False,
        parent: tuple[str, str] | None = None,
    ) -> dict:
        """Insert a row (deep insert of ``nav`` collections included; all or nothing)."""
        with self.store.lock:
            if not isinstance(body, dict) or not any(body.get(n) for n in view.nav):
                return self._create(view, body, company, admin, parent)
            snapshot = self.store.snapshot()
            try:
                return self._create(view, body, company, admin, parent)
            except ApiError:
                self.store.restore(snapshot)
                raise

    def _create(
        self, view: BcView, body: Any, company: str, admin: bool, parent: tuple[str, str] | None
    ) -> dict:
        with self.store.lock:
            changes = self._changes(view, body, company, admin, creating=True)
            row_id = str(changes.pop("id", None) or uuid.uuid4()).lower()
            if not GUID_RE.match(row_id) or row_id in self.store.table(view.table):
                raise bc_error(
                    409,
                    "Internal_EntityWithSameKeyExists",
                    f"The {caption(view.table)} already exists. Identification fields and "
                    f"values: SystemId='{{{row_id.upper()}}}'",
                )
            row = {"id": row_id, "__company": company, **changes}
            if parent:
                row[parent[0]] = parent[1]
            if view.where and (len(view.where) == 1 or not row.get("documentType")):
                row["documentType"] = view.where[0]
            before_create(self, view, row, company, admin)
            self._check_keys(view.table, row, company)
            if view.table == "customer" and not row.get("companyContactNo"):
                create_company_contact(self, row, company)
            self.put(view.table, row)
            for nav, (child_view, fk) in view.nav.items():
                for item in (body.get(nav) or []) if isinstance(body, dict) else []:
                    self.create(VIEWS[child_view], item, company, admin=admin, parent=(fk, row_id))
            return self.store.table(view.table)[row_id]

    def update(self, view: BcView, row_id: str, body: Any, company: str, *, admin: bool = False) -> dict:
        with self.store.lock:
            current = self.find(view, company, row_id)
            if current is None:
                raise self.not_found(view, row_id)
            changes = self._changes(view, body, company, admin, creating=False)
            changes.pop("id", None)
            row = {**current, **changes}
            before_update(self, view, current, row, changes, company, admin)
            self._check_keys(view.table, row, company)
            self.put(view.table, row)
            if view.table == "customer":
                sync_company_contact(self, row, changes, company)
            return row

    def delete(self, view: BcView, row_id: str, company: str, *, admin: bool = False) -> None:
        with self.store.lock:
            row = self.find(view, company, row_id)
            if row is None:
                raise self.not_found(view, row_id)
            before_delete(self, view, row, company, admin)
            self.remove(view.table, row)
            for child_view, fk in view.nav.values():
                child_table = VIEWS[child_view].table
                for child in [r for r in self.store.table(child_table).values() if r.get(fk) == row["id"]]:
                    self.remove(child_table, child)

    def put(self, table: str, row: dict) -> None:
        """Stamp (``lastModifiedDateTime``, version) and store a row."""
        row["lastModifiedDateTime"] = self.store.stamp()
        row["__version"] = self.store.next_version()
        old = self.store.table(table).get(row["id"])
        self.store.table(table)[row["id"]] = row
        self._writes += 1
        self._reindex(table, old, row)
        note_activity(self, table, old, row)
        if self.observer is not None:
            self.observer(table, old, row)

    def remove(self, table: str, row: dict) -> None:
        self.store.table(table).pop(row["id"], None)
        self._writes += 1
        self._reindex(table, row, None)
        note_activity(self, table, row, None)
        if self.observer is not None:
            self.observer(table, row, None)

    def _reindex(self, table: str, old: dict | None, new: dict | None) -> None:
        self._fresh()
        code = TABLES[table][0]
        if not code or table not in self._index:
            return
        index = self._index[table]
        if old is not None and index.get((old["__company"], old.get(code) or "")) == old["id"]:
            del index[(old["__company"], old.get(code) or "")]
        if new is not None:
            index[(new["__company"], new.get(code) or "")] = new["id"]

    def not_found(self, view: BcView, row_id: str) -> ApiError:
        return bc_error(
            404,
            "Internal_RecordNotFound",
            f"The {caption(view.table)} does not exist. Identification fields and values: "
            f"SystemId='{{{str(row_id).upper()}}}'",
        )

    # -- field conversion --------------------------------------------------------------------

    def _changes(self, view: BcView, body: Any, company: str, admin: bool, creating: bool) -> dict:
        if not isinstance(body, dict):
            raise bc_error(400, "BadRequest", "The request body must be a JSON object.")
        fields, changes = view.by_api, {}
        for name, value in body.items():
            if name.startswith("@odata") or name in view.nav:
                continue
            f = fields.get(name)
            if f is None:
                raise bc_error(
                    400,
                    "BadRequest",
                    f"The property '{name}' does not exist on type 'Microsoft.NAV."
                    f"{view.entity_type}'. Make sure to only use property names that are "
                    "defined by the type.",
                )
            if name == "id" and admin and creating:
                changes["id"] = value
                continue
            if f.read_only and (not admin or f.getter or name in ("id", "lastModifiedDateTime")):
                raise bc_error(400, "BadRequest_InvalidOperation", f"Control '{name}' is read-only.")
            changes[f.stored] = self._convert(view, f, value, company)
        return changes

    def _convert(self, view: BcView, f: BcField, value: Any, company: str) -> Any:
        if f.link:
            return self._link_code(f, value, company)
        value = _typed(f, value)
        if f.kind == "t":
            try:
                return format_ms(parse_datetime(value))
            except ValueError as exc:
                raise bc_error(
                    400,
                    "BadRequest",
                    f"Cannot convert the literal '{value}' to the expected type '{EDM['t']}'.",
                ) from exc
        if isinstance(value, str):
            value = value.upper() if f.code else value
            if f.max_len is not None and len(value) > f.max_len:
                raise bc_error(
                    400,
                    "Application_StringExceededLength",
                    f"The length of the string is {len(value)}, but it must be less than or "
                    f"equal to {f.max_len} characters. Value: {value}",
                )
        if f.enum is not None:
            value = str(value).replace("_x0020_", " ")
            if value not in f.enum:
                raise bc_error(
                    400,
                    "BadRequest",
                    f"Cannot convert the literal '{value}' to the expected type "
                    f"'Microsoft.NAV.{f.api}'. Allowed: {', '.join(repr(v) for v in f.enum)}.",
                )
            value = f.to_stored(value)
        if f.rel and value and self.by_code(f.rel, company, value) is None:
            raise bc_error(
                400,
                "Internal_InvalidTableRelation",
                f"The field {f.api} of table {caption(view.table)} contains a value ({value}) "
                f"that cannot be found in the related table ({caption(f.rel)}).",
            )
        return value

    def _link_code(self, f: BcField, value: Any, company: str) -> str:
        if value in (None, "", EMPTY_GUID):
            return ""
        if not isinstance(value, str) or not GUID_RE.match(value):
            raise bc_error(
                400, "BadRequest", f"Cannot convert the literal '{value}' to the expected type 'Edm.Guid'."
            )
        target = self.by_id(str(f.link), company, value)
        if target is None:
            raise bc_error(
                400,
                "Internal_RecordNotFound",
                f"The {caption(str(f.link))} does not exist. Identification fields and "
                f"values: SystemId='{{{value.upper()}}}'",
            )
        return target[TABLES[str(f.link)][0]]

    def _check_keys(self, table: str, row: dict, company: str) -> None:
        code = TABLES[table][0]
        if code and not row.get(code):
            raise bc_error(
                400,
                "Application_FieldValidationException",
                f"{TABLES[table][2]} must have a value in {caption(table)}: "
                f"{TABLES[table][2]}=. It cannot be zero or empty.",
            )
        clash = self.by_code(table, company, row.get(code)) if code else None
        if clash is None and table in COMPOSITE_KEYS:
            key = [row.get(k) for k in COMPOSITE_KEYS[table]]
            clash = next(
                (r for r in self.rows(table, company) if [r.get(k) for k in COMPOSITE_KEYS[table]] == key),
                None,
            )
        if clash is not None and clash["id"] != row["id"]:
            ident = f"{TABLES[table][2]}='{row.get(code)}'" if code else "the primary key"
            raise bc_error(
                409,
                "Internal_EntityWithSameKeyExists",
                f"The {caption(table)} already exists. Identification fields and values: {ident}",
            )

    def next_number(self, series: str, company: str) -> str:
        """The next free No. of a number series (named as its table, or in ``SERIES_TABLES``)."""
        fmt, start, step = NUMBER_SERIES[series]
        table = SERIES_TABLES.get(series, series)
        n = self._series.get((series, company), start)
        while self.by_code(table, company, fmt.format(n)) is not None:
            n += step
        self._series[(series, company)] = n + step
        return fmt.format(n)


def _typed(f: BcField, value: Any) -> Any:
    kind = f.kind
    ok = {
        "n": isinstance(value, int | float) and not isinstance(value, bool),
        "b": isinstance(value, bool),
        "d": isinstance(value, str) and bool(DATE_RE.match(value)),
        "g": isinstance(value, str) and bool(GUID_RE.match(value) or value == ""),
        "t": isinstance(value, str) and bool(DATETIME_RE.match(value)),
        "s": isinstance(value, str),
    }[kind]
    if not ok:
        raise bc_error(
            400, "BadRequest", f"Cannot convert the literal '{value}' to the expected type '{EDM[kind]}'."
        )
    return value.lower() if kind == "g" else value
