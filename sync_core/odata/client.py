"""A small OData v4 client over ``requests``: timeouts, retries, error classification, paging.

Every call has a (connect, read) timeout; 429/502/503/504, connection errors and timeouts are
retried within the ``RetryPolicy``'s budget; any other non-2xx answer raises the error class the
classification table gives. Paging follows ``@odata.nextLink`` verbatim and sends the same
``Prefer: odata.maxpagesize`` on every page.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import requests
import requests.auth

from sync_core.errors import ConfigError, PermanentError, SyncError, TransientError
from sync_core.odata.classify import error_from_response
from sync_core.odata.query import encode_query
from sync_core.odata.retry import RetryPolicy, parse_retry_after, with_retry_after
from sync_core.vocabulary import format_datetime

log = logging.getLogger(__name__)

System = Literal["bc", "dataverse"]

DATAVERSE_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
}
BC_HEADERS = {"Accept": "application/json"}
DEFAULT_MAX_PAGES = 10_000
_RETRIED_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass(frozen=True)
class _Failure:
    """A failed attempt worth retrying: the error to raise if no retry is left."""

    error: SyncError
    retry_after: float | None


def _brief(error: SyncError) -> str:
    return f"HTTP {error.status}" if error.status is not None else error.message


@dataclass(frozen=True)
class ODataResponse:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def etag(self) -> str | None:
        if isinstance(self.body, Mapping) and self.body.get("@odata.etag"):
            return str(self.body["@odata.etag"])
        return self.headers.get("ETag")

    @property
    def entity_id(self) -> str | None:
        """The ``OData-EntityId`` header (the URL of a created or upserted row)."""
        return self.headers.get("OData-EntityId")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dump_json(body: Any) -> bytes:
    return json.dumps(body, default=_json_default, separators=(",", ":")).encode("utf-8")


def _parse_body(response: requests.Response) -> Any:
    if not response.content:
        return None
    if "json" in response.headers.get("Content-Type", "").lower():
        try:
            return response.json()
        except ValueError:
            return response.text
    return response.text


class ODataClient:
    """One OData service root (BC API v2.0, the BC companion API, or the Dataverse Web API)."""

    def __init__(
        self,
        session: requests.Session,
        root_url: str,
        *,
        system: System,
        auth: requests.auth.AuthBase | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, immutable default
        timeout: tuple[float, float] = (5.0, 30.0),
        default_headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        self._session = session
        self.root_url = root_url if root_url.endswith("/") else root_url + "/"
        self.system = system
        self._auth = auth
        self._retry = retry
        self._timeout = timeout
        base = DATAVERSE_HEADERS if system == "dataverse" else BC_HEADERS
        self._default_headers = {**base, **(default_headers or {})}
        self._sleep = sleep
        self._monotonic = monotonic
        self._max_pages = max_pages

    # -- URLs -------------------------------------------------------------------------------

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """``path`` resolved against the root (absolute URLs are kept verbatim) plus ``params``."""
        absolute = path.startswith(("http://", "https://"))
        full = path if absolute else self.root_url + path.lstrip("/")
        query = encode_query(params) if params else ""
        if not query:
            return full
        return f"{full}{'&' if urlsplit(full).query else '?'}{query}"

    # -- core request -----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | str | None = None,
        check: bool = True,
        idempotent: bool | None = None,
    ) -> ODataResponse:
        """Send one request (retried per policy); non-2xx raises unless ``check`` is False.

        ``idempotent`` (default: every method but POST) decides whether a request that may have
        reached the server (read timeout, dropped connection) is sent again: a POST that creates
        a row is not, unless the caller knows a resend cannot duplicate (a client-chosen key).
        """
        url = self.url(path, params)
        merged = {**self._default_headers, **(headers or {})}
        if method.upper() == "GET" and self.system == "dataverse":
            merged.setdefault("If-None-Match", "null")
        if json is not None:
            data = dump_json(json)
            merged.setdefault("Content-Type", "application/json")
        resend = idempotent if idempotent is not None else method.upper() != "POST"
        response = self._send(method.upper(), url, merged, data, resend)
        result = ODataResponse(response.status_code, _parse_body(response), response.headers)
        if check and not 200 <= response.status_code < 300:
            raise error_from_response(self.system, result.status, response.text, result.headers)
        return result

    def _send(
        self, method: str, url: str, headers: dict[str, str], data: bytes | str | None, resend: bool = True
    ) -> requests.Response:
        started = self._monotonic()
        where = urlsplit(url).path
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(method, url, where, headers, data, resend)
            if isinstance(outcome, requests.Response):
                return outcome
            error, retry_after = outcome.error, outcome.retry_after
            remaining = self._retry.max_total_seconds - (self._monotonic() - started)
            delay = self._retry.next_delay(attempt, retry_after=retry_after, remaining=remaining)
            if delay is None:
                if isinstance(error, TransientError):
                    with_retry_after(error, retry_after)
                log.warning("%s %s gave up after %d attempt(s): %s", method, where, attempt, _brief(error))
                raise error
            log.info(
                "%s %s failed (%s); attempt %d, retrying in %.2fs",
                method,
                where,
                _brief(error),
                attempt,
                delay,
            )
            self._sleep(delay)

    def _attempt(
        self,
        method: str,
        url: str,
        where: str,
        headers: dict[str, str],
        data: bytes | str | None,
        resend: bool = True,
    ) -> requests.Response | _Failure:
        """One try: the response when it is final, else the error to retry and any Retry-After."""
        try:
            response = self._session.request(
                method, url, headers=headers, data=data, auth=self._auth, timeout=self._timeout
            )
        except requests.exceptions.SSLError as exc:
            raise ConfigError(
                f"{self.system} {method} {where}: TLS verification failed",
                remedy="check the certificate trust (REQUESTS_CA_BUNDLE)",
            ) from exc
        except _RETRIED_EXCEPTIONS as exc:
            error = TransientError(f"{self.system} {method} {where}: {type(exc).__name__}")
            if not resend and not isinstance(exc, requests.ConnectTimeout):
                raise error from exc  # it may have been processed: resending could duplicate
            return _Failure(error, None)
        log.debug("%s %s -> %s", method, where, response.status_code)
        if response.status_code not in self._retry.retry_statuses:
            return response
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        failure = error_from_response(self.system, response.status_code, response.text, response.headers)
        return _Failure(failure, retry_after)

    # -- conveniences -----------------------------------------------------------------------

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        return self.request("GET", path, params=params, headers=headers).body

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Each page's ``value``; follows ``@odata.nextLink`` verbatim, with a loop guard."""
        page_headers = dict(headers or {})
        if page_size:
            prefer = f"odata.maxpagesize={page_size}"
            existing = page_headers.get("Prefer")
            page_headers["Prefer"] = f"{existing},{prefer}" if existing else prefer
        url = self.url(path, params)
        seen = {url}
        for page_number in range(1, self._max_pages + 1):
            body = self.get(url, headers=page_headers) or {}
            yield list(body.get("value", []))
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return
            next_url = urljoin(url, next_link)
            if next_url in seen:
                raise PermanentError(
                    f"{self.system} paging loop: a nextLink repeated after page {page_number}"
                )
            seen.add(next_url)
            url = next_url
        raise PermanentError(f"{self.system} paging stopped after {self._max_pages} pages")

    def iter_rows(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        for page in self.iter_pages(path, params, page_size=page_size, headers=headers):
            yield from page

    def post(
        self, path: str, body: Any, *, headers: Mapping[str, str] | None = None, idempotent: bool = False
    ) -> ODataResponse:
        return self.request("POST", path, json=body, headers=headers, idempotent=idempotent)

    def patch(
        self, path: str, body: Any, *, etag: str, headers: Mapping[str, str] | None = None
    ) -> ODataResponse:
        """PATCH with ``If-Match`` (an ETag, or ``*`` for update-only)."""
        if not etag:
            raise ValueError("PATCH needs an ETag or '*' for If-Match")
        return self.request("PATCH", path, json=body, headers={**(headers or {}), "If-Match": etag})

    def delete(
        self, path: str, *, etag: str = "*", headers: Mapping[str, str] | None = None
    ) -> ODataResponse:
        return self.request("DELETE", path, headers={**(headers or {}), "If-Match": etag})


def row_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's values without the ``@odata.*`` control annotations (etag, context, ...)."""
    return {k: v for k, v in row.items() if not k.startswith("@odata.")}
