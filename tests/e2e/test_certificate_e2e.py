"""The whole stack signed in with a certificate instead of the client secret.

The app gets ``SYNC_CLIENT_CERTIFICATE_PATH`` (a PEM with key and certificate) and no
``SYNC_CLIENT_SECRET``; the authority knows only the certificate's public part. A CURRENCY record
goes timer -> queue -> Dataverse, and operator commands run as their own process, once with the
file and once with the value a Key Vault reference gives (``SYNC_CLIENT_CERTIFICATE``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from sandbox.client_certs import make_client_certificate
from sandbox.stack import SandboxStack, start_stack
from sync_core.app import wiring
from tests.e2e.conftest import serving
from tests.e2e.host import deliver_all, fire_timer
from tests.e2e.operator_support import run_command


@pytest.fixture
def cert_stack() -> Iterator[SandboxStack]:
    with serving(start_stack(credential="certificate")) as running:
        yield running


def test_a_record_syncs_with_certificate_sign_in(cert_stack: SandboxStack) -> None:
    settings = cert_stack.settings()
    assert "SYNC_CLIENT_SECRET" not in settings and "SYNC_CLIENT_SECRET" not in os.environ
    assert wiring.services().settings.client_certificate is not None
    fire_timer("sync_currency")
    delivered = deliver_all(cert_stack.azurite.connection_string)
    assert len(delivered) == len(cert_stack.bc.rows("currencies"))
    synced = {r["isocurrencycode"] for r in cert_stack.dataverse.rows("transactioncurrencies")}
    assert {"EUR", "GBP"} <= synced
    assert cert_stack.authority.token_requests == 2  # BC and Dataverse, one token each
    headers = [h for h, _ in cert_stack.authority.assertions.accepted]
    assert headers and all(h["alg"] == "PS256" and "x5t#S256" in h for h in headers)


def test_operator_commands_sign_in_with_the_certificate(
    cert_stack: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = json.loads(run_command("--json", "run", "CURRENCY").stdout)
    assert ran["jobs"][0]["enqueued"] == len(cert_stack.bc.rows("currencies"))
    assert cert_stack.client_certificate is not None
    monkeypatch.delenv("SYNC_CLIENT_CERTIFICATE_PATH")
    monkeypatch.setenv("SYNC_CLIENT_CERTIFICATE", cert_stack.client_certificate.key_vault_value())
    again = json.loads(run_command("--json", "run", "CURRENCY").stdout)
    assert again["jobs"][0]["job_id"] != ran["jobs"][0]["job_id"]


def test_a_certificate_the_app_registration_lacks_fails_the_command_with_a_remedy(
    cert_stack: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger = make_client_certificate("not uploaded")
    monkeypatch.delenv("SYNC_CLIENT_CERTIFICATE_PATH")
    monkeypatch.setenv("SYNC_CLIENT_CERTIFICATE", stranger.pem().decode())
    failed = run_command("run", "CURRENCY", expect=1)
    assert "AADSTS700027" in failed.stderr and stranger.sha1_thumbprint in failed.stderr
    assert "PRIVATE KEY" not in failed.stderr + failed.stdout
