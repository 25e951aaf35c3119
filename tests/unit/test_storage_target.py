"""Storage from a connection string (the local stack) or keyless, as the Functions host reads it:
``AzureWebJobsStorage__accountName`` + ``__credential`` + ``__clientId`` (a managed identity)."""

from __future__ import annotations

import pytest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from sync_core.errors import ConfigError
from sync_core.settings import settings_from, storage_target
from sync_core.state import storage_account
from sync_core.state.queues import AzureMessageQueue
from sync_core.state.stores import table_stores
from tests.unit.test_messages_settings import GOOD_ENV

ENV = {
    **GOOD_ENV,
    "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1",
}
IDENTITY = {
    "AzureWebJobsStorage__accountName": "stbcsync01",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": "5b0c1f9e-0000-4000-8000-00000000c1d1",
}


def _keyless_env() -> dict[str, str]:
    env = {k: v for k, v in ENV.items() if k != "AzureWebJobsStorage"}
    return {**env, **IDENTITY}


def test_the_connection_string_wins_and_is_never_shown() -> None:
    settings = settings_from(ENV)
    assert not settings.storage.keyless and settings.storage_connection == ENV["AzureWebJobsStorage"]
    assert ENV["AzureWebJobsStorage"] not in repr(settings)


def test_identity_based_settings_name_the_account_endpoints_and_identity() -> None:
    settings = settings_from(_keyless_env())
    target = settings.storage
    assert target.keyless and settings.storage_connection == ""
    assert (target.table_uri, target.queue_uri) == (
        "https://stbcsync01.table.core.windows.net",
        "https://stbcsync01.queue.core.windows.net",
    )
    assert (target.credential_kind, target.client_id) == (
        "managedidentity",
        IDENTITY["AzureWebJobsStorage__clientId"],
    )
    uris = {
        "AzureWebJobsStorage__tableServiceUri": "https://x.table.core.chinacloudapi.cn/",
        "AzureWebJobsStorage__queueServiceUri": "https://x.queue.core.chinacloudapi.cn",
    }
    sovereign = storage_target(uris)
    assert sovereign is not None and sovereign.table_uri == "https://x.table.core.chinacloudapi.cn"


def test_no_storage_setting_is_a_clear_error() -> None:
    env = {k: v for k, v in ENV.items() if k != "AzureWebJobsStorage"}
    with pytest.raises(ConfigError) as missing:
        settings_from(env)
    assert "missing settings: AzureWebJobsStorage" in missing.value.message
    with pytest.raises(ConfigError) as half:
        storage_target({"AzureWebJobsStorage__queueServiceUri": "https://x.queue.core.windows.net"})
    assert "AzureWebJobsStorage__accountName" in half.value.message


def test_keyless_clients_use_the_managed_identity_and_no_key() -> None:
    target = settings_from(_keyless_env()).storage
    credential = storage_account.credential_for(target)
    assert isinstance(credential, ManagedIdentityCredential)
    assert storage_account.credential_for(target) is credential  # one per worker: it caches tokens
    table = storage_account.table_client(target, "bcsynccouplings")
    assert table.url.startswith("https://stbcsync01.table.core.windows.net")
    assert table.credential is credential and table.account_name == "stbcsync01"
    queue = AzureMessageQueue(target, "sync-records")
    assert queue._client.url == "https://stbcsync01.queue.core.windows.net/sync-records"
    assert queue._client.credential is credential
    stores = table_stores(target)  # nothing is called: tables are created on first use
    assert stores.couplings is not None
    chain = storage_account.credential_for(
        settings_from({**_keyless_env(), "AzureWebJobsStorage__credential": ""}).storage
    )
    assert isinstance(chain, DefaultAzureCredential)


def test_a_connection_string_target_builds_the_same_clients_as_before() -> None:
    conn = ENV["AzureWebJobsStorage"]
    table = storage_account.table_client(conn, "bcsyncwatermarks")
    assert table.table_name == "bcsyncwatermarks" and table.account_name == "devstoreaccount1"
