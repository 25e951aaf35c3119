"""Certificate sign-in: settings -> wiring -> msal -> the local HTTPS authority, and the authority's
checks of client assertions (signature, thumbprint header, aud, iss/sub, exp/nbf, replay)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msal
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from sandbox.authority import Authority
from sandbox.authority_assertions import ASSERTION_TYPE, b64url
from sandbox.client_certs import ClientCert, make_client_certificate
from sync_core.app.wiring import build_services
from sync_core.credentials import load_certificate
from sync_core.errors import AuthError
from sync_core.odata.auth import LazyConfidentialApp, MsalTokenProvider
from sync_core.settings import settings_from
from tests.integration.test_authority_msal import BC_SCOPE, CLIENT, DV_SCOPE, TENANT, session_for
from tests.integration.test_authority_msal import lazy_app as lazy_secret_app

PASSWORD = "Cert-pass-Word-19"
STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "TableEndpoint=http://127.0.0.1:1/devstoreaccount1;QueueEndpoint=http://127.0.0.1:1/devstoreaccount1"
)


@pytest.fixture(scope="module")
def cert() -> ClientCert:
    return make_client_certificate()


@pytest.fixture(scope="module")
def authority(cert: ClientCert) -> Iterator[Authority]:
    with Authority() as server:
        server.register_client_certificate(TENANT, CLIENT, cert.certificate_pem)
        yield server


def environment(authority: Authority, **credential: str) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": STORAGE,
        "SYNC_TENANT_ID": TENANT,
        "SYNC_CLIENT_ID": CLIENT,
        "SYNC_AUTHORITY_HOST": authority.url,
        "BC_API_URL": "https://127.0.0.1:1/v2.0/t/production/api/v2.0",
        "BC_COMPANY_ID": str(uuid.uuid4()),
        "DATAVERSE_URL": "https://org.crm.dynamics.com",
        "WEBHOOK_SECRET": "hook-secret-value",
        **credential,
    }


def credential_settings(cert: ClientCert, form: str, tmp_path: Path) -> dict[str, str]:
    if form == "pem-file":
        return {"SYNC_CLIENT_CERTIFICATE_PATH": str(cert.write(tmp_path / "client.pem", cert.pem()))}
    if form == "pfx-file-with-password":
        path = cert.write(tmp_path / "client.pfx", cert.pfx(PASSWORD))
        return {"SYNC_CLIENT_CERTIFICATE_PATH": str(path), "SYNC_CLIENT_CERTIFICATE_PASSWORD": PASSWORD}
    return {"SYNC_CLIENT_CERTIFICATE": cert.key_vault_value()}  # "key-vault-content"


@pytest.mark.parametrize("form", ["pem-file", "pfx-file-with-password", "key-vault-content"])
def test_tokens_for_bc_and_dataverse_with_a_certificate(
    authority: Authority,
    cert: ClientCert,
    form: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real path: settings from the environment, services from wiring, msal, the authority."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.ca_bundle))
    settings = settings_from(environment(authority, **credential_settings(cert, form, tmp_path)))
    svc = build_services(settings)
    authority.reset_counters()
    before = len(authority.assertions.accepted)
    bc_token, dv_token = svc.bc_tokens.token(), svc.dataverse_tokens.token()
    assert svc.bc_tokens.token() == bc_token  # from msal's cache
    assert authority.token_requests == 2
    assert authority.verify(bc_token)["aud"] == BC_SCOPE.removesuffix("/.default")  # type: ignore[index]
    claims = authority.verify(dv_token)
    assert claims is not None and claims["aud"] == DV_SCOPE.removesuffix("/.default")
    assert claims["appid"] == CLIENT and claims["tid"] == TENANT
    headers = [h for h, _ in authority.assertions.accepted[before:]]
    assert {h["alg"] for h in headers} == {"PS256"}  # msal 1.39: SHA-256 thumbprint, PSS
    assert {h["x5t#S256"].rstrip("=") for h in headers} == {
        b64url(cert.certificate.fingerprint(hashes.SHA256()))
    }


def test_msal_reuses_one_assertion_for_both_scopes_and_entra_accepts_that(
    authority: Authority, cert: ClientCert
) -> None:
    provider_app = lazy_app(authority, cert)
    before = len(authority.assertions.accepted)
    MsalTokenProvider(provider_app, BC_SCOPE).token()
    MsalTokenProvider(provider_app, DV_SCOPE).token()
    jtis = {claims["jti"] for _, claims in authority.assertions.accepted[before:]}
    assert len(jtis) == 1 and authority.assertions.uses_of(jtis.pop()) == 2


def lazy_app(authority: Authority, cert: ClientCert) -> LazyConfidentialApp:
    return LazyConfidentialApp(
        tenant_id=TENANT,
        client_id=CLIENT,
        certificate=load_certificate(cert.pem()),
        authority_host=authority.url,
        http_client=session_for(authority),
    )


def test_a_certificate_the_app_registration_lacks_is_a_clear_auth_error(
    authority: Authority, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = make_client_certificate("not uploaded")
    provider = MsalTokenProvider(lazy_app(authority, stranger), BC_SCOPE)
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as caught:
        provider.token()
    error = caught.value
    assert error.code == "invalid_client" and "AADSTS700027" in str(error)
    assert "The key was not found" in str(error) and stranger.sha256_thumbprint in str(error)
    assert stranger.sha1_thumbprint in str(error.remedy) and "Certificates & secrets" in str(error.remedy)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in (str(error), repr(error), str(error.remedy), logged):
        assert_no_key_material(text, stranger)


def test_no_key_material_in_any_log_record_of_a_sign_in(
    authority: Authority, cert: ClientCert, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = cert.write(tmp_path / "enc.pem", cert.pem(PASSWORD))
    env = environment(
        authority, SYNC_CLIENT_CERTIFICATE_PATH=str(path), SYNC_CLIENT_CERTIFICATE_PASSWORD=PASSWORD
    )
    with caplog.at_level(logging.DEBUG):
        settings = settings_from(env)
        app = LazyConfidentialApp(
            tenant_id=TENANT,
            client_id=CLIENT,
            certificate=settings.client_certificate,
            authority_host=authority.url,
            http_client=session_for(authority),
        )
        MsalTokenProvider(app, "https://logs.example/.default").token()
    assert caplog.records, "msal and urllib3 log at DEBUG: the check must see records"
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert_no_key_material(logged, cert)
    assert_no_key_material(repr(settings) + str(settings) + repr(app), cert)


def test_both_certificates_work_while_a_rotation_overlaps(authority: Authority, cert: ClientCert) -> None:
    new = make_client_certificate("the next one")
    authority.register_client_certificate(TENANT, CLIENT, new.certificate_pem)
    for each in (cert, new):
        assert MsalTokenProvider(lazy_app(authority, each), BC_SCOPE).token()


def test_the_legacy_sha1_form_is_accepted(authority: Authority, cert: ClientCert) -> None:
    """msal with ``thumbprint`` (SHA-1) signs RS256 with ``x5t``: Entra still accepts it."""
    app = msal.ConfidentialClientApplication(
        CLIENT,
        client_credential={"private_key": cert.key_pem().decode(), "thumbprint": cert.sha1_thumbprint},
        authority=f"{authority.url}/{TENANT}",
        http_client=session_for(authority),
        instance_discovery=False,
    )
    result = app.acquire_token_for_client([BC_SCOPE])
    assert "access_token" in result, result
    header, _ = authority.assertions.accepted[-1]
    assert header["alg"] == "RS256" and "x5t" in header and "x5t#S256" not in header


def assert_no_key_material(text: str, cert: ClientCert) -> None:
    lines = [line for line in cert.key_pem().decode().splitlines() if not line.startswith("-----")]
    assert "PRIVATE KEY" not in text and PASSWORD not in text
    assert not [line for line in lines if line in text]


# -- the authority's checks, with hand-made assertions ---------------------------------------------


def sign(
    cert: ClientCert, claims: dict[str, Any], *, alg: str = "PS256", header: dict[str, Any] | None = None
) -> str:
    head = header if header is not None else {"alg": alg, "typ": "JWT", "x5t#S256": thumb(cert)}
    signed = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}".encode()
    pad: padding.AsymmetricPadding = (
        padding.PKCS1v15()
        if alg == "RS256"
        else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    )
    return f"{signed.decode()}.{b64url(cert.key.sign(signed, pad, hashes.SHA256()))}"


def thumb(cert: ClientCert) -> str:
    return b64url(cert.certificate.fingerprint(hashes.SHA256()))


def claims_for(authority: Authority, **change: Any) -> dict[str, Any]:
    now = time.time()
    claims = {
        "aud": f"{authority.url}/{TENANT}/oauth2/v2.0/token",
        "iss": CLIENT,
        "sub": CLIENT,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
    }
    return {**claims, **change}


def post(authority: Authority, assertion: str, **form: str) -> requests.Response:
    body = {
        "grant_type": "client_credentials",
        "client_id": CLIENT,
        "scope": BC_SCOPE,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **form,
    }
    return session_for(authority).post(f"{authority.url}/{TENANT}/oauth2/v2.0/token", data=body, timeout=10)


def refusal(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"], body["error_description"]


def test_a_good_hand_made_assertion_gets_a_token(authority: Authority, cert: ClientCert) -> None:
    for alg, header in (("PS256", None), ("RS256", {"alg": "RS256", "x5t": b64url(cert_sha1(cert))})):
        response = post(authority, sign(cert, claims_for(authority), alg=alg, header=header))
        assert response.status_code == 200, response.text
        assert authority.verify(response.json()["access_token"]) is not None


def cert_sha1(cert: ClientCert) -> bytes:
    return cert.certificate.fingerprint(hashes.SHA1())


def test_signature_and_thumbprint_checks(authority: Authority, cert: ClientCert) -> None:
    impostor = make_client_certificate("impostor")
    forged = sign(impostor, claims_for(authority), header={"alg": "PS256", "x5t#S256": thumb(cert)})
    status, error, text = refusal(post(authority, forged))
    assert (status, error) == (401, "invalid_client") and "AADSTS700027" in text
    assert "did not match the expected signature" in text
    status, _, text = refusal(post(authority, sign(impostor, claims_for(authority))))
    assert status == 401 and "The key was not found" in text
    unsigned = sign(cert, claims_for(authority), header={"alg": "none", "x5t#S256": thumb(cert)})
    assert refusal(post(authority, unsigned))[:2] == (401, "invalid_client")
    no_thumbprint = sign(cert, claims_for(authority), header={"alg": "PS256"})
    assert "The key was not found" in refusal(post(authority, no_thumbprint))[2]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"aud": "https://login.microsoftonline.com/other/oauth2/v2.0/token"}, "AADSTS700023"),
        ({"iss": "someone-else"}, "AADSTS700021"),
        ({"sub": "someone-else"}, "AADSTS700021"),
        ({"exp": time.time() - 3600}, "AADSTS700024"),
        ({"nbf": time.time() + 3600}, "AADSTS700024"),
    ],
    ids=["aud", "iss", "sub", "expired", "not-yet-valid"],
)
def test_claim_checks(authority: Authority, cert: ClientCert, change: dict[str, Any], code: str) -> None:
    status, error, text = refusal(post(authority, sign(cert, claims_for(authority, **change))))
    assert (status, error) == (401, "invalid_client") and text.startswith(code)


def test_malformed_and_mistyped_assertions(authority: Authority, cert: ClientCert) -> None:
    status, error, text = refusal(post(authority, "not.a-jwt"))
    assert (status, error) == (400, "invalid_request") and "AADSTS50027" in text
    no_jti = {k: v for k, v in claims_for(authority).items() if k != "jti"}
    assert refusal(post(authority, sign(cert, no_jti)))[0] == 400
    good = sign(cert, claims_for(authority))
    assert refusal(post(authority, good, client_assertion_type="urn:other"))[:2] == (400, "invalid_request")
    assert refusal(post(authority, good, client_secret="also-a-secret"))[:2] == (400, "invalid_request")
    status, error, text = refusal(post(authority, "", client_assertion_type=""))
    assert (status, error) == (401, "invalid_client") and "AADSTS7000218" in text


def test_an_expired_uploaded_certificate_is_refused(authority: Authority) -> None:
    old = make_client_certificate(valid_from=dt.datetime.now(dt.UTC) - dt.timedelta(days=30), days=10)
    authority.register_client_certificate(TENANT, CLIENT, old.certificate_pem)
    status, _, text = refusal(post(authority, sign(old, claims_for(authority))))
    assert status == 401 and "AADSTS700027" in text and "The key used is expired" in text


def test_a_replayed_jti_is_refused_when_replay_protection_is_on(cert: ClientCert) -> None:
    with Authority(reject_replayed_assertions=True) as strict:
        strict.register_client_certificate(TENANT, CLIENT, cert.certificate_pem)
        assertion = sign(cert, claims_for(strict))
        assert post(strict, assertion).status_code == 200
        status, error, text = refusal(post(strict, assertion))
        assert (status, error) == (401, "invalid_client") and "already used" in text
        assert post(strict, sign(cert, claims_for(strict))).status_code == 200  # a fresh jti


def test_the_secret_flow_still_works_next_to_certificates(authority: Authority, cert: ClientCert) -> None:
    authority.register_client(TENANT, CLIENT, "a-Secret-too-123")
    app = LazyConfidentialApp(
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret="a-Secret-too-123",
        authority_host=authority.url,
        http_client=session_for(authority),
    )
    assert MsalTokenProvider(app, BC_SCOPE).token()
    with pytest.raises(AuthError, match="AADSTS7000215") as caught:
        MsalTokenProvider(lazy_secret_app(authority, "wrong-Secret-000"), BC_SCOPE).token()
    assert "SYNC_CLIENT_SECRET" in str(caught.value.remedy)
