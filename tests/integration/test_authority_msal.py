"""msal (through sync_core.odata.auth) against the local HTTPS authority."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import requests

from sandbox.authority import Authority
from sync_core.errors import AuthError, ConfigError, TransientError
from sync_core.odata.auth import (
    BearerAuth,
    LazyConfidentialApp,
    MsalTokenProvider,
    build_confidential_app,
)

TENANT = "7e1a2b3c-0000-4000-8000-00000000a001"
CLIENT = "00000000-0000-0000-0000-0000000000c1"
SECRET = "s3cret-Value-42"
BC_SCOPE = "https://api.businesscentral.dynamics.com/.default"
DV_SCOPE = "https://org.crm.dynamics.com/.default"


@pytest.fixture(scope="module")
def authority() -> Iterator[Authority]:
    with Authority() as server:
        server.register_client(TENANT, CLIENT, SECRET)
        yield server


def session_for(authority: Authority) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(authority.ca_bundle)
    return session


def lazy_app(authority: Authority, secret: str = SECRET) -> LazyConfidentialApp:
    return LazyConfidentialApp(
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret=secret,
        authority_host=authority.url + "/",
        http_client=session_for(authority),
    )


def test_one_token_request_per_scope_for_many_calls(authority: Authority) -> None:
    authority.reset_counters()
    app = lazy_app(authority)
    bc, dv = MsalTokenProvider(app, BC_SCOPE), MsalTokenProvider(app, DV_SCOPE)
    tokens = {(bc.token(), dv.token()) for _ in range(20)}
    assert len(tokens) == 1
    assert authority.token_requests_by_scope == {BC_SCOPE: 1, DV_SCOPE: 1}
    assert authority.token_requests == 2
    assert app() is app()  # built once, shared by both scopes
    bc_token, dv_token = tokens.pop()
    assert authority.verify(bc_token)["aud"] == "https://api.businesscentral.dynamics.com"
    claims = authority.verify(dv_token)
    assert claims is not None
    assert claims["aud"] == "https://org.crm.dynamics.com"
    assert claims["appid"] == CLIENT and claims["tid"] == TENANT and claims["oid"]


def test_app_is_built_lazily(authority: Authority) -> None:
    calls = []

    def factory():
        calls.append(1)
        return build_confidential_app(
            tenant_id=TENANT,
            client_id=CLIENT,
            client_secret=SECRET,
            authority_host=authority.url,
            http_client=session_for(authority),
        )

    provider = MsalTokenProvider(factory, BC_SCOPE)
    assert calls == []
    provider.token()
    provider.token()
    assert calls == [1]


def test_wrong_secret_is_auth_error_without_the_secret(authority: Authority) -> None:
    wrong = "not-the-Secret-987"
    provider = MsalTokenProvider(lazy_app(authority, wrong), BC_SCOPE)
    with pytest.raises(AuthError) as caught:
        provider.token()
    text = str(caught.value) + repr(caught.value) + str(caught.value.remedy)
    assert "invalid_client" in text and f"sign-in for {BC_SCOPE} failed" in text
    assert wrong not in text and SECRET not in text
    assert caught.value.code == "invalid_client"


def test_unknown_tenant_is_auth_error(authority: Authority) -> None:
    app = LazyConfidentialApp(
        tenant_id="no-such-tenant",
        client_id=CLIENT,
        client_secret=SECRET,
        authority_host=authority.url,
        http_client=session_for(authority),
    )
    with pytest.raises(AuthError):
        MsalTokenProvider(app, BC_SCOPE).token()


def test_token_endpoint_failure_is_transient(authority: Authority) -> None:
    provider = MsalTokenProvider(lazy_app(authority), "https://other.example/.default")
    authority.fail_next(1, 503)
    with pytest.raises(TransientError):
        provider.token()


def test_untrusted_certificate_is_not_silently_accepted(authority: Authority) -> None:
    session = requests.Session()
    session.trust_env = False  # default trust store: the local CA is not in it
    app = LazyConfidentialApp(
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret=SECRET,
        authority_host=authority.url,
        http_client=session,
    )
    with pytest.raises(ConfigError, match="TLS verification failed"):
        MsalTokenProvider(app, BC_SCOPE).token()


def test_verify_rejects_tampered_and_foreign_tokens(authority: Authority) -> None:
    token = MsalTokenProvider(lazy_app(authority), BC_SCOPE).token()
    assert authority.verify(token) is not None
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["aud"] = "https://evil.example"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert authority.verify(f"{header}.{forged}.{signature}") is None
    assert authority.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
    assert authority.verify("not-a-token") is None
    with Authority() as other:
        assert other.verify(token) is None


def test_bearer_auth_sets_the_header(authority: Authority) -> None:
    provider = MsalTokenProvider(lazy_app(authority), BC_SCOPE)
    prepared = requests.Request("GET", "https://example.invalid/x", auth=BearerAuth(provider)).prepare()
    scheme, token = prepared.headers["Authorization"].split(" ", 1)
    assert scheme == "Bearer" and authority.verify(token) is not None
    assert "eyJ" not in repr(BearerAuth(provider))


def test_ca_bundle_includes_local_ca_and_system_cas(authority: Authority) -> None:
    text = authority.ca_bundle.read_text()
    assert authority.ca_cert.read_text().strip() in text
    assert text.count("BEGIN CERTIFICATE") > 1
