"""Queue triggers: peek-lock polling with retries and a poison queue, as the Functions host does.

Messages are received raw (no SDK encode/decode policy) with a lease of ``LEASE_S``; the body is
base64-decoded when host.json ``messageEncoding`` is ``base64``. Success deletes the message; a
failure makes it visible again after ``visibilityTimeout``; a failure at ``dequeue_count >=
maxDequeueCount`` copies the original (still encoded) text to ``<queue>-poison`` and deletes it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.functions.queue import QueueMessage as FuncQueueMessage
from azure.storage.queue import QueueClient
from azure.storage.queue import QueueMessage as StorageMessage

from sandbox.runner_functions import FunctionInfo, Invocation, invoke, trigger_annotation
from sandbox.runner_host import QueueOptions, connection_string, resolve_setting_refs

logger = logging.getLogger(__name__)

LEASE_S = 300  # how long a received message stays invisible while its function runs


def lease_s() -> int:
    """``LEASE_S``, or ``RUNNER_LEASE_S`` from the environment (a test of a killed worker makes its
    messages come back sooner; the Functions host keeps renewing its lease instead)."""
    return int(os.environ.get("RUNNER_LEASE_S") or LEASE_S)


@dataclass
class DrainStats:
    """Counts of one drain: successful runs, failed runs, messages moved to a poison queue."""

    processed: int = 0
    failed: int = 0
    poisoned: int = 0
    timed_out: bool = False


class Counters:
    """Thread-safe running totals shared by all queue workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.totals = DrainStats()
        self.in_flight = 0

    def add(self, field_name: str, delta: int = 1) -> None:
        with self._lock:
            if field_name == "in_flight":
                self.in_flight += delta
            else:
                setattr(self.totals, field_name, getattr(self.totals, field_name) + delta)

    def snapshot(self) -> tuple[DrainStats, int]:
        with self._lock:
            t = self.totals
            return DrainStats(t.processed, t.failed, t.poisoned), self.in_flight


def open_queue(conn: str, name: str) -> QueueClient:
    """A raw-text client for ``name``; the queue is created if missing."""
    client = QueueClient.from_connection_string(conn, name)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


def encode_text(value: Any, encoding: str) -> str:
    """An output value (str, bytes, dict/list JSON) as queue message text."""
    if isinstance(value, dict):
        value = json.dumps(value)
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return base64.b64encode(raw).decode("ascii") if encoding == "base64" else raw.decode("utf-8")


class QueueSender:
    """Sends values written to ``queue`` output bindings."""

    def __init__(self, options: QueueOptions, environ: Mapping[str, str] | None = None) -> None:
        self._options = options
        self._environ = environ
        self._clients: dict[tuple[str, str], QueueClient] = {}
        self._lock = threading.Lock()

    def send(self, invocation: Invocation) -> None:
        for binding, value in invocation.queue_outputs:
            conn = connection_string(binding.get("connection"), self._environ)
            name = resolve_setting_refs(str(binding["queueName"]), self._environ)
            client = self._client(conn, name)
            for item in value if isinstance(value, list) else [value]:
                client.send_message(encode_text(item, self._options.message_encoding))

    def _client(self, conn: str, name: str) -> QueueClient:
        with self._lock:
            if (conn, name) not in self._clients:
                self._clients[(conn, name)] = open_queue(conn, name)
            return self._clients[(conn, name)]


class QueueWorker:
    """Polls the queue of one queue-triggered function."""

    def __init__(
        self,
        info: FunctionInfo,
        options: QueueOptions,
        counters: Counters,
        sender: QueueSender,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.info = info
        self.queue_name = resolve_setting_refs(str(info.trigger["queueName"]), environ)
        self._conn = connection_string(info.trigger.get("connection"), environ)
        self._options = options
        self._counters = counters
        self._sender = sender
        self._client = open_queue(self._conn, self.queue_name)
        self._poison: QueueClient | None = None
        self._pool = ThreadPoolExecutor(options.batch_size, thread_name_prefix=f"q-{info.name}")
        self._wants = trigger_annotation(info)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def pending(self) -> int:
        """Approximate messages in the queue, invisible ones (leased or delayed) included."""
        return int(self._client.get_queue_properties().approximate_message_count or 0)

    def poll_once(self) -> int:
        """Receive one batch, run it to completion, return how many messages were received."""
        size = self._options.batch_size
        batch = list(
            self._client.receive_messages(
                messages_per_page=size, max_messages=size, visibility_timeout=lease_s()
            )
        )
        if batch:
            self._counters.add("in_flight", len(batch))
            list(self._pool.map(self._process, batch))
        return len(batch)

    def run(self, stop: threading.Event, on_error: Callable[[Exception], None]) -> None:
        """Background loop: 100 ms after a hit, exponential backoff to maxPollingInterval."""
        delay = 0.1
        while not stop.is_set():
            try:
                got = self.poll_once()
            except Exception as exc:  # keep polling; the error is logged by on_error
                on_error(exc)
                got = 0
            delay = 0.1 if got else min(max(delay * 2, 0.2), self._options.max_polling_interval_s)
            stop.wait(delay)

    def _process(self, msg: StorageMessage) -> None:
        try:
            if msg.dequeue_count and msg.dequeue_count > self._options.max_dequeue_count:
                self._to_poison(msg)
                return
            self._attempt(msg)
        except AzureError as exc:
            logger.error(
                "runner: storage error on message %s of %s: %s",
                msg.id,
                self.queue_name,
                type(exc).__name__,
            )
        finally:
            self._counters.add("in_flight", -1)

    def _attempt(self, msg: StorageMessage) -> None:
        try:
            self._sender.send(invoke(self.info, self._trigger_value(msg)))
        except Exception as exc:
            self._counters.add("failed")
            logger.warning(
                "runner: function %s failed on message %s (dequeue_count=%s): %s: %s",
                self.info.name,
                msg.id,
                msg.dequeue_count,
                type(exc).__name__,
                exc,
            )
            if (msg.dequeue_count or 0) >= self._options.max_dequeue_count:
                self._to_poison(msg)
            else:
                retry_s = math.ceil(self._options.visibility_timeout_s)
                self._client.update_message(msg.id, pop_receipt=msg.pop_receipt, visibility_timeout=retry_s)
            return
        self._client.delete_message(msg.id, msg.pop_receipt)
        self._counters.add("processed")

    def _trigger_value(self, msg: StorageMessage) -> Any:
        text = msg.content if isinstance(msg.content, str) else ""
        if self._options.message_encoding == "base64":
            try:
                body = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("message text is not valid base64 (messageEncoding)") from exc
        else:
            body = text.encode("utf-8")
        if self._wants is bytes:
            return body
        if self._wants is str:
            return body.decode("utf-8")
        return FuncQueueMessage(
            id=msg.id,
            body=body,
            dequeue_count=msg.dequeue_count,
            insertion_time=msg.inserted_on,
            expiration_time=msg.expires_on,
            time_next_visible=msg.next_visible_on,
            pop_receipt=msg.pop_receipt,
        )

    def _to_poison(self, msg: StorageMessage) -> None:
        if self._poison is None:
            self._poison = open_queue(self._conn, f"{self.queue_name}-poison")
        self._poison.send_message(msg.content or "")
        self._client.delete_message(msg.id, msg.pop_receipt)
        self._counters.add("poisoned")
        logger.error(
            "runner: message %s moved to %s-poison after %s attempts",
            msg.id,
            self.queue_name,
            msg.dequeue_count,
        )
