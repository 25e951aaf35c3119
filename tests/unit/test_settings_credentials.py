"""The app's credential in the settings: a client secret or a certificate, exactly one, checked when
the settings are read (file, password, private key, key pair, validity). Errors name the settings,
never their values; the private key is in no repr, str or log line."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sandbox.client_certs import ClientCert, make_client_certificate
from sync_core.credentials import ClientCertificate
from sync_core.errors import ConfigError
from sync_core.settings import Settings, settings_from
from tests.unit.test_messages_settings import GOOD_ENV

PASSWORD = "Pfx-pass-Word-77"
SECRET = GOOD_ENV["SYNC_CLIENT_SECRET"]
BASE = {k: v for k, v in GOOD_ENV.items() if k != "SYNC_CLIENT_SECRET"}
CERTIFICATE_SETTINGS = (
    "SYNC_CLIENT_CERTIFICATE_PATH",
    "SYNC_CLIENT_CERTIFICATE",
    "SYNC_CLIENT_CERTIFICATE_PASSWORD",
)


@pytest.fixture(scope="module")
def cert() -> ClientCert:
    return make_client_certificate()


def key_lines(cert: ClientCert) -> list[str]:
    """The base64 lines of the private key (unencrypted PKCS#8), what must never leak."""
    return [line for line in cert.key_pem().decode().splitlines() if not line.startswith("-----")]


def assert_no_key_material(text: str, cert: ClientCert) -> None:
    assert "PRIVATE KEY" not in text and PASSWORD not in text
    assert not [line for line in key_lines(cert) if line in text]


def with_cert(tmp_path: Path, content: bytes, **extra: str) -> Settings:
    path = tmp_path / "client.bin"
    path.write_bytes(content)
    return settings_from({**BASE, "SYNC_CLIENT_CERTIFICATE_PATH": str(path), **extra})


def refused(env: dict[str, str], match: str) -> ConfigError:
    with pytest.raises(ConfigError, match=match) as info:
        settings_from(env)
    return info.value


def test_a_secret_alone_is_the_credential() -> None:
    settings = settings_from(GOOD_ENV)
    assert settings.client_secret == SECRET and settings.client_certificate is None


@pytest.mark.parametrize(
    ("form", "password"),
    [("pem", ""), ("pem", PASSWORD), ("pfx", ""), ("pfx", PASSWORD)],
    ids=["pem", "encrypted-pem", "pfx", "pfx-with-password"],
)
def test_certificate_files(tmp_path: Path, cert: ClientCert, form: str, password: str) -> None:
    content = cert.pem(password or None) if form == "pem" else cert.pfx(password or None)
    extra = {"SYNC_CLIENT_CERTIFICATE_PASSWORD": password} if password else {}
    settings = with_cert(tmp_path, content, **extra)
    loaded = settings.client_certificate
    assert loaded is not None and settings.client_secret == ""
    assert loaded.sha1_thumbprint == cert.sha1_thumbprint
    assert loaded.sha256_thumbprint == cert.sha256_thumbprint
    assert loaded.setting == "SYNC_CLIENT_CERTIFICATE_PATH"
    assert loaded.msal_credential()["public_certificate"] == cert.certificate_pem
    for text in (repr(settings), str(settings), repr(loaded), str(loaded)):
        assert_no_key_material(text, cert)


@pytest.mark.parametrize("form", ["key-vault-pfx", "pem-text"])
def test_certificate_content_setting(cert: ClientCert, form: str) -> None:
    """What a Key Vault reference to a Key Vault certificate gives: base64 of the PFX, or PEM."""
    value = cert.key_vault_value() if form == "key-vault-pfx" else cert.pem().decode()
    settings = settings_from({**BASE, "SYNC_CLIENT_CERTIFICATE": value})
    loaded = settings.client_certificate
    assert loaded is not None and loaded.sha1_thumbprint == cert.sha1_thumbprint
    assert loaded.setting == "SYNC_CLIENT_CERTIFICATE"
    assert_no_key_material(repr(settings), cert)


def test_both_credentials_are_refused_naming_the_settings_only(tmp_path: Path, cert: ClientCert) -> None:
    path = cert.write(tmp_path / "c.pem", cert.pem())
    error = refused(
        {**GOOD_ENV, "SYNC_CLIENT_CERTIFICATE_PATH": str(path)},
        "SYNC_CLIENT_SECRET and SYNC_CLIENT_CERTIFICATE_PATH are both set",
    )
    assert SECRET not in str(error) and str(path) not in str(error) and error.remedy
    refused(
        {
            **BASE,
            "SYNC_CLIENT_CERTIFICATE_PATH": str(path),
            "SYNC_CLIENT_CERTIFICATE": cert.key_vault_value(),
        },
        "SYNC_CLIENT_CERTIFICATE_PATH and SYNC_CLIENT_CERTIFICATE are both set",
    )


def test_no_credential_is_a_missing_setting() -> None:
    error = refused(BASE, "missing settings: SYNC_CLIENT_SECRET")
    assert "SYNC_CLIENT_CERTIFICATE_PATH" in str(error) and "SYNC_CLIENT_CERTIFICATE" in str(error)
    refused({**BASE, "SYNC_CLIENT_SECRET": "   "}, "missing settings: SYNC_CLIENT_SECRET")


def test_a_password_without_a_certificate_is_refused() -> None:
    error = refused({**GOOD_ENV, "SYNC_CLIENT_CERTIFICATE_PASSWORD": PASSWORD}, "no certificate is given")
    assert PASSWORD not in str(error) and SECRET not in str(error)


def test_an_unreadable_file_names_the_path_and_the_remedy(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pfx"
    error = refused({**BASE, "SYNC_CLIENT_CERTIFICATE_PATH": str(missing)}, "cannot read")
    assert str(missing) in str(error) and "SYNC_CLIENT_CERTIFICATE_PATH" in str(error) and error.remedy


@pytest.mark.parametrize("form", ["pem", "pfx"])
def test_wrong_or_missing_password(tmp_path: Path, cert: ClientCert, form: str) -> None:
    content = cert.pem(PASSWORD) if form == "pem" else cert.pfx(PASSWORD)
    for given in ({"SYNC_CLIENT_CERTIFICATE_PASSWORD": "not-the-password"}, {}):
        with pytest.raises(ConfigError, match="SYNC_CLIENT_CERTIFICATE_PASSWORD") as info:
            with_cert(tmp_path, content, **given)
        assert "not-the-password" not in str(info.value) and info.value.remedy
        assert_no_key_material(str(info.value) + repr(info.value), cert)


def test_no_private_key_is_refused(tmp_path: Path, cert: ClientCert) -> None:
    with pytest.raises(ConfigError, match="holds no private key") as info:
        with_cert(tmp_path, cert.certificate_pem.encode())
    assert "private key" in str(info.value.remedy)
    with pytest.raises(ConfigError, match="no certificate next to the private key"):
        with_cert(tmp_path, cert.key_pem())


def test_a_key_of_another_certificate_is_refused(tmp_path: Path, cert: ClientCert) -> None:
    other = make_client_certificate("someone else")
    with pytest.raises(ConfigError, match="does not belong to the certificate"):
        with_cert(tmp_path, other.key_pem() + cert.certificate_pem.encode())


def test_a_chain_picks_the_certificate_of_the_key(tmp_path: Path, cert: ClientCert) -> None:
    issuer = make_client_certificate("an issuer")
    settings = with_cert(tmp_path, issuer.certificate_pem.encode() + cert.pem())
    assert settings.client_certificate is not None
    assert settings.client_certificate.sha1_thumbprint == cert.sha1_thumbprint


def test_an_expired_certificate_is_refused_with_its_thumbprint_and_a_remedy(tmp_path: Path) -> None:
    old = make_client_certificate(valid_from=dt.datetime.now(dt.UTC) - dt.timedelta(days=400), days=365)
    with pytest.raises(ConfigError, match="expired on") as info:
        with_cert(tmp_path, old.pfx())
    assert old.sha1_thumbprint in str(info.value)
    assert "upload its public part to the app registration" in str(info.value.remedy)
    future = make_client_certificate(valid_from=dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    with pytest.raises(ConfigError, match="is not valid before"):
        with_cert(tmp_path, future.pem())


def test_a_certificate_close_to_expiry_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, cert: ClientCert
) -> None:
    soon = make_client_certificate(days=10)
    with caplog.at_level(logging.DEBUG):
        with_cert(tmp_path, soon.pem(PASSWORD), SYNC_CLIENT_CERTIFICATE_PASSWORD=PASSWORD)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(soon.sha1_thumbprint in w and "renew" in w for w in warnings)
    assert_no_key_material("\n".join(r.getMessage() for r in caplog.records), soon)


def test_not_rsa_and_not_a_certificate_are_refused(tmp_path: Path, cert: ClientCert) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigError, match="not an RSA key"):
        with_cert(tmp_path, ec_key + cert.certificate_pem.encode())
    with pytest.raises(ConfigError, match=r"neither a PEM nor a PFX"):
        with_cert(tmp_path, b"\x00garbage")
    refused({**BASE, "SYNC_CLIENT_CERTIFICATE": "not base64 !"}, "neither PEM text nor base64")
    junk = base64.b64encode(b"junk").decode()
    refused({**BASE, "SYNC_CLIENT_CERTIFICATE": junk}, "neither a PEM nor a PFX")


def test_an_unresolved_key_vault_reference_is_named() -> None:
    reference = "@Microsoft.KeyVault(SecretUri=https://kv-x.vault.azure.net/secrets/sync-client-certificate/)"
    error = refused({**BASE, "SYNC_CLIENT_CERTIFICATE": reference}, "unresolved Key Vault reference")
    assert "SYNC_CLIENT_CERTIFICATE" in str(error) and "Key Vault Secrets User" in str(error.remedy)


def test_the_certificate_dataclass_hides_its_key(cert: ClientCert) -> None:
    fields = ClientCertificate.__dataclass_fields__
    assert not fields["private_key_pem"].repr and not fields["certificate_pem"].repr
    assert not Settings.__dataclass_fields__["client_certificate"].repr


def test_the_sample_and_the_readme_list_the_certificate_settings() -> None:
    """local.settings.sample.json leaves them empty (an empty setting is unset): filling in the
    secret alone gives a valid credential."""
    root = Path(__file__).resolve().parents[2]
    sample = json.loads((root / "local.settings.sample.json").read_text())["Values"]
    readme = (root / "README.md").read_text()
    for name in CERTIFICATE_SETTINGS:
        assert sample[name] == "" and f"`{name}`" in readme
    settings = settings_from({**GOOD_ENV, **{n: sample[n] for n in CERTIFICATE_SETTINGS}})
    assert settings.client_certificate is None and settings.client_secret == SECRET
