"""Named pure transforms a field mapping may apply to a value on its way to the destination.

A transform is referenced by name in a mapping file (``transform = "upper"``); an unknown name is
a load error. Parameterised transforms use ``name:arg`` (``truncate:10``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Transform = Callable[[Any], Any]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _trim(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _code(value: Any) -> Any:
    """BC code fields: trimmed and upper-cased."""
    return _upper(_trim(value))


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _none_to_blank(value: Any) -> Any:
    return "" if value is None else value


def _truncate(length: int) -> Transform:
    def apply(value: Any) -> Any:
        return value[:length] if isinstance(value, str) else value

    return apply


SIMPLE: dict[str, Transform] = {
    "upper": _upper,
    "trim": _trim,
    "code": _code,
    "blank-to-null": _blank_to_none,
    "null-to-blank": _none_to_blank,
}


def resolve(spec: str) -> Transform:
    """The transform named by ``spec``; ``ValueError`` for an unknown name or bad argument."""
    if not spec:
        return lambda value: value
    name, _, arg = spec.partition(":")
    if name in SIMPLE and not arg:
        return SIMPLE[name]
    if name == "truncate" and arg.isdigit() and int(arg) > 0:
        return _truncate(int(arg))
    known = ", ".join([*sorted(SIMPLE), "truncate:N"])
    raise ValueError(f"unknown transform {spec!r} (known: {known})")


def values_equal(current: Any, desired: Any) -> bool:
    """Destination comparison: numbers by value, strings exactly, None equals blank string."""
    if isinstance(current, bool) or isinstance(desired, bool):
        return current is desired or current == desired
    if isinstance(current, int | float) and isinstance(desired, int | float):
        return abs(float(current) - float(desired)) < 1e-9
    return bool(_none_to_blank(current) == _none_to_blank(desired))
