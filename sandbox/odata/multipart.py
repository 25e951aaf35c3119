"""OData ``multipart/mixed`` batch bodies (Dataverse ``$batch``, api-facts §B.4).

``parse_batch`` turns a request body into a list whose items are :class:`BatchPart` (top-level
request) or ``list[BatchPart]`` (a change set). ``format_batch`` writes the answer with
``batchresponse_<guid>`` / ``changesetresponse_<guid>`` boundaries and per-part status lines.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus

CRLF = "\r\n"


class BatchFormatError(ValueError):
    pass


@dataclass
class BatchPart:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


@dataclass
class PartResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_id: str | None = None


def boundary_of(content_type: str) -> str:
    match = re.search(r'boundary="?([^";]+)"?', content_type or "", re.IGNORECASE)
    if not match:
        raise BatchFormatError("The batch request must have a multipart content type with a boundary.")
    return match.group(1).strip()


def _split(text: str, boundary: str) -> list[str]:
    delimiter = re.compile(rf"(?:^|\r?\n)--{re.escape(boundary)}(--)?[ \t]*(?=\r?\n|$)")
    parts: list[str] = []
    start: int | None = None
    for match in delimiter.finditer(text):
        if start is not None:
            parts.append(re.sub(r"^\r?\n", "", text[start : match.start()], count=1))
        if match.group(1):
            return parts
        start = match.end()
    raise BatchFormatError(f"The batch body does not end with '--{boundary}--'.")


def _head_body(text: str) -> tuple[dict[str, str], str]:
    pieces = re.split(r"\r?\n\r?\n", text, maxsplit=1)
    headers: dict[str, str] = {}
    for line in pieces[0].splitlines():
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, pieces[1] if len(pieces) > 1 else ""


def _request_part(text: str) -> BatchPart:
    outer, inner = _head_body(text)
    lines = re.split(r"\r?\n", inner.lstrip("\r\n"), maxsplit=1)
    request_line = lines[0].split()
    if len(request_line) < 2:
        raise BatchFormatError("A batch part has no request line.")
    rest = lines[1] if len(lines) > 1 else ""
    headers, body = ({}, rest) if re.match(r"^\r?\n", rest) else _head_body(rest)
    return BatchPart(
        request_line[0].upper(), request_line[1], headers, body.strip().encode(), outer.get("content-id")
    )


def parse_batch(content_type: str, body: bytes) -> list[BatchPart | list[BatchPart]]:
    text = body.decode("utf-8")
    items: list[BatchPart | list[BatchPart]] = []
    for part in _split(text, boundary_of(content_type)):
        headers, rest = _head_body(part)
        part_type = headers.get("content-type", "")
        if part_type.lower().startswith("multipart/mixed"):
            changeset = [_request_part(p) for p in _split(rest, boundary_of(part_type))]
            for inner in changeset:
                if inner.method == "GET":
                    raise BatchFormatError("A change set cannot contain a GET request.")
            items.append(changeset)
        else:
            items.append(_request_part(part))
    return items


def _format_part(response: PartResponse) -> list[str]:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if response.content_id:
        lines.append(f"Content-ID: {response.content_id}")
    reason = HTTPStatus(response.status).phrase if response.status in HTTPStatus._value2member_map_ else ""
    lines += ["", f"HTTP/1.1 {response.status} {reason}".rstrip()]
    lines += [f"{k}: {v}" for k, v in response.headers.items()]
    lines += ["", response.body.decode("utf-8")]
    return lines


def format_batch(items: list[PartResponse | list[PartResponse]]) -> tuple[str, bytes]:
    """``(content_type, body)`` of a batch answer."""
    batch = f"batchresponse_{uuid.uuid4()}"
    out: list[str] = []
    for item in items:
        out.append(f"--{batch}")
        if isinstance(item, list):
            changeset = f"changesetresponse_{uuid.uuid4()}"
            out += [f"Content-Type: multipart/mixed; boundary={changeset}", ""]
            for response in item:
                out += [f"--{changeset}", *_format_part(response)]
            out.append(f"--{changeset}--")
        else:
            out += _format_part(item)
    out += [f"--{batch}--", ""]
    return f"multipart/mixed; boundary={batch}", CRLF.join(out).encode("utf-8")
