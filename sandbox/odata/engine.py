"""Entity store and query engine shared by the emulators.

The :class:`Store` keeps tables of rows (dicts keyed by id) under one re-entrant lock; writes
replace row dicts rather than mutating them, so a shallow copy of the tables is a consistent
snapshot (used for atomic change sets). The query functions work on API-shaped rows:
``$filter``, ``$orderby`` (key as tie-breaker), ``$top``, ``$select``, ``$expand`` options, and
key-set server paging with an opaque ``$skiptoken``.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.odata.filter import FilterError, evaluate, fields_in, parse_datetime, parse_filter

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"


class QueryError(ValueError):
    """A bad query option; ``field`` is set when an unknown property was named."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Store:
    """Tables of rows, a global row-version counter and a strictly increasing clock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self._version = 1000
        self._last_ms = 0
        self.generation = 0  # bumped when tables are replaced wholesale (clear/restore)

    def table(self, name: str) -> dict[str, dict[str, Any]]:
        return self.tables.setdefault(name, {})

    def clear(self) -> None:
        with self.lock:
            self.tables = {}
            self.generation += 1

    def next_version(self) -> int:
        with self.lock:
            self._version += 1
            return self._version

    def stamp(self) -> str:
        """Now (UTC, millisecond precision), strictly later than any earlier stamp."""
        with self.lock:
            now_ms = int(datetime.now(UTC).timestamp() * 1000)
            self._last_ms = max(now_ms, self._last_ms + 1)
            moment = datetime.fromtimestamp(self._last_ms / 1000, UTC)
            return format_ms(moment)

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        with self.lock:
            return {name: dict(rows) for name, rows in self.tables.items()}

    def restore(self, snapshot: dict[str, dict[str, dict[str, Any]]]) -> None:
        with self.lock:
            self.tables = {name: dict(rows) for name, rows in snapshot.items()}
            self.generation += 1


def format_ms(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def shift_ms(stamp: str, delta_ms: int) -> str:
    return format_ms(parse_datetime(stamp) + timedelta(milliseconds=delta_ms))


# -- query options -------------------------------------------------------------------------------


@dataclass
class OrderBy:
    field: str
    desc: bool = False


@dataclass
class ExpandItem:
    name: str
    options: QueryOptions


@dataclass
class QueryOptions:
    filter: Any = None
    select: list[str] | None = None
    orderby: list[OrderBy] = field(default_factory=list)
    top: int | None = None
    skip: int | None = None
    expand: list[ExpandItem] = field(default_factory=list)
    skiptoken: str | None = None
    count: bool = False

    def referenced_fields(self) -> set[str]:
        names = fields_in(self.filter) if self.filter is not None else set()
        names |= {o.field for o in self.orderby}
        return names | set(self.select or [])


def parse_query(params: dict[str, str]) -> QueryOptions:
    """The system query options of a request; raises :class:`QueryError`."""
    opts = QueryOptions()
    try:
        if params.get("$filter"):
            opts.filter = parse_filter(params["$filter"])
    except FilterError as exc:
        raise QueryError(str(exc)) from exc
    if "$select" in params:
        opts.select = [s.strip() for s in params["$select"].split(",") if s.strip()]
    if params.get("$orderby"):
        opts.orderby = [_order_item(item) for item in split_top(params["$orderby"], ",")]
    opts.top = _non_negative(params, "$top")
    opts.skip = _non_negative(params, "$skip")
    if params.get("$expand"):
        opts.expand = [_expand_item(item) for item in split_top(params["$expand"], ",")]
    opts.skiptoken = params.get("$skiptoken")
    opts.count = params.get("$count", "").lower() == "true"
    return opts


def _non_negative(params: dict[str, str], name: str) -> int | None:
    if name not in params:
        return None
    try:
        value = int(params[name])
    except ValueError:
        value = -1
    if value < 0:
        raise QueryError(f"Invalid value '{params[name]}' for {name}; expected a non-negative integer.")
    return value


def _order_item(text: str) -> OrderBy:
    parts = text.split()
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        raise QueryError(f"Invalid $orderby clause '{text}'.")
    return OrderBy(parts[0], len(parts) == 2 and parts[1].lower() == "desc")


def _expand_item(text: str) -> ExpandItem:
    text = text.strip()
    if "(" not in text:
        return ExpandItem(text, QueryOptions())
    if not text.endswith(")"):
        raise QueryError(f"Invalid $expand clause '{text}'.")
    name, inner = text.split("(", 1)
    params: dict[str, str] = {}
    for option in split_top(inner[:-1], ";"):
        key, sep, value = option.partition("=")
        if not sep or not key.strip().startswith("$"):
            raise QueryError(f"Invalid option '{option}' in $expand.")
        params[key.strip()] = value.strip()
    return ExpandItem(name.strip(), parse_query(params))


def split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside parentheses and quotes."""
    parts: list[str] = []
    depth, quoted, current = 0, False, []
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def validate_fields(opts: QueryOptions, known: set[str] | frozenset[str], navs: set[str]) -> None:
    """Raise :class:`QueryError` (with ``field``) when an option names an unknown property."""
    for name in sorted(opts.referenced_fields()):
        if name not in known:
            raise QueryError(f"Could not find a property named '{name}'.", field=name)
    for item in opts.expand:
        if item.name not in navs:
            raise QueryError(f"Could not find a property named '{item.name}'.", field=item.name)


# -- execution -----------------------------------------------------------------------------------


def sort_value(value: Any, ci: bool) -> tuple[int, Any]:
    """A totally ordered key: nulls first, then numbers, datetimes, strings."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, float(value))
    if isinstance(value, str):
        if len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-" and value[:4].isdigit():
            try:
                text = value if "T" in value else value + "T00:00:00Z"
                return (2, parse_datetime(text).timestamp())
            except ValueError:
                pass
        return (3, value.lower() if ci else value)
    return (4, json.dumps(value, sort_keys=True, default=str))


def _sort_values(row: dict[str, Any], opts: QueryOptions, key: str) -> list[Any]:
    return [row.get(o.field) for o in opts.orderby] + [row.get(key)]


def _compare_values(a: list[Any], b: list[Any], opts: QueryOptions, ci: bool) -> int:
    descending = [o.desc for o in opts.orderby] + [False]
    for x, y, desc in zip(a, b, descending, strict=False):
        kx, ky = sort_value(x, ci), sort_value(y, ci)
        if kx != ky:
            result = -1 if kx < ky else 1
            return -result if desc else result
    return 0


def execute(rows: list[dict[str, Any]], opts: QueryOptions, key: str, ci: bool) -> list[dict[str, Any]]:
    """Filter and sort (``$orderby`` then key); paging and ``$top`` come later."""
    if opts.filter is not None:
        rows = [r for r in rows if evaluate(opts.filter, r, ci=ci)]
    rows = sorted(rows, key=lambda r: sort_value(r.get(key), ci))
    for order in reversed(opts.orderby):  # stable multi-pass sort, last key first
        rows.sort(key=lambda r, name=order.field: sort_value(r.get(name), ci), reverse=order.desc)
    return rows


def _first_after(rows: list[dict[str, Any]], last: list[Any], opts: QueryOptions, key: str, ci: bool) -> int:
    """Index of the first (sorted) row after the sort values ``last`` (binary search)."""
    low, high = 0, len(rows)
    while low < high:
        middle = (low + high) // 2
        if _compare_values(_sort_values(rows[middle], opts, key), last, opts, ci) > 0:
            high = middle
        else:
            low = middle + 1
    return low


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_token: str | None
    total: int


def paginate(rows: list[dict[str, Any]], opts: QueryOptions, key: str, ci: bool, page_size: int) -> Page:
    """One page of sorted ``rows`` after the position in ``opts.skiptoken``."""
    state = decode_token(opts.skiptoken) if opts.skiptoken else {}
    remaining = list(rows[opts.skip or 0 :])
    total = len(remaining)
    if "k" in state:
        remaining = remaining[_first_after(remaining, state["k"], opts, key, ci) :]
    served = int(state.get("n", 0))
    if opts.top is not None:
        remaining = remaining[: max(opts.top - served, 0)]
    page = remaining[:page_size]
    token = None
    if len(remaining) > page_size and page:
        last_values = _sort_values(page[-1], opts, key)
        token = encode_token({"k": last_values, "n": served + len(page), "s": page_size})
    return Page(page, token, total)


def encode_token(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise QueryError("The $skiptoken is not valid.") from exc
    if not isinstance(state, dict):
        raise QueryError("The $skiptoken is not valid.")
    return state


def token_page_size(token: str | None) -> int | None:
    if not token:
        return None
    size = decode_token(token).get("s")
    return int(size) if isinstance(size, int) else None


def select(row: dict[str, Any], names: list[str] | None, always: tuple[str, ...] = ()) -> dict[str, Any]:
    """``row`` restricted to ``names`` (plus annotations and ``always``); all when ``names`` is None."""
    if names is None:
        return dict(row)
    keep = set(names) | set(always)
    out = {k: v for k, v in row.items() if k.startswith("@") or k in keep}
    for name in list(out):
        for annotated in (k for k in row if k.startswith(name + "@")):
            out[annotated] = row[annotated]
    return out
