"""The emulators' HTTP vocabulary: requests, responses, errors, knobs."""

from __future__ import annotations

import json
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
