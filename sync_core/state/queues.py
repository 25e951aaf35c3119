"""Storage queues: ``AzureMessageQueue`` over azure-storage-queue, and the in-memory twin.

Messages go out Base64-encoded, as the Functions queue trigger expects
(host.json ``messageEncoding: base64``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from sync_core.state.azure_common import CreateOnce, classify
from sync_core.state.memory import MemoryMessageQueue
from sync_core.state.storage_account import StorageRef
from sync_core.state.storage_account import queue_client as storage_queue_client

__all__ = ["AzureMessageQueue", "MemoryMessageQueue", "queue_client", "queue_depth"]

logger = logging.getLogger(__name__)


def queue_client(conn_str: StorageRef, name: str) -> QueueClient:
    """A QueueClient that writes and reads Base64 text (the Functions trigger's format)."""
    return storage_queue_client(
        conn_str,
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )


class AzureMessageQueue:
    """MessageQueue over one storage queue; the queue is created on the first send."""

    def __init__(self, conn_str: StorageRef, name: str) -> None:
        self.name = name
        self._client = queue_client(conn_str, name)
        self._ensure = CreateOnce(f"queue {name}", self._client.create_queue)

    def _ensure_queue(self) -> QueueClient:
        self._ensure()
        return self._client

    def send(self, body: str, visibility_timeout: int | None = None) -> None:
        client = self._ensure_queue()
        try:
            client.send_message(body, visibility_timeout=visibility_timeout)
        except AzureError as exc:
            raise classify(f"send to queue {self.name}", exc) from exc

    def send_many(self, bodies: Iterable[str]) -> int:
        count = 0
        for body in bodies:
            self.send(body)
            count += 1
        logger.debug("sent %d messages to queue %s", count, self.name)
        return count


def queue_depth(conn_str: StorageRef, name: str) -> int:
    """About how many messages wait in queue ``name`` (0 for a queue not created yet); one request."""
    try:
        properties = storage_queue_client(conn_str, name).get_queue_properties()
    except ResourceNotFoundError:
        return 0
    except AzureError as exc:
        raise classify(f"read queue {name}", exc) from exc
    return int(properties.approximate_message_count or 0)
