"""Threaded HTTP server base for the emulators: request pipeline, knobs, counters, admin routes.

Pipeline of a (non-admin) request: count it -> latency knob -> authentication (when a token
verifier is set) -> per-user sliding-window rate limit in quota units -> injected faults -> the
emulator's ``route``. Admin routes under ``/_admin/`` are neither counted, authenticated nor
throttled.

Quota units (``counters()["operations"]``, and what ``rate_limit=(units, window_s)`` admits per
user): a request costs one unit, a ``$batch`` one per request inside it (``request_units``), as
the services may count them. A request is charged when the rate limit admits it; a request
answered 401 or 429 costs nothing (``counters()["throttled"]`` counts the 429s). Retry-After is
the seconds until enough units leave the window (at least 1), or the ``retry_after`` knob.
``full_start=True``: each client's window starts full (``QuotaWindow``), so a short run measures
the sustained rate instead of riding an initial burst of a whole window.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import threading
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.odata.protocol import (
    ApiError,
    Fault,
    Knobs,
    QuotaWindow,
    Request,
    Response,
    TokenVerifier,
    make_headers,
    request_units,
)

log = logging.getLogger(__name__)

WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
__all__ = [
    "ApiError",
    "EmulatorServer",
    "Fault",
    "Knobs",
    "Request",
    "Response",
    "TokenVerifier",
    "make_headers",
]


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.operations = 0  # quota units admitted: each request, each operation inside a $batch, once
        self.throttled = 0  # requests answered 429 by the rate limit
        self.writes = 0  # write requests and operations admitted (not those answered 401 or 429)
        self.by_method: dict[str, int] = {}
        self.by_entity: dict[str, dict[str, int]] = {}

    def add(self, method: str, entity: str | None, *, request: bool) -> None:
        """A request (``request``) or an operation inside a ``$batch`` (a write counts here)."""
        with self.lock:
            self.total += 1 if request else 0
            self.by_method[method] = self.by_method.get(method, 0) + 1
            if entity:
                per = self.by_entity.setdefault(entity, {})
                per[method] = per.get(method, 0) + 1
            if method in WRITE_METHODS and not request:
                self.writes += 1

    def admitted(self, units: int | None, *, write: bool) -> None:
        """A request passed the rate limit with ``units`` (a write counts here); ``None``: 429."""
        with self.lock:
            if units is None:
                self.throttled += 1
                return
            self.operations += units
            self.writes += write

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            by_method = {m: 0 for m in ("GET", "POST", "PATCH", "DELETE", "BATCH")}
            by_method.update(self.by_method)
            by_entity = {k: dict(v) for k, v in self.by_entity.items()}
            return {
                "total": self.total,
                "operations": self.operations,
                "throttled": self.throttled,
                "by_method": by_method,
                "by_entity": by_entity,
                "writes": self.writes,
            }


class EmulatorServer:
    """Base class: HTTP plumbing and knobs. Subclasses implement routing and the record API."""

    audience = ""
    system = "emulator"

    def __init__(self, token_verifier: TokenVerifier | None, page_size: int, max_page_size: int):
        self.token_verifier = token_verifier
        self.page_size = min(page_size, max_page_size)
        self.max_page_size = max_page_size
        self._counters = _Counters()
        self._knobs = Knobs()
        self._knob_lock = threading.Lock()
        self._windows: dict[str, QuotaWindow] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self._port: int | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, seed: bool = True) -> None:
        if seed:
            self.seed_demo()
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name=f"{self.system}-emulator"
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (still answers after ``stop()``: the last port used)."""
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- knobs and counters -----------------------------------------------------------------

    def set_knobs(
        self,
        latency_ms: float = 0,
        rate_limit: tuple[int, float] | list | None = None,
        retry_after: int | None = None,
        faults: list[Fault | dict] | None = None,
        full_start: bool = False,
    ) -> None:
        parsed = [f if isinstance(f, Fault) else Fault(**f) for f in faults or []]
        limit = (int(rate_limit[0]), float(rate_limit[1])) if rate_limit else None
        with self._knob_lock:
            self._knobs = Knobs(float(latency_ms), limit, retry_after, parsed, bool(full_start))
            self._windows = {}

    def clear_knobs(self) -> None:
        self.set_knobs()

    def knobs(self) -> dict[str, Any]:
        with self._knob_lock:
            return asdict(self._knobs)

    def counters(self) -> dict[str, Any]:
        return self._counters.as_dict()

    def reset_counters(self) -> None:
        with self._counters.lock:
            self._counters.reset()

    def count(self, method: str, entity: str | None, *, request: bool = False) -> None:
        self._counters.add(method, entity, request=request)

    # -- pipeline ---------------------------------------------------------------------------

    def dispatch(self, req: Request) -> Response:
        if req.path.startswith("/_admin/"):
            try:
                return self._admin(req)
            except ApiError as exc:
                return self.error_response(exc)
        entity = self.entity_of(req)
        batch = self.is_batch(req)
        method = "BATCH" if batch else req.method
        self.count(method, entity, request=True)
        try:
            with self._knob_lock:
                latency = self._knobs.latency_ms
            if latency:
                time.sleep(latency / 1000)
            self._authenticate(req)
            self._throttle(req, method, request_units(req, batch))
            self._inject_fault(req, method, entity)
            return self.route(req)
        except ApiError as exc:
            return self.error_response(exc)
        except Exception as exc:  # a bug in the emulator: answer 500, keep serving
            log.exception("%s emulator failed on %s %s", self.system, req.method, req.path)
            return self.error_response(ApiError(500, "InternalServerError", repr(exc)))

    def error_response(self, exc: ApiError) -> Response:
        body = {"error": {"code": exc.code, "message": exc.message}}
        return Response(exc.status, body, dict(exc.headers))

    def _authenticate(self, req: Request) -> None:
        if self.token_verifier is None:
            req.claims = None
            req.user_key = "anonymous"
            return
        auth = req.header("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise self.auth_error("Bearer token is missing.")
        claims = self.token_verifier(token.strip())
        if not claims:
            raise self.auth_error("The access token is invalid or expired.")
        if str(claims.get("aud", "")).rstrip("/") != self.audience.rstrip("/"):
            raise self.auth_error(f"The access token audience is not '{self.audience}'.")
        req.claims = claims
        req.user_key = str(claims.get("oid") or claims.get("appid") or "anonymous")

    def _throttle(self, req: Request, method: str, units: int) -> None:
        """Charge ``units`` to the user's window, or answer 429 (see the module docstring)."""
        with self._knob_lock:
            limit, retry_after = self._knobs.rate_limit, self._knobs.retry_after
            wait, now = None, time.monotonic()
            if limit is not None:
                window = self._windows.get(req.user_key)
                if window is None:
                    full_at = now if self._knobs.full_start else None
                    window = self._windows[req.user_key] = QuotaWindow(*limit, full_at=full_at)
                wait = window.admit(units, now)
        self._counters.admitted(None if wait is not None else units, write=method in WRITE_METHODS)
        if wait is not None:
            raise self.throttle_error(int(retry_after or max(1, math.ceil(wait))))

    def _inject_fault(self, req: Request, method: str, entity: str | None) -> None:
        with self._knob_lock:
            fault = next(
                (f for f in self._knobs.faults if f.count > 0 and _matches(f, req, method, entity)), None
            )
            if fault is None:
                return
            fault.count -= 1
        delay = fault.delay_s or (30.0 if fault.timeout else 0.0)
        if delay:
            time.sleep(delay)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        error = self.fault_error(fault.status)
        error.headers.update(headers)
        raise error

    # -- admin routes -----------------------------------------------------------------------

    def _admin(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p][1:]
        route = (req.method, parts[0] if parts else "", len(parts))
        if route == ("GET", "counters", 1):
            return Response(200, self.counters())
        if route == ("POST", "counters", 2) and parts[1] == "reset":
            self.reset_counters()
            return Response(204)
        if route[:2] == ("POST", "knobs"):
            self.set_knobs(**({} if parts[1:] == ["clear"] else req.json()))
            return Response(200, self.knobs())
        if route == ("GET", "knobs", 1):
            return Response(200, self.knobs())
        if route == ("POST", "seed", 1):
            self.seed_demo()
            return Response(204)
        if len(parts) >= 2 and parts[0] == "records":
            return self._admin_records(req, parts[1:])
        raise ApiError(404, "NotFound", f"No admin route {req.method} {req.path}.")

    def _admin_records(self, req: Request, parts: list[str]) -> Response:
        entity_set = parts[0]
        by_user = req.query.get("by_user")
        if req.method == "GET" and len(parts) == 1:
            return Response(200, {"value": self.rows(entity_set)})
        if req.method == "POST" and len(parts) == 1:
            return Response(201, self.insert(entity_set, req.json()))
        if req.method == "PATCH" and len(parts) == 2:
            return Response(200, self.update(entity_set, parts[1], req.json(), by_user=by_user))
        if req.method == "DELETE" and len(parts) == 2:
            self.delete(entity_set, parts[1])
            return Response(204)
        if req.method == "GET" and len(parts) == 2:
            row = self.get(entity_set, parts[1])
            if row is None:
                raise ApiError(404, "NotFound", f"No {entity_set} row {parts[1]}.")
            return Response(200, row)
        raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported here.")

    # -- hooks for subclasses ---------------------------------------------------------------

    def route(self, req: Request) -> Response:
        raise NotImplementedError

    def entity_of(self, req: Request) -> str | None:
        return None

    def is_batch(self, req: Request) -> bool:
        return req.method == "POST" and req.path.rstrip("/").endswith("/$batch")

    def auth_error(self, message: str) -> ApiError:
        return ApiError(401, "Unauthorized", message)

    def throttle_error(self, retry_after: int) -> ApiError:
        return ApiError(429, "TooManyRequests", "Too many requests.", {"Retry-After": str(retry_after)})

    def fault_error(self, status: int) -> ApiError:
        return ApiError(status, f"Fault{status}", f"Injected fault: HTTP {status}.")

    def seed_demo(self) -> None:
        raise NotImplementedError

    def insert(self, entity_set: str, row: dict[str, Any], *, by_user: str | None = None) -> dict:
        raise NotImplementedError

    def update(
        self, entity_set: str, id: str, changes: dict[str, Any], *, by_user: str | None = None
    ) -> dict:
        raise NotImplementedError

    def delete(self, entity_set: str, id: str) -> None:
        raise NotImplementedError

    def rows(self, entity_set: str) -> list[dict]:
        raise NotImplementedError

    def get(self, entity_set: str, id: str) -> dict | None:
        raise NotImplementedError


def _matches(fault: Fault, req: Request, method: str, entity: str | None) -> bool:
    if fault.method and fault.method.upper() not in (method, req.method):
        return False
    return not (fault.entity and fault.entity != entity)


class _Handler(BaseHTTPRequestHandler):
    emulator: EmulatorServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.emulator._sockets.add(self.connection)

    def finish(self) -> None:
        self.emulator._sockets.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: " + format, self.emulator.system, *args)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        req = Request(self.command, parts.path, query, self.headers, body)
        response = self.emulator.dispatch(req)
        data, content_type = response.encode()
        self.send_response(response.status)
        headers = {"OData-Version": "4.0", **response.headers}
        if content_type and "Content-Type" not in headers:
            headers["Content-Type"] = content_type
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle
