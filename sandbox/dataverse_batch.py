"""Multipart ``$batch`` of the Dataverse emulator (api-facts §B.4).

Change sets are atomic (the store is restored when a part fails; the change set then answers with
that one error part), ``Content-ID`` values can be referenced as ``$n`` in later URLs and
``@odata.bind`` values of the same change set, and ``Prefer: odata.continue-on-error`` keeps
going after a failed part (otherwise the batch stops and answers 400). Injected faults that name
an operation's method (``POST``) and entity apply to each part as to a request of its own. A
rolled-back change set raises no webhook event; the committed parts do, once the whole batch is
done.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from sandbox.dataverse_model import dv_error
from sandbox.odata.multipart import BatchFormatError, BatchPart, PartResponse, format_batch, parse_batch
from sandbox.odata.protocol import ApiError, Request, Response, make_headers

if TYPE_CHECKING:
    from sandbox.dataverse_emulator import DataverseEmulator

API = "/api/data/v9.2/"
MAX_BATCH = 1000


def run_batch(emulator: DataverseEmulator, req: Request) -> Response:
    try:
        items = parse_batch(req.header("Content-Type") or "", req.body)
    except (BatchFormatError, UnicodeDecodeError) as exc:
        raise dv_error(400, "0x80060888", str(exc)) from exc
    if sum(len(i) if isinstance(i, list) else 1 for i in items) > MAX_BATCH:
        raise dv_error(400, "0x80060888", f"The batch holds more than {MAX_BATCH} requests.")
    go_on = "odata.continue-on-error" in req.prefer()
    results: list[PartResponse | list[PartResponse]] = []
    failed = False
    with emulator.store.lock:
        for item in items:
            result = (
                _run_changeset(emulator, req, item)
                if isinstance(item, list)
                else _run_part(emulator, req, item, {})
            )
            results.append(result)
            if isinstance(result, PartResponse) and result.status >= 400:
                failed = True
                if not go_on:
                    break
    content_type, body = format_batch(results)
    headers = {"Content-Type": content_type}
    if go_on:
        headers["Preference-Applied"] = "odata.continue-on-error"
    return Response(400 if failed and not go_on else 200, body, headers)


def _run_changeset(
    emulator: DataverseEmulator, req: Request, parts: list[BatchPart]
) -> PartResponse | list[PartResponse]:
    snapshot, mark = emulator.store.snapshot(), emulator.webhooks.mark()
    refs: dict[str, str] = {}
    responses: list[PartResponse] = []
    for part in parts:
        response = _run_part(emulator, req, part, refs)
        if response.status >= 400:
            emulator.store.restore(snapshot)
            emulator.webhooks.rollback(mark)
            return response
        if part.content_id and "OData-EntityId" in response.headers:
            refs[part.content_id] = response.headers["OData-EntityId"]
        responses.append(response)
    return responses


def _run_part(
    emulator: DataverseEmulator, req: Request, part: BatchPart, refs: dict[str, str]
) -> PartResponse:
    url = _resolve_ref(part.url, refs)
    split = urlsplit(url)
    path = split.path if split.path.startswith("/") else API + split.path
    inner = Request(
        part.method,
        path,
        dict(parse_qsl(split.query, keep_blank_values=True)),
        make_headers(part.headers),
        _resolve_body_refs(part.body, refs),
        claims=req.claims,
        user_key=req.user_key,
        in_batch=True,
    )
    entity = emulator.entity_of(inner)
    emulator.count(part.method, entity)
    try:
        emulator.inject_part_fault(inner, part.method, entity)  # a fault of one operation
        response = emulator.route(inner)
    except ApiError as exc:
        response = emulator.error_response(exc)
    data, content_type = response.encode()
    headers = {"OData-Version": "4.0", **response.headers}
    if content_type:
        headers["Content-Type"] = content_type
    return PartResponse(response.status, headers, data, part.content_id)


def _resolve_ref(url: str, refs: dict[str, str]) -> str:
    match = re.match(r"^\$(\w+)(.*)$", url)
    if match and match.group(1) in refs:
        return refs[match.group(1)] + match.group(2)
    return url


def _resolve_body_refs(body: bytes, refs: dict[str, str]) -> bytes:
    if not refs or not body.strip():
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict):
        for name, value in data.items():
            if name.endswith("@odata.bind") and isinstance(value, str):
                data[name] = _resolve_ref(value, refs)
    return json.dumps(data).encode()
