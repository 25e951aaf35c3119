"""The emulators' HTTP vocabulary: requests, responses, errors, knobs, the quota window."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

TokenVerifier = Callable[[str], dict | None]


class ApiError(Exception):
    """An error answer: HTTP status plus the system's ``{"error": {code, message}}`` body."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass
class Fault:
    status: int
    count: int = 1
    method: str | None = None
    entity: str | None = None
    retry_after: int | None = None
    timeout: bool = False
    delay_s: float = 0


@dataclass
class Knobs:
    latency_ms: float = 0
    rate_limit: tuple[int, float] | None = None
    retry_after: int | None = None
    faults: list[Fault] = field(default_factory=list)
    full_start: bool = False  # a client's window starts full, as after steady use at the limit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    claims: dict[str, Any] | None = None
    user_key: str = "anonymous"
    in_batch: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"The request body is not valid JSON: {exc}") from exc

    def prefer(self) -> dict[str, str]:
        """``Prefer`` preferences (``name -> value``, value '' when bare)."""
        out: dict[str, str] = {}
        for raw in self.headers.get_all("Prefer") or []:
            for item in raw.split(","):
                name, _, value = item.strip().partition("=")
                if name:
                    out[name.strip().lower()] = value.strip().strip('"')
        return out


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str | None]:
        if self.body is None:
            return b"", None
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type")
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        data = json.dumps(self.body, default=str).encode()
        return data, "application/json; odata.metadata=minimal; charset=utf-8"


def make_headers(pairs: dict[str, str]) -> Message:
    message = Message()
    for name, value in pairs.items():
        message[name] = value
    return message


# -- quota units and the per-client sliding window --------------------------------------------------

_HTTP_PART = re.compile(rb"^content-type:[ \t]*application/http\b", re.IGNORECASE | re.MULTILINE)


def request_units(req: Request, batch: bool) -> int:
    """The quota units a request costs: 1, or for a ``$batch`` the requests inside it (at least 1).

    Counted before the route runs, from the raw body: a multipart batch (Dataverse) costs one unit
    per ``Content-Type: application/http`` part header (top-level parts and those inside change
    sets), a JSON batch (BC) the length of its ``requests``. A malformed batch costs 1 (the route
    rejects it). A batch that stops at a failed part still costs all of its parts.
    """
    if not batch:
        return 1
    if (req.header("Content-Type") or "").lower().startswith("multipart/"):
        return max(1, len(_HTTP_PART.findall(req.body)))
    try:
        ops = json.loads(req.body).get("requests")
    except (ValueError, AttributeError):
        return 1
    return max(1, len(ops)) if isinstance(ops, list) else 1


class QuotaWindow:
    """One client's sliding window of quota units: the admitted requests as ``(time, units)``.

    A request is admitted when the window has room for all of its units; one that costs more than
    the whole window is admitted when the window is empty (it could never pass otherwise). Rejected
    requests consume nothing. ``full_at``: the window starts full at that time, its units spread
    evenly over the span before it (a client that used its quota steadily: room opens at
    ``limit / span_s`` units per second from the start, with no initial burst of ``limit``).
    """

    def __init__(self, limit: int, span_s: float, full_at: float | None = None) -> None:
        self.limit, self.span_s = limit, span_s
        self._stamps: deque[tuple[float, int]] = deque()
        if full_at is not None:
            step = span_s / max(limit, 1)
            self._stamps.extend((full_at - span_s + (i + 1) * step, 1) for i in range(limit))
        self.used = len(self._stamps)

    def admit(self, units: int, now: float) -> float | None:
        """``None`` when admitted (its units now count), else seconds until there is room for it."""
        while self._stamps and self._stamps[0][0] <= now - self.span_s:
            self.used -= self._stamps.popleft()[1]
        if self.used + units <= self.limit or not self._stamps:
            self._stamps.append((now, units))
            self.used += units
            return None
        left = self.used
        for stamp, n in self._stamps:
            left -= n
            if left + units <= self.limit or left == 0:
                return stamp + self.span_s - now
        return self.span_s  # not reached: the window is empty after its last stamp leaves
