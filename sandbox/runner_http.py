"""HTTP triggers served by a ``ThreadingHTTPServer`` on 127.0.0.1 under ``/<routePrefix>/``.

Route templates follow the Functions (ASP.NET) form: ``items/{id}``, ``{id:int}`` / ``:guid`` /
``:alpha`` / ``:bool`` constraints (others accept any segment), an optional last parameter
``{id?}`` and a catch-all ``{*rest}``; matching is case-insensitive. Auth levels FUNCTION and
ADMIN require the runner's key in ``x-functions-key`` or ``?code=``; with no key configured the
runner does not check keys (as Core Tools does locally).
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func

from sandbox.runner_functions import FunctionInfo, Invocation, invoke

logger = logging.getLogger(__name__)

_PARAM = re.compile(r"(/?)\{(\*{1,2})?([A-Za-z_]\w*)(?::([^}?=]+))?(\?)?\}")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}",
}
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")

Reply = tuple[int, list[tuple[str, str]], bytes]


def compile_route(template: str) -> re.Pattern[str]:
    """A route template (without prefix) as a case-insensitive full-match regex."""
    pattern, pos = "", 0
    template = template.strip("/")
    for m in _PARAM.finditer(template):
        pattern += re.escape(template[pos : m.start()])
        slash, catch_all, name, constraint, optional = m.groups()
        body = ".*" if catch_all else _CONSTRAINTS.get((constraint or "").lower(), "[^/]+")
        group = f"(?P<{name}>{body})"
        if optional or catch_all:
            pattern += f"(?:{re.escape(slash)}{group})?"
        else:
            pattern += re.escape(slash) + group
        pos = m.end()
    pattern += re.escape(template[pos:])
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True)
class Route:
    info: FunctionInfo
    regex: re.Pattern[str]
    methods: frozenset[str]  # empty: every method
    auth_level: str


def build_routes(functions: list[FunctionInfo]) -> list[Route]:
    routes = []
    for info in functions:
        trigger = info.trigger
        methods = frozenset(str(m).upper() for m in trigger.get("methods") or [])
        template = str(trigger.get("route") or info.name)
        auth = str(trigger.get("authLevel") or "FUNCTION").upper()
        routes.append(Route(info, compile_route(template), methods, auth))
    return routes


class HttpFrontend:
    """Routes requests to HTTP functions; ``handle`` is the whole request/response mapping."""

    def __init__(
        self,
        functions: list[FunctionInfo],
        *,
        route_prefix: str,
        function_key: str | None,
        on_invoked: Callable[[Invocation], None],
    ) -> None:
        self._routes = build_routes(functions)
        self._prefix = f"/{route_prefix}" if route_prefix else ""
        self._key = function_key
        self._on_invoked = on_invoked
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self, port: int = 0) -> int:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_class(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="runner-http")
        self._thread.daemon = True
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        path = unquote(parts.path)
        if not (path == self._prefix or path.startswith(self._prefix + "/")):
            return _plain(404, "Not Found")
        rest = path[len(self._prefix) :].strip("/")
        matches = [(r, m) for r in self._routes if (m := r.regex.fullmatch(rest))]
        if not matches:
            return _plain(404, "Not Found")
        chosen = next(((r, m) for r, m in matches if not r.methods or method in r.methods), None)
        if chosen is None:
            allow = sorted({m for r, _ in matches for m in r.methods})
            return _plain(405, "Method Not Allowed", [("Allow", ", ".join(allow))])
        route, match = chosen
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if not self._authorized(route, headers, params):
            return _plain(401, "Unauthorized")
        route_params = {k: v for k, v in match.groupdict().items() if v is not None}
        url = f"http://127.0.0.1:{self.port}{target}"
        request = func.HttpRequest(
            method, url, headers=headers, params=params, route_params=route_params, body=body
        )
        return self._call(route.info, request)

    def _authorized(self, route: Route, headers: dict[str, str], params: dict[str, str]) -> bool:
        if route.auth_level == "ANONYMOUS" or self._key is None:
            return True
        given = next((v for k, v in headers.items() if k.lower() == "x-functions-key"), None)
        given = given if given is not None else params.get("code")
        return given is not None and hmac.compare_digest(given.encode(), self._key.encode())

    def _call(self, info: FunctionInfo, request: func.HttpRequest) -> Reply:
        try:
            invocation = invoke(info, request)
            reply = to_reply(invocation.result)
            self._on_invoked(invocation)
        except Exception as exc:
            logger.error("runner: HTTP function %s failed: %s", info.name, type(exc).__name__)
            logger.debug("runner: HTTP function %s failure detail", info.name, exc_info=True)
            return _plain(500, "Internal Server Error")
        return reply


def to_reply(result: Any) -> Reply:
    """A function's return value as status, headers and body (None -> 204, str/bytes -> 200)."""
    if result is None:
        return 204, [], b""
    if isinstance(result, str | bytes):
        result = func.HttpResponse(result)
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"HTTP function returned {type(result).__name__}, not HttpResponse")
    headers = list(result.headers.items())
    if not any(k.lower() == "content-type" for k, _ in headers):
        ctype = result.mimetype
        if ctype.startswith(_TEXT_TYPES):
            ctype += f"; charset={result.charset}"
        headers.append(("Content-Type", ctype))
    return result.status_code, headers, result.get_body()


def _plain(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Reply:
    return status, [*(headers or []), ("Content-Type", "text/plain; charset=utf-8")], text.encode()


def _handler_class(frontend: HttpFrontend) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers: dict[str, str] = {}
            for key, value in self.headers.items():
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            status, out_headers, payload = frontend.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in out_headers:
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("runner http: " + format, *args)

    return Handler
