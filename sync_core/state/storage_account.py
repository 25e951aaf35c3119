"""The clients of the sync's tables and queues: from a connection string, or keyless.

``StorageRef`` is a connection string (the local stack: Azurite; tests) or a
``settings.StorageTarget``. A keyless target (``AzureWebJobsStorage__accountName``, as the
Functions host reads it) gets ``azure-identity``'s credential: the user-assigned managed identity
named by ``AzureWebJobsStorage__clientId`` when ``__credential`` is ``managedidentity``, else
``DefaultAzureCredential``'s chain (a developer's ``az login``, the environment, a managed
identity). One credential per target and worker: it caches its tokens.
"""

from __future__ import annotations

import functools
from typing import Any

from azure.core.credentials import TokenCredential
from azure.data.tables import TableClient
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.storage.queue import QueueClient

from sync_core.settings import StorageTarget

StorageRef = str | StorageTarget


def as_target(ref: StorageRef) -> StorageTarget:
    return ref if isinstance(ref, StorageTarget) else StorageTarget(connection_string=ref)


@functools.cache
def credential_for(target: StorageTarget) -> TokenCredential:
    """The token credential of a keyless target (built on first use, then shared)."""
    if target.credential_kind.lower() == "managedidentity":
        return ManagedIdentityCredential(client_id=target.client_id or None)
    return DefaultAzureCredential(managed_identity_client_id=target.client_id or None)


def table_client(ref: StorageRef, name: str) -> TableClient:
    target = as_target(ref)
    if not target.keyless:
        return TableClient.from_connection_string(target.connection_string, table_name=name)
    return TableClient(target.table_uri, table_name=name, credential=credential_for(target))


def queue_client(ref: StorageRef, name: str, **options: Any) -> QueueClient:
    target = as_target(ref)
    if not target.keyless:
        return QueueClient.from_connection_string(target.connection_string, name, **options)
    return QueueClient(target.queue_uri, name, credential=credential_for(target), **options)
