"""Typed settings read from the environment (the fixed configuration contract of design.md).

Read once per worker (``load_settings`` is cached) and validated then: a bad or missing setting is
a ``ConfigError`` naming the setting, never its value (values may be secrets). The app signs in
with a client secret or a certificate, exactly one (``sync_core.credentials``).
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from sync_core.credentials import (
    CREDENTIAL_NAMES,
    CREDENTIAL_SETTINGS,
    ClientCertificate,
    client_credential,
)
from sync_core.errors import ConfigError

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_BC_SCOPE = "https://api.businesscentral.dynamics.com/.default"
DEFAULT_SCHEDULE = "0 */30 * * * *"  # BC's default: every 30 minutes
RECORD_QUEUE = "sync-records"  # one message per record (the process_record function)
CONTROL_QUEUE = "sync-control"  # full synchronization's line and check messages (process_control)
DOCUMENT_QUEUE = "sync-documents"  # one message per CRM order or quote to process (process_document)
MAX_DEQUEUE_COUNT = 5  # host.json extensions.queues.maxDequeueCount: the last attempt before poison

STORAGE = "AzureWebJobsStorage"  # or, keyless, AzureWebJobsStorage__accountName (+ __credential, __clientId)
REQUIRED = (  # and one credential: SYNC_CLIENT_SECRET or a certificate (sync_core.credentials)
    "SYNC_TENANT_ID",
    "SYNC_CLIENT_ID",
    "BC_API_URL",
    "BC_COMPANY_ID",
    "DATAVERSE_URL",
    "WEBHOOK_SECRET",
)


@dataclass(frozen=True)
class StorageTarget:
    """Where the tables and queues are, as the Functions host reads it: a connection string (the
    local stack), or an account by name with a token credential (a managed identity: no key)."""

    connection_string: str = field(default="", repr=False)
    account_name: str = ""
    table_uri: str = ""
    queue_uri: str = ""
    credential_kind: str = ""  # "managedidentity", or "" for azure-identity's default chain
    client_id: str = ""

    @property
    def keyless(self) -> bool:
        return not self.connection_string


def _service_uri(env: Mapping[str, str], service: str, account: str) -> str:
    given = env.get(f"{STORAGE}__{service}ServiceUri", "").strip()
    if given:
        return given.rstrip("/")
    if not account:
        raise ConfigError(f"setting {STORAGE}__accountName (or {STORAGE}__{service}ServiceUri) is missing")
    return f"https://{account}.{service}.core.windows.net"


def storage_target(env: Mapping[str, str]) -> StorageTarget | None:
    """``AzureWebJobsStorage``, else the keyless ``AzureWebJobsStorage__*`` settings; None if neither."""
    connection = env.get(STORAGE, "").strip()
    if connection:
        return StorageTarget(connection_string=connection)
    account = env.get(f"{STORAGE}__accountName", "").strip()
    uris = [env.get(f"{STORAGE}__{s}ServiceUri", "").strip() for s in ("table", "queue")]
    if not account and not any(uris):
        return None
    return StorageTarget(
        account_name=account,
        table_uri=_service_uri(env, "table", account),
        queue_uri=_service_uri(env, "queue", account),
        credential_kind=env.get(f"{STORAGE}__credential", "").strip(),
        client_id=env.get(f"{STORAGE}__clientId", "").strip(),
    )


@dataclass(frozen=True)
class Settings:
    storage: StorageTarget
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    bc_api_url: str
    bc_company_id: str
    dataverse_url: str
    webhook_secret: str = field(repr=False)
    authority_host: str = DEFAULT_AUTHORITY_HOST
    bc_scope: str = DEFAULT_BC_SCOPE
    # instead of client_secret (then ""): SYNC_CLIENT_CERTIFICATE_PATH or SYNC_CLIENT_CERTIFICATE
    client_certificate: ClientCertificate | None = field(default=None, repr=False)

    @property
    def storage_connection(self) -> str:
        """The connection string ("" with identity-based storage)."""
        return self.storage.connection_string

    @property
    def dataverse_api_root(self) -> str:
        return f"{self.dataverse_url}/api/data/v9.2/"

    @property
    def dataverse_scope(self) -> str:
        return f"{self.dataverse_url}/.default"

    @property
    def bc_companion_root(self) -> str:
        """The companion API root: BC_API_URL with its last segment ``v2.0`` replaced."""
        head, _, _ = self.bc_api_url.rpartition("/")
        return f"{head}/bcsync/integration/v1.0"


def _require_https_or_local(name: str, value: str) -> str:
    parsed = urlparse(value)
    local = parsed.hostname in {"127.0.0.1", "localhost"}
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise ConfigError(f"setting {name} must be an absolute URL")
    if parsed.scheme == "http" and not local:
        raise ConfigError(f"setting {name} must use https (http is allowed for 127.0.0.1 only)")
    return value.rstrip("/")


def _require_guid(name: str, value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise ConfigError(f"setting {name} must be a GUID") from exc


def _missing(env: Mapping[str, str], storage: StorageTarget | None) -> list[str]:
    missing = [] if storage is not None else [STORAGE]
    for name in REQUIRED:
        if not env.get(name, "").strip():
            missing.append(name)
        if name == "SYNC_CLIENT_ID" and not any(env.get(n, "").strip() for n in CREDENTIAL_NAMES):
            missing.append(CREDENTIAL_SETTINGS)
    return missing


def settings_from(env: Mapping[str, str]) -> Settings:
    """Build and validate settings from a mapping (the environment, or a test's dict)."""
    storage = storage_target(env)
    missing = _missing(env, storage)
    if missing or storage is None:
        raise ConfigError(f"missing settings: {', '.join(missing)}")
    credential = client_credential(env)
    authority = env.get("SYNC_AUTHORITY_HOST", "").strip() or DEFAULT_AUTHORITY_HOST
    if urlparse(authority).scheme != "https":
        raise ConfigError("setting SYNC_AUTHORITY_HOST must be an https URL")
    return Settings(
        storage=storage,
        tenant_id=env["SYNC_TENANT_ID"].strip(),
        client_id=env["SYNC_CLIENT_ID"].strip(),
        client_secret=credential.secret,
        bc_api_url=_require_https_or_local("BC_API_URL", env["BC_API_URL"].strip()),
        bc_company_id=_require_guid("BC_COMPANY_ID", env["BC_COMPANY_ID"].strip()),
        dataverse_url=_require_https_or_local("DATAVERSE_URL", env["DATAVERSE_URL"].strip()),
        webhook_secret=env["WEBHOOK_SECRET"],
        authority_host=authority.rstrip("/"),
        bc_scope=env.get("BC_SCOPE", "").strip() or DEFAULT_BC_SCOPE,
        client_certificate=credential.certificate,
    )


@functools.cache
def load_settings() -> Settings:
    """Settings of this worker, from ``os.environ``, validated once."""
    return settings_from(os.environ)


def schedule_setting_name(function_name: str) -> str:
    """App setting that overrides a timer's schedule: ``sync_currency`` -> ``SYNC_CURRENCY_SCHEDULE``."""
    return f"{function_name.upper()}_SCHEDULE"


FULL_SYNC_CHUNKS = "SYNC_FULL_SYNC_CHUNKS"
_OFF = frozenset({"0", "false", "no", "off"})


def full_sync_chunks(env: Mapping[str, str] | None = None) -> bool:
    """``SYNC_FULL_SYNC_CHUNKS``: a full synchronization sends one message per staged chunk of
    records (default, also when unset or empty) or, when ``0``/``false``, one per record."""
    value = (os.environ if env is None else env).get(FULL_SYNC_CHUNKS, "").strip().lower()
    return value not in _OFF
