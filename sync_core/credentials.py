"""The app registration's credential: a client secret or a certificate, exactly one.

A certificate comes from a file (``SYNC_CLIENT_CERTIFICATE_PATH``: PEM with the private key and the
certificate, or PFX/PKCS#12) or from the setting's value itself (``SYNC_CLIENT_CERTIFICATE``: what a
Key Vault reference to a Key Vault certificate gives the app, base64 of the PFX or PEM text), with
``SYNC_CLIENT_CERTIFICATE_PASSWORD`` when the key is encrypted. It is checked when the settings are
read: readable, decryptable, an RSA private key that belongs to the certificate, and valid now.
Errors name the settings, never their values; the private key never appears in a repr or a log.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from sync_core.errors import ConfigError

log = logging.getLogger(__name__)

SECRET = "SYNC_CLIENT_SECRET"
CERT_PATH = "SYNC_CLIENT_CERTIFICATE_PATH"
CERT_CONTENT = "SYNC_CLIENT_CERTIFICATE"
CERT_PASSWORD = "SYNC_CLIENT_CERTIFICATE_PASSWORD"
CREDENTIAL_NAMES = (SECRET, CERT_PATH, CERT_CONTENT)
CREDENTIAL_SETTINGS = f"{SECRET} (or {CERT_PATH} or {CERT_CONTENT})"
EXPIRY_WARNING = dt.timedelta(days=30)

_KEY_BLOCK = re.compile(rb"-----BEGIN ((?:RSA |ENCRYPTED |EC )?PRIVATE KEY)-----.+?-----END \1-----", re.S)
_RENEW = (
    "create a new certificate, upload its public part to the app registration (Certificates & "
    "secrets) and give the app the new one ({setting}); docs/operations.md, section 7"
)
_EXPORT = "export the certificate with its private key: a PFX, or a PEM holding the key and the certificate"


@dataclass(frozen=True)
class ClientCertificate:
    """A validated client certificate: the private key (PEM, unencrypted, in memory only) and the
    certificate, with the thumbprints Entra ID shows for it (hex, upper case)."""

    private_key_pem: str = field(repr=False)
    certificate_pem: str = field(repr=False)
    sha1_thumbprint: str
    sha256_thumbprint: str
    subject: str
    not_valid_after: dt.datetime
    setting: str  # the setting it came from: SYNC_CLIENT_CERTIFICATE_PATH or SYNC_CLIENT_CERTIFICATE

    def msal_credential(self) -> dict[str, str]:
        """msal's ``client_credential`` for a certificate. With ``public_certificate`` and no
        ``thumbprint`` msal (1.35+) signs the assertion PS256 with the SHA-256 thumbprint
        (``x5t#S256``), and sends the certificate (``x5c``) as well."""
        return {"private_key": self.private_key_pem, "public_certificate": self.certificate_pem}


@dataclass(frozen=True)
class ClientCredential:
    """Exactly one of a client secret and a client certificate."""

    secret: str = field(default="", repr=False)
    certificate: ClientCertificate | None = None


def _value(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if value.startswith("@Microsoft.KeyVault("):
        raise ConfigError(
            f"setting {name} holds an unresolved Key Vault reference",
            remedy="check the reference's status under the function app's Environment variables; "
            "the app's identity needs the Key Vault Secrets User role on the vault",
        )
    return value


def client_credential(env: Mapping[str, str], *, now: dt.datetime | None = None) -> ClientCredential:
    """The one credential the settings give; a ConfigError when they give none or two."""
    secret = _value(env, SECRET) and env[SECRET]
    path, content = _value(env, CERT_PATH), _value(env, CERT_CONTENT)
    password = _value(env, CERT_PASSWORD) and env[CERT_PASSWORD]
    given = [name for name, v in ((SECRET, secret), (CERT_PATH, path), (CERT_CONTENT, content)) if v]
    if len(given) > 1:
        raise ConfigError(
            f"settings {' and '.join(given)} are {'both' if len(given) == 2 else 'all'} set: "
            "give exactly one credential",
            remedy=f"keep either {SECRET} or one certificate setting ({CERT_PATH} or {CERT_CONTENT})",
        )
    if not given:
        raise ConfigError(f"missing settings: {CREDENTIAL_SETTINGS}")
    if secret:
        if password:
            raise ConfigError(f"setting {CERT_PASSWORD} is set but no certificate is given")
        return ClientCredential(secret=secret)
    data = _read_file(path) if path else _decode_content(content)
    certificate = load_certificate(data, password, setting=given[0], now=now)
    return ClientCredential(certificate=certificate)


def _read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"setting {CERT_PATH}: cannot read {path} ({exc.strerror or type(exc).__name__})",
            remedy="point it at a PEM or PFX file the app can read",
        ) from None


def _decode_content(content: str) -> bytes:
    if "-----BEGIN" in content:
        return content.encode("utf-8")
    try:
        return base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            f"setting {CERT_CONTENT} is neither PEM text nor base64 (of a PFX)",
            remedy="use a Key Vault reference to the Key Vault certificate's secret, or PEM text",
        ) from None


def load_certificate(
    data: bytes, password: str = "", *, setting: str = CERT_PATH, now: dt.datetime | None = None
) -> ClientCertificate:
    """Parse (PEM or PKCS#12), then check the key pair and the validity period."""
    secret = password.encode("utf-8") if password else None
    if b"-----BEGIN" in data:
        key, certificates = _from_pem(data, secret, setting)
    else:
        key, certificates = _from_pfx(data, secret, setting)
    certificate = _matching(key, certificates, setting)
    return _validated(key, certificate, setting, now or dt.datetime.now(dt.UTC))


def _from_pem(
    data: bytes, password: bytes | None, setting: str
) -> tuple[rsa.RSAPrivateKey, list[x509.Certificate]]:
    block = _KEY_BLOCK.search(data)
    if block is None:
        raise ConfigError(f"setting {setting}: the PEM holds no private key", remedy=_EXPORT)
    certificates = _pem_certificates(data)
    encrypted = b"ENCRYPTED" in block.group(1) or b"Proc-Type: 4,ENCRYPTED" in block.group(0)
    try:
        key = serialization.load_pem_private_key(block.group(0), password if encrypted else None)
    except TypeError:  # encrypted, and no password given
        raise _password_error(setting, "the private key is encrypted and no password is given") from None
    except ValueError:
        if encrypted:
            raise _password_error(setting, "the private key could not be decrypted") from None
        raise ConfigError(f"setting {setting}: the private key cannot be read", remedy=_EXPORT) from None
    return _rsa(key, setting), certificates


def _pem_certificates(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return []
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return []


def _from_pfx(
    data: bytes, password: bytes | None, setting: str
) -> tuple[rsa.RSAPrivateKey, list[x509.Certificate]]:
    try:
        key, certificate, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        if password is None and _is_pkcs12(data):
            raise _password_error(setting, "the PFX is protected and no password is given") from None
        if password is not None and _is_pkcs12(data):
            raise _password_error(setting, "the PFX could not be opened with the password") from None
        raise ConfigError(
            f"setting {setting}: neither a PEM nor a PFX (PKCS#12) certificate", remedy=_EXPORT
        ) from None
    if key is None:
        raise ConfigError(f"setting {setting}: the PFX holds no private key", remedy=_EXPORT)
    return _rsa(key, setting), [c for c in (certificate, *extra) if c is not None]


def _is_pkcs12(data: bytes) -> bool:
    """A DER SEQUENCE whose first element is the PFX version 3: PKCS#12, whatever the password."""
    return len(data) > 8 and data[0] == 0x30 and b"\x02\x01\x03" in data[:8]


def _password_error(setting: str, what: str) -> ConfigError:
    return ConfigError(
        f"setting {setting}: {what} (wrong or missing {CERT_PASSWORD})",
        remedy=f"set {CERT_PASSWORD} to the certificate's password",
    )


def _rsa(key: object, setting: str) -> rsa.RSAPrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(
            f"setting {setting}: the private key is not an RSA key",
            remedy="Entra ID certificate credentials are RSA (2048 bits or more): create an RSA certificate",
        )
    return key


def _matching(key: rsa.RSAPrivateKey, certificates: list[x509.Certificate], setting: str) -> x509.Certificate:
    if not certificates:
        raise ConfigError(f"setting {setting}: no certificate next to the private key", remedy=_EXPORT)
    public = key.public_key().public_numbers()
    for certificate in certificates:
        candidate = certificate.public_key()
        if isinstance(candidate, rsa.RSAPublicKey) and candidate.public_numbers() == public:
            return certificate
    raise ConfigError(
        f"setting {setting}: the private key does not belong to the certificate",
        remedy="export the certificate together with its own private key",
    )


def _validated(
    key: rsa.RSAPrivateKey, certificate: x509.Certificate, setting: str, now: dt.datetime
) -> ClientCertificate:
    sha1 = certificate.fingerprint(hashes.SHA1()).hex().upper()  # the thumbprint Entra ID shows
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if now >= end:
        raise ConfigError(
            f"setting {setting}: the client certificate (thumbprint {sha1}) expired on "
            f"{end:%Y-%m-%d %H:%M} UTC",
            remedy=_RENEW.format(setting=setting),
        )
    if now < start:
        raise ConfigError(
            f"setting {setting}: the client certificate (thumbprint {sha1}) is not valid before "
            f"{start:%Y-%m-%d %H:%M} UTC",
            remedy="check the machine's clock, or use a certificate that is valid now",
        )
    if end - now < EXPIRY_WARNING:
        log.warning("client certificate %s expires on %s: renew it", sha1, f"{end:%Y-%m-%d}")
    pem = serialization.Encoding.PEM
    return ClientCertificate(
        private_key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        certificate_pem=certificate.public_bytes(pem).decode("ascii"),
        sha1_thumbprint=sha1,
        sha256_thumbprint=certificate.fingerprint(hashes.SHA256()).hex().upper(),
        subject=certificate.subject.rfc4514_string(),
        not_valid_after=end,
        setting=setting,
    )
