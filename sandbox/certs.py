"""A throw-away CA and a server certificate for 127.0.0.1/localhost (sandbox HTTPS servers).

``make_tls_files(directory)`` writes ``ca.pem``, ``server.pem``, ``server-key.pem`` and
``ca-bundle.pem`` (the CA plus the system CAs, so ``REQUESTS_CA_BUNDLE`` can point at it without
breaking trust in anything else).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt",)


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    bundle: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bcsync sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _make_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("bcsync sandbox CA")
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_server(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    cert = (
        _builder(_name("127.0.0.1"), ca_cert.subject, key.public_key())
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def system_ca_pem() -> str:
    """The CAs trusted so far, as PEM: ``REQUESTS_CA_BUNDLE`` (when set) and the distribution
    bundle, or certifi's bundle when neither exists."""
    candidates = [os.environ.get("REQUESTS_CA_BUNDLE", ""), *SYSTEM_BUNDLES[:1]]
    found = [p for p in dict.fromkeys(candidates) if p and Path(p).is_file()]
    if not found:
        try:
            import certifi

            found = [certifi.where()]
        except ImportError:
            return ""
    return "\n".join(Path(p).read_text(errors="replace") for p in found)


def make_tls_files(directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _make_ca()
    key, cert = _make_server(ca_key, ca_cert)
    pem = serialization.Encoding.PEM
    files = TlsFiles(
        directory / "ca.pem", directory / "server.pem", directory / "server-key.pem",
        directory / "ca-bundle.pem",
    )  # fmt: skip
    ca_pem = ca_cert.public_bytes(pem).decode("ascii")
    files.ca_cert.write_text(ca_pem)
    files.server_cert.write_text(cert.public_bytes(pem).decode("ascii") + ca_pem)
    files.server_key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(files.server_key, 0o600)
    files.bundle.write_text(ca_pem + "\n" + system_ca_pem())
    return files
