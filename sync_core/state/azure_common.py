"""azure-core errors -> the core's error hierarchy, and lazily created tables.

Messages carry the operation, HTTP status and storage error code, never entity bodies.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableClient

from sync_core.errors import (
    AlreadyExistsError,
    ConfigError,
    ConflictError,
    DataError,
    NotFoundError,
    SyncError,
    TransientError,
)

logger = logging.getLogger(__name__)

_TRANSIENT_STATUS = frozenset({408, 429})


def error_code(exc: AzureError) -> str | None:
    code = getattr(exc, "error_code", None)
    if code is None:
        response = getattr(exc, "response", None)
        code = response.headers.get("x-ms-error-code") if response is not None else None
    return getattr(code, "value", code)


def _status_error(what: str, exc: HttpResponseError) -> SyncError:
    status = exc.status_code
    code = error_code(exc)
    text = f"{what} failed"
    if status is None or status >= 500 or status in _TRANSIENT_STATUS:
        return TransientError(text, status=status, code=code)
    if status in (401, 403):
        return ConfigError(f"{text}: storage refused the credentials", status=status, code=code)
    if status == 404:
        return NotFoundError(text, status=status, code=code)
    if status in (409, 412):
        return ConflictError(text, status=status, code=code)
    return DataError(text, status=status, code=code)


def classify(what: str, exc: AzureError) -> SyncError:
    """The core error for an azure-core exception raised while doing ``what``."""
    if isinstance(exc, ResourceExistsError):
        return AlreadyExistsError(f"{what}: already exists", status=409, code=error_code(exc))
    if isinstance(exc, ResourceModifiedError):
        return ConflictError(f"{what}: changed since read", status=412, code=error_code(exc))
    if isinstance(exc, ResourceNotFoundError):
        return NotFoundError(f"{what}: not found", status=404, code=error_code(exc))
    if isinstance(exc, ClientAuthenticationError):
        return ConfigError(f"{what}: storage refused the credentials", code=error_code(exc))
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return TransientError(f"{what}: storage unreachable ({type(exc).__name__})")
    if isinstance(exc, HttpResponseError):
        return _status_error(what, exc)
    return TransientError(f"{what}: {type(exc).__name__}")


@contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """Re-raise azure-core exceptions of the block as the core's errors."""
    try:
        yield
    except AzureError as exc:
        raise classify(what, exc) from exc


class CreateOnce:
    """Creates an Azure resource (a table, a queue) on first use, once per instance; one that
    exists already is fine."""

    def __init__(self, what: str, create: Callable[[], object]) -> None:
        self._what = what
        self._create = create
        self._done = False
        self._lock = threading.Lock()

    def __call__(self) -> None:
        if self._done:
            return
        with self._lock:
            if self._done:
                return
            with mapped_errors(f"create {self._what}"):
                try:
                    self._create()
                    logger.info("created %s", self._what)
                except ResourceExistsError:
                    pass
            self._done = True


TRANSACTION_RESENDS = 2  # a transaction whose answer was lost is sent again this many times
RESEND_PAUSE_S = 0.2


def submit_transaction(client: TableClient, operations: Sequence[Any], what: str) -> list[Any]:
    """``submit_transaction``, sent again when its answer was lost (``ServiceResponseError``: the
    connection dropped after the request went out, e.g. a keep-alive connection the server had
    just closed; the SDK does not resend a POST). Every transaction of the stores is safe to send
    again, and its caller handles what a resend after a success answers: a create 409, an
    If-Match write 412, a merge upsert nothing new."""
    for attempt in range(TRANSACTION_RESENDS + 1):
        try:
            return list(client.submit_transaction(operations))
        except ServiceResponseError:
            if attempt == TRANSACTION_RESENDS:
                raise
            logger.info("%s: the transaction's answer was lost; sent again", what)
            time.sleep(RESEND_PAUSE_S * (attempt + 1))
    raise AssertionError("unreachable")


class LazyTable:
    """A TableClient whose table is created (if missing) on first use, once per instance."""

    def __init__(self, client: TableClient) -> None:
        self._client = client
        self._ensure = CreateOnce(f"table {client.table_name}", client.create_table)

    @property
    def name(self) -> str:
        return self._client.table_name

    def client(self) -> TableClient:
        self._ensure()
        return self._client
