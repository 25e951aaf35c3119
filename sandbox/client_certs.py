"""Client certificates for certificate sign-in (the sandbox stack and the tests).

A self-signed RSA certificate with its key, as an app registration's uploaded certificate would be,
in the forms an app is given one: a PEM file (key + certificate, the key optionally encrypted), a
PFX (PKCS#12, optionally with a password), or the value a Key Vault reference to a Key Vault
certificate resolves to (base64 of a PFX without password).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class ClientCert:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    def __repr__(self) -> str:
        return f"ClientCert({self.sha1_thumbprint})"

    @property
    def certificate_pem(self) -> str:
        """The public part: what is uploaded to the app registration."""
        return self.certificate.public_bytes(PEM).decode("ascii")

    @property
    def sha1_thumbprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA1()).hex().upper()

    @property
    def sha256_thumbprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex().upper()

    def key_pem(self, password: str | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password.encode())
            if password
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, encryption)

    def pem(self, password: str | None = None) -> bytes:
        """The private key (encrypted with ``password`` when given) followed by the certificate."""
        return self.key_pem(password) + self.certificate_pem.encode("ascii")

    def pfx(self, password: str | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password.encode())
            if password
            else serialization.NoEncryption()
        )
        return pkcs12.serialize_key_and_certificates(b"bcsync", self.key, self.certificate, None, encryption)

    def key_vault_value(self) -> str:
        """What ``@Microsoft.KeyVault(SecretUri=…)`` gives for a PFX Key Vault certificate."""
        return base64.b64encode(self.pfx()).decode("ascii")

    def write(self, path: Path, content: bytes) -> Path:
        """Write ``content`` (``pem()`` or ``pfx()``) readable by the owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        os.chmod(path, 0o600)
        path.write_bytes(content)
        return path


def make_client_certificate(
    common_name: str = "bcsync sandbox client",
    *,
    days: float = 90,
    valid_from: dt.datetime | None = None,
    key_size: int = 2048,
) -> ClientCert:
    """A self-signed RSA certificate valid from ``valid_from`` (default: 5 minutes ago) for ``days``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    start = valid_from or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return ClientCert(key, certificate)
