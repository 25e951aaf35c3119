"""MessageQueue contract, in memory and over Azurite; on the wire messages are Base64."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from sandbox.azurite import unique_name
from sync_core.state.ports import MessageQueue
from sync_core.state.queues import AzureMessageQueue, MemoryMessageQueue, queue_client

Drain = Callable[[], list[str]]


def _azure_drain(conn: str, name: str) -> Drain:
    def drain() -> list[str]:
        client = queue_client(conn, name)
        bodies = []
        for message in client.receive_messages(messages_per_page=32, visibility_timeout=30):
            bodies.append(message.content)
            client.delete_message(message)
        return bodies

    return drain


@pytest.fixture(params=["memory", pytest.param("azure", marks=pytest.mark.azurite)])
def queue(request: pytest.FixtureRequest) -> tuple[MessageQueue, Drain]:
    name = unique_name("q")
    if request.param == "memory":
        memory = MemoryMessageQueue(name)
        return memory, memory.take_all
    conn = request.getfixturevalue("storage_conn")
    return AzureMessageQueue(conn, name), _azure_drain(conn, name)


def test_send_and_send_many_deliver_in_order(queue: tuple[MessageQueue, Drain]) -> None:
    mq, drain = queue
    assert mq.name.startswith("q")
    mq.send('{"n":0}')
    assert mq.send_many(f'{{"n":{n}}}' for n in range(1, 40)) == 39
    assert mq.send_many([]) == 0
    received = drain()
    assert sorted(received, key=lambda b: json.loads(b)["n"]) == [f'{{"n":{n}}}' for n in range(40)]


def test_unicode_bodies_survive(queue: tuple[MessageQueue, Drain]) -> None:
    mq, drain = queue
    body = '{"name":"Müller & Søn \u2013 株式会社"}'
    mq.send(body)
    assert drain() == [body]


def test_memory_queue_records_visibility_timeouts() -> None:
    mq = MemoryMessageQueue("retries")
    mq.send("a", visibility_timeout=60)
    mq.send("b")
    assert mq.messages == ["a", "b"]
    assert mq.visibility_timeouts == [60, None]
    assert mq.take_all() == ["a", "b"] and mq.messages == []


@pytest.mark.azurite
def test_wire_format_is_base64_of_the_json(storage_conn: str) -> None:
    name = unique_name("q")
    body = json.dumps({"mapping": "CUSTOMER", "direction": "to-bc", "source_id": "ü-1"})
    AzureMessageQueue(storage_conn, name).send(body)
    raw = QueueClient.from_connection_string(storage_conn, name)  # no decode policy
    message = raw.receive_message()
    assert message is not None
    assert message.content == base64.b64encode(body.encode("utf-8")).decode("ascii")


@pytest.mark.azurite
def test_queue_is_created_lazily_and_visibility_delays(storage_conn: str) -> None:
    name = unique_name("q")
    mq = AzureMessageQueue(storage_conn, name)
    raw = QueueClient.from_connection_string(storage_conn, name)
    with pytest.raises(ResourceNotFoundError):
        raw.get_queue_properties()
    mq.send("later", visibility_timeout=60)
    assert raw.get_queue_properties().name == name
    assert raw.receive_message() is None  # invisible for a minute
    assert AzureMessageQueue(storage_conn, name).send_many(["now"]) == 1  # queue exists: fine
    assert _azure_drain(storage_conn, name)() == ["now"]
