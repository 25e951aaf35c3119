"""What the Functions host does, by hand: trigger objects in, queue messages delivered.

Used by the e2e tests to call the real entry points with real trigger objects
(``TimerRequest``, ``QueueMessage``, ``HttpRequest``) against Azurite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import azure.functions as func
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

import function_app
from sync_core.settings import RECORD_QUEUE
from sync_core.state.queues import queue_client


def user_functions() -> dict[str, Callable[..., Any]]:
    """The app's functions by name (azure-functions indexes an app once: reset its memo first)."""
    function_app.app.functions_bindings = None
    return {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}


def fire_timer(name: str) -> None:
    user_functions()[name](TimerRequest(past_due=False, schedule_status={}, schedule={}))


def deliver_all(
    conn: str, *, max_rounds: int = 20, queue: str = RECORD_QUEUE, function: str = "process_record"
) -> list[str]:
    """Receive every message of ``queue`` and hand it to its function (``process_record``) like the host.

    Returns the message bodies delivered. A handler exception propagates (the test decides).
    """
    process = user_functions()[function]
    client = queue_client(conn, queue)
    delivered: list[str] = []
    for _ in range(max_rounds):
        batch = list(client.receive_messages(max_messages=32, visibility_timeout=60))
        if not batch:
            return delivered
        for m in batch:
            process(
                QueueMessage(
                    id=m.id, body=m.content.encode(), dequeue_count=m.dequeue_count, pop_receipt=m.pop_receipt
                )
            )
            client.delete_message(m)
            delivered.append(m.content)
    return delivered


def queued(conn: str, queue: str = RECORD_QUEUE) -> int:
    client = queue_client(conn, queue)
    try:
        return client.get_queue_properties().approximate_message_count
    except Exception:  # the queue does not exist yet: nothing was ever sent
        return 0


def http(
    name: str,
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict | None = None,
    route_params: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpResponse:
    req = func.HttpRequest(
        method=method,
        url=url,
        headers=headers or {},
        params=params or {},
        route_params=route_params or {},
        body=body,
    )
    return user_functions()[name](req)
