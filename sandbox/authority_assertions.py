"""Certificate credentials at the local authority: the client assertion, checked as Entra ID does.

A client signs in with ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``
and ``client_assertion``: a JWT signed RS256 or PS256 with the private key of a certificate uploaded
to its app registration, naming that certificate in its header (``x5t``: SHA-1 thumbprint, or
``x5t#S256``: SHA-256, both base64url), with claims ``aud`` = the token endpoint, ``iss`` = ``sub``
= the client id, ``exp``, ``nbf``, ``jti``. Refusals are ``invalid_client`` (401) with AADSTS codes
as Entra answers them.

Entra ID accepts one assertion until its ``exp`` (its documentation says so, and msal reuses an
assertion for up to 9 minutes, e.g. for the BC and the Dataverse scope), so a replayed ``jti`` is
refused only when ``reject_replays`` is switched on.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = 300  # seconds of clock difference tolerated on exp and nbf


class Refusal(Exception):
    """The token endpoint's answer to a bad assertion: status, OAuth error, description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


@dataclass(frozen=True)
class RegisteredCertificate:
    """A certificate uploaded to an app registration (its public part only)."""

    certificate: x509.Certificate
    x5t: str  # base64url SHA-1 thumbprint
    x5t_s256: str  # base64url SHA-256 thumbprint

    @classmethod
    def from_pem(cls, pem: str | bytes) -> RegisteredCertificate:
        cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
        sha1, sha256 = cert.fingerprint(hashes.SHA1()), cert.fingerprint(hashes.SHA256())
        return cls(cert, b64url(sha1), b64url(sha256))

    @property
    def thumbprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA1()).hex().upper()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _malformed() -> Refusal:
    return Refusal(400, "invalid_request", "AADSTS50027: JWT token is invalid or malformed.")


def _invalid_signature(client_id: str, reason: str, thumbprint: str = "") -> Refusal:
    used = f", Thumbprint of key used by client: '{thumbprint}'" if thumbprint else ""
    return Refusal(
        401,
        "invalid_client",
        f"AADSTS700027: Client assertion contains an invalid signature. [Reason - {reason}{used}; "
        f"see the keys configured for app id '{client_id}' under Certificates & secrets.]",
    )


def _parse(assertion: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    try:
        header_b64, payload_b64, signature_b64 = assertion.split(".")
        header, claims = json.loads(b64url_decode(header_b64)), json.loads(b64url_decode(payload_b64))
        signature = b64url_decode(signature_b64)
    except (ValueError, TypeError):
        raise _malformed() from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _malformed()
    return header, claims, f"{header_b64}.{payload_b64}".encode("ascii"), signature


def _find(
    header: dict[str, Any], certificates: Iterable[RegisteredCertificate]
) -> RegisteredCertificate | None:
    """The registered certificate the header names: ``x5t#S256`` when given, else ``x5t`` (msal
    sends them base64url with padding; compared without it)."""
    s256, sha1 = str(header.get("x5t#S256") or "").rstrip("="), str(header.get("x5t") or "").rstrip("=")
    for registered in certificates:
        if (s256 and s256 == registered.x5t_s256) or (not s256 and sha1 and sha1 == registered.x5t):
            return registered
    return None


def _verify_signature(alg: str, key: Any, signed: bytes, signature: bytes) -> bool:
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    if alg == "RS256":
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
    else:  # PS256 (RFC 7518 3.5): MGF1 with SHA-256, salt as long as the hash
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)
    try:
        key.verify(signature, signed, pad, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


class AssertionVerifier:
    """Checks client assertions; keeps the ones it accepted (header and claims) for tests to see."""

    def __init__(self, reject_replays: bool = False) -> None:
        self.reject_replays = reject_replays
        self.accepted: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self._seen: dict[str, float] = {}  # jti -> exp
        self._lock = threading.Lock()

    def verify(
        self,
        form: dict[str, str],
        client_id: str,
        certificates: Iterable[RegisteredCertificate],
        token_endpoint: str,
    ) -> None:
        """Accept the form's assertion or raise the ``Refusal`` Entra would answer."""
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise Refusal(400, "invalid_request", f"client_assertion_type must be '{ASSERTION_TYPE}'")
        header, claims, signed, signature = _parse(form.get("client_assertion", ""))
        self._check_signature(header, signed, signature, client_id, certificates)
        now = time.time()
        _check_claims(claims, client_id, token_endpoint, now)
        self._check_replay(str(claims["jti"]), float(claims["exp"]), now)
        with self._lock:
            self.accepted.append((dict(header), dict(claims)))

    def _check_signature(
        self,
        header: dict[str, Any],
        signed: bytes,
        signature: bytes,
        client_id: str,
        certificates: Iterable[RegisteredCertificate],
    ) -> None:
        alg = header.get("alg")
        if alg not in ("RS256", "PS256"):
            raise _invalid_signature(client_id, f"The algorithm '{alg}' is not supported")
        registered = _find(header, certificates)
        if registered is None:
            used = header.get("x5t#S256") or header.get("x5t") or ""
            raise _invalid_signature(client_id, "The key was not found.", _hex(str(used)))
        if (
            not registered.certificate.not_valid_before_utc.timestamp()
            <= time.time()
            <= (registered.certificate.not_valid_after_utc.timestamp())
        ):
            raise _invalid_signature(client_id, "The key used is expired.", registered.thumbprint)
        if not _verify_signature(str(alg), registered.certificate.public_key(), signed, signature):
            reason = "The provided signature value did not match the expected signature value."
            raise _invalid_signature(client_id, reason, registered.thumbprint)

    def _check_replay(self, jti: str, exp: float, now: float) -> None:
        with self._lock:
            self._seen = {j: e for j, e in self._seen.items() if e + CLOCK_SKEW > now}
            replayed = jti in self._seen
            self._seen[jti] = exp
        if replayed and self.reject_replays:
            raise Refusal(401, "invalid_client", f"Client assertion with jti '{jti}' was already used.")

    def uses_of(self, jti: str) -> int:
        with self._lock:
            return sum(1 for _, claims in self.accepted if claims.get("jti") == jti)


def _hex(thumbprint_b64url: str) -> str:
    try:
        return b64url_decode(thumbprint_b64url).hex().upper()
    except (ValueError, TypeError):
        return "?"


def _check_claims(claims: dict[str, Any], client_id: str, token_endpoint: str, now: float) -> None:
    if not claims.get("jti") or not isinstance(claims.get("exp"), int | float):
        raise _malformed()
    if claims.get("aud") != token_endpoint:
        raise Refusal(
            401,
            "invalid_client",
            "AADSTS700023: Client assertion audience claim does not match Realm issuer.",
        )
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise Refusal(
            401,
            "invalid_client",
            "AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter.",
        )
    exp, nbf = float(claims["exp"]), float(claims.get("nbf", claims.get("iat", now)))
    if now > exp + CLOCK_SKEW or nbf > now + CLOCK_SKEW:
        raise Refusal(
            401,
            "invalid_client",
            f"AADSTS700024: Client assertion is not within its valid time range. Current time: "
            f"{_iso(now)}, assertion valid from {_iso(nbf)}, expiry time of assertion {_iso(exp)}.",
        )


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
