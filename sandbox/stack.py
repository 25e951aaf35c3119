"""The embedded default stack: Azurite + sign-in authority + BC and Dataverse emulators.

``start_stack()`` starts every part on free 127.0.0.1 ports, registers the app, and gives the
app settings (the fixed configuration contract) that point the function app at them. Secrets are
random per run and never written anywhere. ``start_stack(credential="certificate")`` signs the app
in with a certificate instead of the client secret: a self-signed one, made per run, its PEM
(key + certificate, readable by the owner only) in a temporary folder removed by ``stop()``, given
to the app as ``SYNC_CLIENT_CERTIFICATE_PATH``.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sandbox.authority import Authority
from sandbox.azurite import Azurite
from sandbox.bc_emulator import BcEmulator
from sandbox.client_certs import ClientCert, make_client_certificate
from sandbox.dataverse_emulator import DataverseEmulator

TENANT_ID = "7e1a2b3c-0000-4000-8000-00000000a001"
CLIENT_ID = "00000000-0000-0000-0000-0000000000c1"  # the Dataverse emulator's seeded application user
BC_AUDIENCE = "https://api.businesscentral.dynamics.com"


@dataclass
class SandboxStack:
    azurite: Azurite
    authority: Authority
    bc: BcEmulator
    dataverse: DataverseEmulator
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    owns_azurite: bool = True
    client_certificate: ClientCert | None = None  # signs in with this instead of the secret
    certificate_path: Path | None = None  # its PEM (key + certificate)
    _certificate_dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def use_certificate(self, certificate: ClientCert | None = None) -> Path:
        """Sign in with a certificate from now on (uploaded to the app, written as PEM)."""
        certificate = certificate or make_client_certificate()
        if self._certificate_dir is None:
            self._certificate_dir = tempfile.TemporaryDirectory(prefix="bcsync-client-")
        path = Path(self._certificate_dir.name) / f"client-{certificate.sha1_thumbprint[:8]}.pem"
        certificate.write(path, certificate.pem())
        self.authority.register_client_certificate(TENANT_ID, CLIENT_ID, certificate.certificate_pem)
        self.client_certificate, self.certificate_path = certificate, path
        return path

    def credential_settings(self) -> dict[str, str]:
        if self.certificate_path is not None:
            return {"SYNC_CLIENT_CERTIFICATE_PATH": str(self.certificate_path)}
        return {"SYNC_CLIENT_SECRET": self.client_secret}

    def settings(self) -> dict[str, str]:
        """App settings for the function app, plus REQUESTS_CA_BUNDLE trusting the local CA."""
        return {
            "AzureWebJobsStorage": self.azurite.connection_string,
            "SYNC_TENANT_ID": TENANT_ID,
            "SYNC_CLIENT_ID": CLIENT_ID,
            **self.credential_settings(),
            "SYNC_AUTHORITY_HOST": self.authority.url,
            "BC_API_URL": self.bc.api_url,
            "BC_COMPANY_ID": self.bc.company_id,
            "BC_SCOPE": f"{BC_AUDIENCE}/.default",
            "DATAVERSE_URL": self.dataverse.url,
            "WEBHOOK_SECRET": self.webhook_secret,
            "REQUESTS_CA_BUNDLE": str(self.authority.ca_bundle),
        }

    def stop(self) -> None:
        for part in (self.bc, self.dataverse, self.authority):
            part.stop()
        if self.owns_azurite:
            self.azurite.stop()
        if self._certificate_dir is not None:
            self._certificate_dir.cleanup()
            self._certificate_dir = None


def start_stack(
    *, azurite: Azurite | None = None, credential: Literal["secret", "certificate"] = "secret"
) -> SandboxStack:
    """Start everything (reusing a running Azurite when given) and register the app, with a client
    secret (default) or a certificate as its credential."""
    own = azurite is None
    storage = azurite or Azurite()
    if own:
        storage.start()
    authority = Authority()
    authority.start()
    verify = authority.verify
    bc, dv = BcEmulator(token_verifier=verify), DataverseEmulator(token_verifier=verify)
    bc.start()
    dv.start()
    stack = SandboxStack(storage, authority, bc, dv, owns_azurite=own)
    if credential == "certificate":
        stack.use_certificate()
    else:
        authority.register_client(TENANT_ID, CLIENT_ID, stack.client_secret)
    return stack


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore the previous values."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
