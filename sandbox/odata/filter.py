"""OData v4 ``$filter``: tokenizer, recursive-descent parser and evaluator.

Supports ``eq ne gt ge lt le``, ``and or not``, parentheses, ``contains/startswith/endswith``,
``tolower/toupper``; literals: ``'strings'`` (``''`` escapes a quote), numbers, ``true/false``,
``null``, unquoted GUIDs, unquoted ISO-8601 datetimes (``Z``, offsets, fractional seconds) and
dates. String comparison can be case-insensitive (Dataverse) or case-sensitive (BC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

COMPARISON_OPS = ("eq", "ne", "gt", "ge", "lt", "le")
BOOL_FUNCTIONS = ("contains", "startswith", "endswith")
VALUE_FUNCTIONS = ("tolower", "toupper")

_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<str>'(?:[^']|'')*')"
    r"|(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:Z|[+-]\d{2}:\d{2}| \d{2}:\d{2})?)"
    r"|(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(?P<date>\d{4}-\d{2}-\d{2})"
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)"
    r"|(?P<lp>\()|(?P<rp>\))|(?P<comma>,)"
    r"|(?P<ident>[A-Za-z_@$][\w.@/$]*)"
)


class FilterError(ValueError):
    """A ``$filter`` that cannot be parsed; ``message`` is ready for an error body."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


@dataclass(frozen=True)
class Literal:
    value: Any
    kind: str  # string | number | bool | null | guid | datetime | date


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Logical:
    op: str  # and | or
    left: Any
    right: Any


@dataclass(frozen=True)
class Not:
    operand: Any


Node = Literal | Field | Call | Compare | Logical | Not


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterError(f"Syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


def parse_datetime(text: str) -> datetime:
    """An ISO-8601 datetime (``Z``/offset/naive = UTC) as an aware UTC datetime."""
    value = text.strip()
    if re.search(r"T\d{2}:\d{2}(:\d{2}(\.\d+)?)? \d{2}:\d{2}$", value):
        value = value[:-6] + "+" + value[-5:]  # a '+' decoded to a space in a query string
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    match = re.match(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$", value)
    if match:  # Python accepts at most 6 fractional digits
        value = f"{match.group(1)}.{match.group(2)[:6].ljust(6, '0')}{match.group(3)}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def error(self, token: Token | None = None) -> FilterError:
        pos = token.pos if token else len(self.text)
        return FilterError(f"Syntax error at position {pos} in '{self.text}'.")

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str | None = None, word: str | None = None) -> Token:
        token = self.peek()
        if token is None or (kind and token.kind != kind):
            raise self.error(token)
        if word and token.text.lower() != word:
            raise self.error(token)
        self.i += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "ident" and token.text.lower() in words

    def parse(self) -> Node:
        if not self.tokens:
            raise FilterError("The $filter expression is empty.")
        node = self.or_expr()
        if self.peek() is not None:
            raise self.error(self.peek())
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.at_word("or"):
            self.i += 1
            node = Logical("or", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.unary()
        while self.at_word("and"):
            self.i += 1
            node = Logical("and", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at_word("not"):
            self.i += 1
            return Not(self.unary())
        token = self.peek()
        if token is not None and token.kind == "lp":
            self.i += 1
            node = self.or_expr()
            self.take("rp")
            return self.maybe_compare(node)
        return self.maybe_compare(self.operand())

    def maybe_compare(self, left: Node) -> Node:
        if self.at_word(*COMPARISON_OPS):
            op = self.take().text.lower()
            return Compare(op, left, self.operand())
        if isinstance(left, Field):
            return Compare("eq", left, Literal(True, "bool"))  # bare boolean property
        if isinstance(left, Call) and left.name in VALUE_FUNCTIONS:
            raise self.error(self.peek())
        return left

    def operand(self) -> Node:
        token = self.take()
        if token.kind == "str":
            return Literal(token.text[1:-1].replace("''", "'"), "string")
        if token.kind == "num":
            return Literal(_number(token.text), "number")
        if token.kind in ("guid", "date", "datetime"):
            return self._typed_literal(token)
        if token.kind != "ident":
            raise self.error(token)
        word = token.text.lower()
        if word in ("true", "false"):
            return Literal(word == "true", "bool")
        if word == "null":
            return Literal(None, "null")
        nxt = self.peek()
        if nxt is not None and nxt.kind == "lp":
            return self.call(token)
        return Field(token.text)

    def _typed_literal(self, token: Token) -> Literal:
        if token.kind == "guid":
            return Literal(token.text.lower(), "guid")
        try:
            if token.kind == "date":
                return Literal(date.fromisoformat(token.text), "date")
            return Literal(parse_datetime(token.text), "datetime")
        except ValueError as exc:
            raise self.error(token) from exc

    def call(self, name_token: Token) -> Node:
        name = name_token.text.lower()
        if name not in BOOL_FUNCTIONS + VALUE_FUNCTIONS:
            raise FilterError(f"Unknown function '{name_token.text}' in '{self.text}'.")
        self.take("lp")
        args = [self.operand()]
        while self.peek() is not None and self.peek().kind == "comma":  # type: ignore[union-attr]
            self.i += 1
            args.append(self.operand())
        self.take("rp")
        expected = 2 if name in BOOL_FUNCTIONS else 1
        if len(args) != expected:
            raise FilterError(f"The function '{name}' expects {expected} argument(s).")
        return Call(name, tuple(args))


def _number(text: str) -> int | float:
    text = text.rstrip("mMdDfFlL")
    return float(text) if any(c in text for c in ".eE") else int(text)


def parse_filter(text: str) -> Node:
    """Parse a ``$filter`` expression; raises :class:`FilterError`."""
    return _Parser(text).parse()


def fields_in(node: Any) -> set[str]:
    """The property names a filter refers to."""
    if isinstance(node, Field):
        return {node.name}
    if isinstance(node, Compare | Logical):
        return fields_in(node.left) | fields_in(node.right)
    if isinstance(node, Not):
        return fields_in(node.operand)
    if isinstance(node, Call):
        return set().union(*(fields_in(a) for a in node.args))
    return set()


def key_values(node: Any, name: str) -> set[str] | None:
    """The GUIDs of ``name eq <guid>`` terms when ``node`` is nothing but such terms joined by
    ``or`` (the rows to look up by key instead of scanning a table); None for any other filter."""
    if isinstance(node, Logical) and node.op == "or":
        left = key_values(node.left, name)
        right = key_values(node.right, name) if left is not None else None
        return None if left is None or right is None else left | right
    if isinstance(node, Compare) and node.op == "eq":
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(side, Field) and side.name == name and isinstance(other, Literal):
                return {str(other.value)} if other.kind == "guid" else None
    return None


# -- evaluation -----------------------------------------------------------------------------------


def evaluate(node: Any, row: dict[str, Any], *, ci: bool = False) -> bool:
    """True when ``row`` satisfies the filter; ``ci`` = case-insensitive strings."""
    if isinstance(node, Logical):
        left = evaluate(node.left, row, ci=ci)
        if node.op == "and":
            return left and evaluate(node.right, row, ci=ci)
        return left or evaluate(node.right, row, ci=ci)
    if isinstance(node, Not):
        return not evaluate(node.operand, row, ci=ci)
    if isinstance(node, Compare):
        return _compare(node, row, ci)
    if isinstance(node, Call) and node.name in BOOL_FUNCTIONS:
        return _string_function(node, row, ci)
    value = _value(node, row, ci)
    return value is True


def _value(node: Any, row: dict[str, Any], ci: bool = False) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Field):
        return row.get(node.name)
    if isinstance(node, Call) and node.name in BOOL_FUNCTIONS:
        return _string_function(node, row, ci)
    if isinstance(node, Call) and node.name in VALUE_FUNCTIONS:
        inner = _value(node.args[0], row, ci)
        if not isinstance(inner, str):
            return inner
        return inner.lower() if node.name == "tolower" else inner.upper()
    raise FilterError("Unsupported expression in $filter.")


def _kind_of(node: Any) -> str | None:
    return node.kind if isinstance(node, Literal) else None


def _string_function(node: Call, row: dict[str, Any], ci: bool) -> bool:
    haystack, needle = (_value(a, row, ci) for a in node.args)
    if not isinstance(haystack, str) or not isinstance(needle, str):
        return False
    if ci:
        haystack, needle = haystack.lower(), needle.lower()
    if node.name == "contains":
        return needle in haystack
    if node.name == "startswith":
        return haystack.startswith(needle)
    return haystack.endswith(needle)


def _compare(node: Compare, row: dict[str, Any], ci: bool) -> bool:
    kind = _kind_of(node.right) or _kind_of(node.left)
    left, right = _value(node.left, row, ci), _value(node.right, row, ci)
    if left is None or right is None:
        if node.op == "eq":
            return left is None and right is None
        if node.op == "ne":
            return not (left is None and right is None)
        return False
    try:
        a, b = coerce(left, kind, ci), coerce(right, kind, ci)
        return _apply(node.op, a, b)
    except (TypeError, ValueError):
        return node.op == "ne"


def _apply(op: str, a: Any, b: Any) -> bool:
    if op == "eq":
        return a == b
    if op == "ne":
        return a != b
    if op == "gt":
        return a > b
    if op == "ge":
        return a >= b
    if op == "lt":
        return a < b
    return a <= b


def coerce(value: Any, kind: str | None, ci: bool) -> Any:
    """``value`` converted for comparison against a literal of ``kind``; raises on mismatch."""
    if kind == "datetime":
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        text = str(value)
        return parse_datetime(text if "T" in text else text + "T00:00:00Z")
    if kind == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        return date.fromisoformat(str(value)[:10])
    if kind == "guid":
        return str(value).lower()
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("not a number")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError("not a boolean")
        return value
    if isinstance(value, str):
        return value.lower() if ci else value
    if kind == "string":
        raise TypeError("not a string")
    return value
