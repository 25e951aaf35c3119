"""URL routing and the JSON ``$batch`` of the BC emulator.

``resolve`` turns a path under ``/v2.0/<tenant>/<env>/api/...`` into a :class:`Target` (service
document, ``$batch``, collection, entity or bound action) with its company, view, key and parent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.bc_model import BcModel, bc_error
from sandbox.bc_schema import COMPANION, NESTED_ONLY, V2, VIEWS, BcView
from sandbox.odata.protocol import ApiError, Request, Response, make_headers

if TYPE_CHECKING:
    from sandbox.bc_emulator import BcEmulator

TENANT, ENVIRONMENT = "sandbox-tenant", "production"
MAX_BATCH = 100
ROOT_RE = re.compile(
    r"^/v2\.0/(?:(?P<tenant>[^/]+)/)?(?P<env>[^/]+)/api/"
    r"(?P<api>v2\.0|bcsync/integration/v1\.0)(?P<rest>/.*)?$"
)
SEGMENT_RE = re.compile(r"^(?P<name>[\w.$]+)(?:\((?P<key>[^)]*)\))?$")


@dataclass
class Target:
    kind: str  # service | batch | collection | entity | action
    api: str
    root: str
    company: str | None = None
    view: BcView | None = None
    key: str | None = None
    parent: tuple[str, str] | None = None
    action: str | None = None
    context: str = ""


def not_found(segment: str) -> ApiError:
    return bc_error(404, "BadRequest_NotFound", f"Resource not found for the segment '{segment}'.")


def resolve(model: BcModel, path: str) -> Target:
    match = ROOT_RE.match(path)
    if not match or match.group("env") != ENVIRONMENT or match.group("tenant") not in (None, TENANT):
        raise not_found(path)
    api = V2 if match.group("api") == V2 else COMPANION
    root = path[: match.start("rest")] if match.group("rest") else path
    segments = [s for s in (match.group("rest") or "").split("/") if s]
    if not segments:
        return Target("service", api, root)
    if segments == ["$batch"]:
        return Target("batch", api, root)
    parsed = [SEGMENT_RE.match(s) for s in segments]
    if any(p is None for p in parsed) or parsed[0].group("name") != "companies" or len(parsed) > 4:  # type: ignore[union-attr]
        raise not_found(segments[0])
    company = _key(parsed[0].group("key"))  # type: ignore[union-attr]
    if len(parsed) == 1:
        kind = "entity" if company else "collection"
        return Target(kind, api, root, None, VIEWS["companies"], company, context="companies")
    if model.by_id("company", "", company) is None:
        raise not_found(segments[0])
    return _resolve_set(model, Target("collection", api, root, company), parsed[1:])


def _resolve_set(model: BcModel, t: Target, parsed: list[Any]) -> Target:
    name, key = parsed[0].group("name"), _key(parsed[0].group("key"))
    view = VIEWS.get(name)
    if view is None or view.api != t.api or not view.scoped or name in NESTED_ONLY:
        raise not_found(name)
    t.view, t.key, t.kind = view, key, "entity" if key else "collection"
    t.context = f"companies({t.company})/{name}"
    if len(parsed) == 1:
        return t
    sub, sub_key = parsed[1].group("name"), _key(parsed[1].group("key"))
    if key is None:
        raise not_found(sub)
    if sub.startswith("Microsoft.NAV.") and len(parsed) == 2:
        t.kind, t.action = "action", sub[len("Microsoft.NAV.") :]
        return t
    if sub in view.single_nav and len(parsed) == 2:
        t.view = VIEWS[view.single_nav[sub]]
        return t
    if sub not in view.nav or len(parsed) > 2:
        raise not_found(sub)
    if model.find(view, t.company or "", key) is None:
        raise model.not_found(view, key)
    child, fk = view.nav[sub]
    t.view, t.parent, t.key = VIEWS[child], (fk, key), sub_key
    t.kind, t.context = "entity" if sub_key else "collection", f"{t.context}({key})/{sub}"
    return t


def run_batch(emulator: BcEmulator, req: Request, t: Target) -> Response:
    doc = req.json()
    ops = doc.get("requests") if isinstance(doc, dict) else None
    if not isinstance(ops, list):
        raise bc_error(400, "BadRequest", 'The batch body must be {"requests": [...]}.')
    if len(ops) > MAX_BATCH:
        raise bc_error(
            400, "BadRequest", f"The batch holds {len(ops)} operations; the maximum is {MAX_BATCH}."
        )
    atomic = (req.header("Isolation") or "").strip().lower() == "snapshot"
    responses: list[dict[str, Any]] = []
    with emulator.store.lock:
        snapshot = emulator.store.snapshot() if atomic else None
        for op in ops:
            response = _run_op(emulator, req, t, op if isinstance(op, dict) else {})
            if snapshot is not None and response["status"] >= 400:
                emulator.store.restore(snapshot)
                responses = [response]  # an atomic batch fails as a whole with this error
                break
            responses.append(response)
    return Response(200, {"responses": responses})


def _run_op(emulator: BcEmulator, req: Request, t: Target, op: dict[str, Any]) -> dict[str, Any]:
    url = str(op.get("url") or "")
    split = urlsplit(url)
    path = split.path
    if not url.startswith(("http://", "https://", "/")):
        path = f"{t.root}/{split.path}"
    elif path.startswith("/api/"):
        path = f"/v2.0/{TENANT}/{ENVIRONMENT}{path}"
    body = op.get("body")
    inner = Request(
        str(op.get("method") or "GET").upper(),
        path,
        dict(parse_qsl(split.query, keep_blank_values=True)),
        make_headers({str(k): str(v) for k, v in (op.get("headers") or {}).items()}),
        json.dumps(body).encode() if body is not None else b"",
        claims=req.claims,
        user_key=req.user_key,
        in_batch=True,
    )
    emulator.count(inner.method, emulator.entity_of(inner))
    try:
        response = emulator.route(inner)
    except ApiError as exc:
        response = emulator.error_response(exc)
    headers = {k: v for k, v in response.headers.items() if k in ("ETag", "Location")}
    if response.body is not None:
        headers["content-type"] = "application/json; odata.metadata=minimal"
    item: dict[str, Any] = {"id": op.get("id"), "status": response.status, "headers": headers}
    if response.body is not None:
        item["body"] = response.body
    return item


def _key(text: str | None) -> str | None:
    if text is None:
        return None
    value = text.strip().strip("{}").strip("'")
    return value.lower() if value else None
