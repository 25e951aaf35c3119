"""A local sign-in authority (an msal-compatible stand-in for Microsoft Entra ID) over HTTPS.

It makes its own CA and a server certificate for 127.0.0.1/localhost, and serves OIDC discovery and
the client-credentials token endpoint. A client signs in with a client secret or with a client
assertion signed by a certificate's key (``authority_assertions``); like an app registration, a
client may hold several secrets and certificates at once (rotation). Tokens are JWT-shaped (HS256
with a key only the authority holds); the emulators call ``verify`` to check them and then check
``aud`` themselves.

    authority = Authority(); authority.start()
    authority.register_client(tenant, client_id, secret)
    authority.register_client_certificate(tenant, client_id, certificate_pem)
    # SYNC_AUTHORITY_HOST = authority.url; REQUESTS_CA_BUNDLE = authority.ca_bundle
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from sandbox.authority_assertions import AssertionVerifier, Refusal, RegisteredCertificate
from sandbox.certs import make_tls_files

log = logging.getLogger(__name__)

TOKEN_LIFETIME = 3600


@dataclass(frozen=True)
class _Client:
    tenant_id: str
    client_id: str
    object_id: str
    secret_hashes: tuple[bytes, ...] = ()
    certificates: tuple[RegisteredCertificate, ...] = ()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authority:
    """The local authority; ``url`` is the value for ``SYNC_AUTHORITY_HOST``."""

    def __init__(self, directory: Path | None = None, *, reject_replayed_assertions: bool = False) -> None:
        self._tmp = None if directory is not None else tempfile.TemporaryDirectory(prefix="authority-")
        self.directory = Path(directory) if directory is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self._key = secrets.token_bytes(32)
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()
        self._by_scope: Counter[str] = Counter()
        self._total = 0
        self._faults: list[int] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.assertions = AssertionVerifier(reject_replays=reject_replayed_assertions)
        self.tls = make_tls_files(self.directory)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Authority:
        if self._server is not None:
            return self
        server = _TLSServer(("127.0.0.1", 0), _Handler, self.tls.server_context())
        server.authority = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.1,), name="authority", daemon=True
        )
        self._thread.start()
        log.info("authority listening on %s", self.url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Authority:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the authority is not started")
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def ca_bundle(self) -> Path:
        """PEM bundle: this authority's CA plus the system CAs (for REQUESTS_CA_BUNDLE)."""
        return self.tls.bundle

    @property
    def ca_cert(self) -> Path:
        return self.tls.ca_cert

    # -- clients, counters, faults ----------------------------------------------------------

    def register_client(
        self, tenant_id: str, client_id: str, client_secret: str, object_id: str | None = None
    ) -> str:
        """Register an app, or add a client secret to it; returns its object id (the token's ``oid``)."""
        digest = hashlib.sha256(client_secret.encode("utf-8")).digest()
        with self._lock:
            client = self._client(tenant_id, client_id, object_id)
            self._clients[client_id] = replace(client, secret_hashes=(*client.secret_hashes, digest))
        return client.object_id

    def register_client_certificate(
        self, tenant_id: str, client_id: str, certificate_pem: str | bytes, object_id: str | None = None
    ) -> str:
        """Upload a certificate (its public part, PEM) to an app, registering the app if needed."""
        registered = RegisteredCertificate.from_pem(certificate_pem)
        with self._lock:
            client = self._client(tenant_id, client_id, object_id)
            self._clients[client_id] = replace(client, certificates=(*client.certificates, registered))
        return client.object_id

    def _client(self, tenant_id: str, client_id: str, object_id: str | None) -> _Client:
        known = self._clients.get(client_id)
        if known is not None and known.tenant_id == tenant_id:
            return known
        oid = object_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}/{client_id}"))
        return _Client(tenant_id, client_id, oid)

    @property
    def token_requests(self) -> int:
        """Token-endpoint requests received (all scopes, successful or not)."""
        with self._lock:
            return self._total

    @property
    def token_requests_by_scope(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_scope)

    def reset_counters(self) -> None:
        with self._lock:
            self._total = 0
            self._by_scope.clear()

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """Make the next ``n`` token requests fail with ``status``."""
        with self._lock:
            self._faults.extend([status] * n)

    # -- tokens -----------------------------------------------------------------------------

    def issuer(self, tenant_id: str) -> str:
        return f"{self.url}/{tenant_id}/v2.0"

    def _sign(self, claims: dict[str, Any]) -> str:
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(signature)}"

    def issue_token(self, client: _Client, audience: str) -> str:
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": self.issuer(client.tenant_id),
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "appid": client.client_id,
            "azp": client.client_id,
            "oid": client.object_id,
            "sub": client.object_id,
            "tid": client.tenant_id,
            "ver": "2.0",
        }
        return self._sign(claims)

    def verify(self, token: str) -> dict[str, Any] | None:
        """The token's claims when this authority signed it and it has not expired, else None."""
        try:
            header_b64, payload_b64, signature_b64 = token.split(".")
            header = json.loads(_b64url_decode(header_b64))
            signature = _b64url_decode(signature_b64)
            claims = json.loads(_b64url_decode(payload_b64))
        except (ValueError, TypeError):
            return None
        expected = hmac.new(self._key, f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
        if header.get("alg") != "HS256" or not hmac.compare_digest(signature, expected):
            return None
        if not isinstance(claims, dict) or float(claims.get("exp", 0)) <= time.time():
            return None
        return claims

    # -- the token endpoint's decision ------------------------------------------------------

    def token_response(
        self, tenant_id: str, form: dict[str, str], basic: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
        scope = form.get("scope", "")
        with self._lock:
            self._total += 1
            self._by_scope[scope] += 1
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            return fault, _oauth_error("temporarily_unavailable", "injected fault")
        if form.get("grant_type") != "client_credentials":
            return 400, _oauth_error("unsupported_grant_type", "only client_credentials")
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not secret and basic is not None:
            client_id, secret = basic
        client = self._clients.get(client_id)
        if client is None or client.tenant_id != tenant_id:
            return 400, _oauth_error("unauthorized_client", f"AADSTS700016: app {client_id} not found")
        refused = self._authenticate(client, form, secret)
        if refused is not None:
            return refused
        resources = [s for s in scope.split() if s]
        if len(resources) != 1 or not resources[0].endswith("/.default"):
            return 400, _oauth_error("invalid_scope", "AADSTS1002012: one '<resource>/.default' scope")
        audience = resources[0].removesuffix("/.default")
        token = self.issue_token(client, audience)
        body = {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "ext_expires_in": TOKEN_LIFETIME}
        return 200, {**body, "access_token": token}

    def _authenticate(
        self, client: _Client, form: dict[str, str], secret: str
    ) -> tuple[int, dict[str, Any]] | None:
        """None when the client proved itself with a secret or an assertion, else the refusal."""
        if form.get("client_assertion") or form.get("client_assertion_type"):
            if secret:
                return 400, _oauth_error(
                    "invalid_request", "give client_secret or client_assertion, not both"
                )
            endpoint = self.discovery(client.tenant_id)["token_endpoint"]
            try:
                self.assertions.verify(form, client.client_id, client.certificates, endpoint)
            except Refusal as refusal:
                return refusal.status, _oauth_error(refusal.error, refusal.description)
            return None
        if not secret:
            description = (
                "AADSTS7000218: The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'."
            )
            return 401, _oauth_error("invalid_client", description)
        digest = hashlib.sha256(secret.encode("utf-8")).digest()
        if not any(hmac.compare_digest(digest, known) for known in client.secret_hashes):
            return 401, _oauth_error("invalid_client", "AADSTS7000215: Invalid client secret provided.")
        return None

    def discovery(self, tenant_id: str) -> dict[str, Any]:
        base = f"{self.url}/{tenant_id}"
        return {
            "issuer": self.issuer(tenant_id),
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "token"],
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "client_secret_basic",
                "private_key_jwt",
            ],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256"],
            "tenant_region_scope": "LOCAL",
        }

    def knows_tenant(self, tenant_id: str) -> bool:
        with self._lock:
            return any(c.tenant_id == tenant_id for c in self._clients.values())


def _oauth_error(code: str, description: str) -> dict[str, Any]:
    return {"error": code, "error_description": description, "error_codes": [], "timestamp": ""}


class _TLSServer(ThreadingHTTPServer):
    """Wraps each accepted connection in TLS inside its own thread (handshakes don't block)."""

    daemon_threads = True
    authority: Authority

    def __init__(self, address: tuple[str, int], handler: type, context: Any) -> None:
        super().__init__(address, handler)
        self._context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        try:
            tls = self._context.wrap_socket(request, server_side=True)
        except OSError as exc:  # the client refused our certificate, or went away
            log.debug("authority TLS handshake failed: %s", exc)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("authority request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _TLSServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("authority: " + format, *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _segments(self) -> list[str]:
        return [s for s in self.path.split("?", 1)[0].split("/") if s]

    def do_GET(self) -> None:
        authority = self.server.authority
        parts = self._segments()
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            if not authority.knows_tenant(parts[0]):
                return self._send(400, _oauth_error("invalid_tenant", "AADSTS90002: unknown tenant"))
            return self._send(200, authority.discovery(parts[0]))
        if len(parts) == 4 and parts[1:] == ["discovery", "v2.0", "keys"]:
            return self._send(200, {"keys": []})
        self._send(404, _oauth_error("not_found", "no such endpoint"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        parts = self._segments()
        if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
            return self._send(404, _oauth_error("not_found", "no such endpoint"))
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        status, body = self.server.authority.token_response(parts[0], form, self._basic())
        self._send(status, body)

    def _basic(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization") or ""
        if not header.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
        except ValueError:
            return None
        user, _, password = decoded.partition(":")
        return unquote_plus(user), unquote_plus(password)
