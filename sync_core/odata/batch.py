"""``$batch`` for both systems.

Dataverse: ``multipart/mixed`` (api-facts §B.4) — writes go into one change set (atomic), GETs are
top-level parts; up to 1000 requests. BC: JSON batch (§E.5) — up to 100 operations, ``Isolation:
snapshot`` makes the batch atomic. The encoders and decoders are pure; ``dataverse_batch`` and
``bc_batch`` send them through an ``ODataClient``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sync_core.errors import SyncError
from sync_core.odata.classify import error_from_response
from sync_core.odata.client import ODataClient, dump_json

log = logging.getLogger(__name__)

DATAVERSE_MAX_REQUESTS = 1000
BC_MAX_OPERATIONS = 100
CRLF = "\r\n"


@dataclass
class BatchRequest:
    method: str
    url: str  # relative to the client root (or ``$<content-id>`` based inside a change set)
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_id: str | None = None


@dataclass
class BatchResponse:
    status: int
    headers: dict[str, str]
    body: Any
    content_id: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


# -- Dataverse multipart ------------------------------------------------------------------------


def _dataverse_part(request: BatchRequest, root_path: str, index: int, changeset: bool) -> str:
    url = request.url
    if not url.startswith(("$", "/", "http://", "https://")):
        url = root_path + url
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if changeset:
        lines.append(f"Content-ID: {request.content_id or index}")
    lines += ["", f"{request.method.upper()} {url} HTTP/1.1"]
    inner = dict(request.headers)
    if request.body is not None:
        inner.setdefault("Content-Type", "application/json; type=entry")
    else:
        inner.setdefault("Accept", "application/json")
    lines += [f"{k}: {v}" for k, v in inner.items()]
    lines.append("")
    if request.body is not None:
        lines.append(dump_json(request.body).decode("utf-8"))
    return CRLF.join(lines)


def encode_dataverse_batch(
    requests: Sequence[BatchRequest], *, changeset: bool, root_path: str
) -> tuple[str, bytes]:
    """``(content_type, body)`` of a multipart batch; writes in one change set when ``changeset``.

    ``root_path`` is the Web API path (``/api/data/v9.2/``) that relative URLs are put under.
    """
    if not requests:
        raise ValueError("a batch needs at least one request")
    if len(requests) > DATAVERSE_MAX_REQUESTS:
        raise ValueError(f"a Dataverse batch holds at most {DATAVERSE_MAX_REQUESTS} requests")
    root = root_path if root_path.endswith("/") else root_path + "/"
    batch = f"batch_{uuid.uuid4().hex}"
    out: list[str] = []
    if changeset:
        if any(r.method.upper() == "GET" for r in requests):
            raise ValueError("a change set cannot contain GET requests")
        cs = f"changeset_{uuid.uuid4().hex}"
        out += [f"--{batch}", f"Content-Type: multipart/mixed; boundary={cs}", ""]
        for i, request in enumerate(requests, 1):
            out += [f"--{cs}", _dataverse_part(request, root, i, True)]
        out += [f"--{cs}--", ""]
    else:
        for i, request in enumerate(requests, 1):
            out += [f"--{batch}", _dataverse_part(request, root, i, False)]
    out += [f"--{batch}--", ""]
    return f"multipart/mixed; boundary={batch}", CRLF.join(out).encode("utf-8")


def _boundary(content_type: str) -> str:
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    if not match:
        raise ValueError("multipart content type without a boundary")
    return match.group(1).strip()


def _split_multipart(text: str, boundary: str) -> list[str]:
    """The body parts between ``--boundary`` delimiter lines (preamble and epilogue dropped)."""
    delimiter = re.compile(rf"(?:^|\r?\n)--{re.escape(boundary)}(--)?[ \t]*(?=\r?\n|$)")
    parts: list[str] = []
    position = None
    for match in delimiter.finditer(text):
        if position is not None:
            parts.append(re.sub(r"^\r?\n", "", text[position : match.start()], count=1))
        if match.group(1):  # closing delimiter
            return parts
        position = match.end()
    if position is not None:
        parts.append(re.sub(r"^\r?\n", "", text[position:], count=1))
    return parts


def _split_head(text: str) -> tuple[list[str], str]:
    pieces = re.split(r"\r?\n\r?\n", text, maxsplit=1)
    head = pieces[0].splitlines()
    return head, pieces[1] if len(pieces) > 1 else ""


def _headers(lines: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            result[name.strip()] = value.strip()
    return result


def _get(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _decode_http_part(text: str, content_id: str | None) -> BatchResponse:
    head, body = _split_head(text)
    if not head or not head[0].startswith("HTTP/"):
        raise ValueError("batch part without an HTTP status line")
    status = int(head[0].split()[1])
    headers = _headers(head[1:])
    body = body.strip()
    parsed: Any = None
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body
    return BatchResponse(status, headers, parsed, content_id or _get(headers, "Content-ID"))


def decode_dataverse_batch(content_type: str, body: bytes | str) -> list[BatchResponse]:
    """The responses of a multipart batch answer, change-set parts flattened in order."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    responses: list[BatchResponse] = []
    for part in _split_multipart(text, _boundary(content_type)):
        head, rest = _split_head(part)
        part_headers = _headers(head)
        part_type = _get(part_headers, "Content-Type") or ""
        if part_type.lower().startswith("multipart/"):
            responses += decode_dataverse_batch(part_type, rest)
        else:
            responses.append(_decode_http_part(rest, _get(part_headers, "Content-ID")))
    return responses


def dataverse_batch(
    client: ODataClient,
    requests: Sequence[BatchRequest],
    *,
    changeset: bool = True,
    continue_on_error: bool = False,
    idempotent: bool | None = None,
) -> list[BatchResponse]:
    """Send a Dataverse ``$batch``; returns the parts' responses (check each ``.ok``).

    Without ``continue_on_error`` Dataverse stops at the first failure, so fewer responses than
    requests may come back (a failed change set answers with one error part). ``idempotent``: the
    batch may be sent again after a timeout (its writes cannot duplicate: client-chosen keys).
    """
    root_path = urlsplit(client.root_url).path
    content_type, payload = encode_dataverse_batch(requests, changeset=changeset, root_path=root_path)
    headers = {"Content-Type": content_type}
    if continue_on_error:
        headers["Prefer"] = "odata.continue-on-error"
    response = client.request(
        "POST", "$batch", data=payload, headers=headers, check=False, idempotent=idempotent
    )
    answer_type = response.headers.get("Content-Type", "")
    if not answer_type.lower().startswith("multipart/"):
        if 200 <= response.status < 300:
            raise ValueError("Dataverse batch answer is not multipart")
        text = response.body if isinstance(response.body, str) else json.dumps(response.body)
        raise error_from_response(client.system, response.status, text, response.headers)
    results = decode_dataverse_batch(answer_type, response.body or "")
    log.debug("dataverse batch: %d request(s), %d response(s)", len(requests), len(results))
    return results


# -- BC JSON batch -------------------------------------------------------------------------------


def encode_bc_batch(requests: Sequence[BatchRequest]) -> dict[str, Any]:
    """The JSON batch document; request ids are the content ids or their 1-based positions."""
    items = []
    for i, request in enumerate(requests, 1):
        headers = dict(request.headers)
        item: dict[str, Any] = {
            "id": request.content_id or str(i),
            "method": request.method.upper(),
            "url": request.url,
        }
        if request.body is not None:
            headers.setdefault("Content-Type", "application/json")
            item["body"] = request.body
        if headers:
            item["headers"] = headers
        items.append(item)
    return {"requests": items}


def decode_bc_batch(document: Mapping[str, Any], requests: Sequence[BatchRequest]) -> list[BatchResponse]:
    """The responses in request order (JSON batch answers may come in any order)."""
    by_id: dict[str, BatchResponse] = {}
    unnamed: list[BatchResponse] = []
    for item in document.get("responses", []):
        response = BatchResponse(
            status=int(item.get("status", 0)),
            headers={str(k): str(v) for k, v in (item.get("headers") or {}).items()},
            body=item.get("body"),
            content_id=None if item.get("id") is None else str(item["id"]),
        )
        if response.content_id is None:
            unnamed.append(response)
        else:
            by_id[response.content_id] = response
    if not by_id:
        return unnamed
    ids = [r.content_id or str(i) for i, r in enumerate(requests, 1)]
    return [by_id[i] for i in ids if i in by_id] + unnamed


def bc_batch(
    client: ODataClient, requests: Sequence[BatchRequest], *, atomic: bool = False
) -> list[BatchResponse]:
    """Send BC JSON batches; atomic (``Isolation: snapshot``) batches hold at most 100 requests.

    Non-atomic lists longer than 100 are split into several batches.
    """
    if atomic and len(requests) > BC_MAX_OPERATIONS:
        raise ValueError(f"an atomic BC batch holds at most {BC_MAX_OPERATIONS} requests")
    headers = {"Content-Type": "application/json"}
    if atomic:
        headers["Isolation"] = "snapshot"
    results: list[BatchResponse] = []
    for start in range(0, len(requests), BC_MAX_OPERATIONS):
        chunk = requests[start : start + BC_MAX_OPERATIONS]
        response = client.request("POST", "$batch", json=encode_bc_batch(chunk), headers=headers)
        results += decode_bc_batch(response.body or {}, chunk)
    return results


def first_error(system: str, responses: Sequence[BatchResponse]) -> SyncError | None:
    """The classified error of the first failed part, or ``None`` when every part succeeded."""
    for response in responses:
        if not response.ok:
            body = response.body
            text = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
            return error_from_response(system, response.status, text, response.headers)
    return None
