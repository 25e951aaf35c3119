"""Discovery of v2-model functions and in-process invocation, as the Python worker does it.

A function is described from ``app.get_functions()`` and its raw bindings. The runner serves
three triggers (timerTrigger, queueTrigger, httpTrigger) and one kind of output binding (queue,
through a ``func.Out`` parameter or ``$return``); a function with anything else is reported as
``kind == "unsupported"`` and never invoked.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

logger = logging.getLogger(__name__)

TRIGGER_KINDS = {"timerTrigger": "timer", "queueTrigger": "queue", "httpTrigger": "http"}
_SUPPORTED_OTHER = {"http", "queue"}


@dataclass(frozen=True)
class FunctionInfo:
    """One discovered function: its kind, trigger binding and the other bindings."""

    name: str
    kind: str  # "timer" | "queue" | "http" | "unsupported"
    trigger: dict[str, Any]
    outputs: tuple[dict[str, Any], ...]
    user_function: Callable[..., Any] = field(repr=False)
    reason: str = ""

    @property
    def trigger_arg(self) -> str:
        return str(self.trigger["name"])


def discover(app: func.FunctionApp) -> dict[str, FunctionInfo]:
    """Every function of ``app`` by name (``get_functions`` validates names and triggers).

    azure-functions 1.26 remembers the names it saw in ``app.functions_bindings``, so a second
    ``get_functions()`` on the same app raises "does not have a unique function name"; the memo
    is cleared first so that the runner (and tests that index the app too) can index it again.
    """
    if hasattr(app, "functions_bindings"):
        app.functions_bindings = None
    found: dict[str, FunctionInfo] = {}
    for fn in app.get_functions():
        info = _describe(fn)
        if info.kind == "unsupported":
            logger.warning("runner: function %s is not served: %s", info.name, info.reason)
        found[info.name] = info
    return found


def _describe(fn: Any) -> FunctionInfo:
    bindings = [json.loads(raw) for raw in fn.get_raw_bindings()]
    trigger = next(b for b in bindings if str(b.get("type", "")).endswith("Trigger"))
    others = tuple(b for b in bindings if b is not trigger)
    kind = TRIGGER_KINDS.get(trigger["type"], "unsupported")
    reason = "" if kind != "unsupported" else f"trigger type {trigger['type']} is not supported"
    for binding in others:
        if binding.get("type") not in _SUPPORTED_OTHER or binding.get("direction") != "OUT":
            kind, reason = "unsupported", f"binding {binding.get('name')} ({binding.get('type')})"
    return FunctionInfo(
        name=fn.get_function_name(),
        kind=kind,
        trigger=trigger,
        outputs=tuple(b for b in others if b.get("type") == "queue"),
        user_function=fn.get_user_function(),
        reason=reason,
    )


class OutValue(func.Out):
    """The value holder passed for a ``func.Out[...]`` output parameter."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class InvocationContext(func.Context):
    """A minimal ``func.Context`` for functions that declare a ``context`` parameter."""

    def __init__(self, function_name: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return ""

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


@dataclass
class Invocation:
    """What a call produced: the return value and the queue outputs to send."""

    result: Any
    queue_outputs: list[tuple[dict[str, Any], Any]]


def invoke(info: FunctionInfo, trigger_value: Any) -> Invocation:
    """Call the user function with its trigger value, Out holders and (if asked) a context."""
    if info.kind == "unsupported":
        raise RuntimeError(f"function {info.name} is not supported by the runner: {info.reason}")
    kwargs: dict[str, Any] = {info.trigger_arg: trigger_value}
    holders = {b["name"]: OutValue() for b in info.outputs if b["name"] != "$return"}
    kwargs.update(holders)
    if "context" in inspect.signature(info.user_function).parameters and "context" not in kwargs:
        kwargs["context"] = InvocationContext(info.name)
    result = info.user_function(**kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    outputs = [(b, holders[b["name"]].get()) for b in info.outputs if b["name"] in holders]
    outputs += [(b, result) for b in info.outputs if b["name"] == "$return"]
    return Invocation(result, [(b, v) for b, v in outputs if v is not None])


async def _await(awaitable: typing.Awaitable[Any]) -> Any:
    return await awaitable


def trigger_annotation(info: FunctionInfo) -> Any:
    """The annotation of the trigger parameter (str/bytes ask for the plain body)."""
    try:
        hints = typing.get_type_hints(info.user_function)
    except Exception:  # unresolved forward references: fall back to the rich object
        return None
    return hints.get(info.trigger_arg)
