"""The ``subscriptions`` entity set of the BC emulator (api-facts §E.7).

Routes at each API root, not under ``companies(...)``: ``<v2 root>/subscriptions`` and
``<companion root>/subscriptions`` (``/v2.0/<tenant>/<env>/api/v2.0/subscriptions``,
``.../api/bcsync/integration/v1.0/subscriptions``); a root lists and addresses only its own
subscriptions. ``GET`` list (``$filter``, ``$select``, ``$orderby``, ``$top``), ``GET
subscriptions('<id>')``, ``POST`` ``{notificationUrl, resource, clientState}`` -> handshake -> 201,
``PATCH subscriptions('<id>')`` with ``If-Match`` (missing -> 412 ``BadRequest_InvalidToken``,
stale -> 412 ``Request_EntityChanged``) -> handshake -> 200 with ``expirationDateTime`` renewed,
``DELETE`` -> 204 (``If-Match`` optional). A failed handshake -> 400 ``BadRequest`` "The
subscription could not be validated ..."; nothing is created or renewed. Expired subscriptions are
removed when the set is read or written, so renewing one answers 404.

``resource``: a webhook-enabled set of this root for an existing company; as BC, relative or
absolute: ``/api/v2.0/companies(<id>)/customers``, ``api/v2.0/...``, ``companies(<id>)/customers``
(relative to the root), or a full URL. Anything else (contacts, salespeoplePurchasers, line sets,
a single record, a filter, another root's set) -> 400. Subscriptions can't be used inside
``$batch`` (400: the handshake would run inside the batch). The exact wording of BC's handshake
and unsupported-resource errors is not published; these texts follow BC's style.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sandbox.bc_model import BcModel, bc_error, etag
from sandbox.bc_routing import ENVIRONMENT, ROOT_RE, TENANT
from sandbox.bc_schema import COMPANION, V2, VIEWS
from sandbox.bc_subscription_changes import SUBSCRIPTIONS, WEBHOOK_SETS, live_subscriptions
from sandbox.bc_subscription_delivery import NotificationWorker
from sandbox.odata.engine import QueryError, Store, execute, parse_query, validate_fields
from sandbox.odata.engine import select as select_fields
from sandbox.odata.protocol import Request, Response

PATH_RE = re.compile(r"^/subscriptions(?:\((?P<key>[^)]*)\))?/?$")
RESOURCE_RE = re.compile(r"^companies\((?P<company>[^)]*)\)/(?P<set>[A-Za-z0-9_]+)/?$")
FIELDS = ("subscriptionId", "notificationUrl", "resource", "timestamp", "userId", "lastModifiedDateTime",
          "clientState", "expirationDateTime", "systemCreatedAt", "systemCreatedBy", "systemModifiedAt",
          "systemModifiedBy")  # fmt: skip
WRITABLE = ("notificationUrl", "resource", "clientState")
MAX_CLIENT_STATE = 2048
INVALID_TOKEN = (
    "Could not validate the client concurrency token required by the service. "
    "Please provide a valid token in the client request."
)


@dataclass(frozen=True)
class SubscriptionTarget:
    api: str  # V2 or COMPANION
    root: str  # the path of the API root
    key: str | None  # the subscriptionId of subscriptions('<id>')


def subscription_target(path: str) -> SubscriptionTarget | None:
    """The target when ``path`` is a root's ``subscriptions`` set or one of its entities."""
    match = ROOT_RE.match(path)
    if not match or match.group("env") != ENVIRONMENT or match.group("tenant") not in (None, TENANT):
        return None
    found = PATH_RE.match(match.group("rest") or "")
    if found is None:
        return None
    key = found.group("key")
    api = V2 if match.group("api") == V2 else COMPANION
    return SubscriptionTarget(api, path[: match.start("rest")], None if key is None else _key(key))


def _key(text: str) -> str:
    return text.strip().strip("{}").strip("'").lower()


def _seconds(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def public(row: dict[str, Any]) -> dict[str, Any]:
    """The API shape of a stored subscription row."""
    return {"@odata.etag": etag(row), **{name: row[name] for name in FIELDS}}


class SubscriptionApi:
    def __init__(
        self, store: Store, model: BcModel, worker: NotificationWorker, base_url: Callable[[], str]
    ) -> None:
        self.store, self.model, self.worker, self.base_url = store, model, worker, base_url

    def handle(self, req: Request, t: SubscriptionTarget) -> Response:
        if req.in_batch:
            raise bc_error(400, "BadRequest", "Webhook subscriptions can't be created or changed in $batch.")
        route = (req.method, t.key is not None)
        if route == ("GET", False):
            return self._list(req, t)
        if route == ("GET", True):
            with self.store.lock:
                row = self._find(t)
            return Response(200, self._body(t, row), {"ETag": etag(row)})
        if route == ("POST", False):
            return self._create(req, t)
        if route == ("PATCH", True):
            return self._patch(req, t)
        if route == ("DELETE", True):
            return self._delete(req, t)
        raise bc_error(405, "BadRequest_MethodNotAllowed", f"{req.method} is not allowed here.")

    # -- reads --------------------------------------------------------------------------------------

    def _list(self, req: Request, t: SubscriptionTarget) -> Response:
        try:
            opts = parse_query(req.query)
            validate_fields(opts, frozenset(FIELDS), set())
        except QueryError as exc:
            raise bc_error(400, "BadRequest", exc.message) from exc
        with self.store.lock:
            rows = [public(r) for r in live_subscriptions(self.store).values() if r["__api"] == t.api]
        rows = execute(rows, opts, "subscriptionId", False)[: opts.top]
        value = [select_fields(r, opts.select) for r in rows]
        context = f"{self.base_url()}{t.root}/$metadata#subscriptions"
        return Response(200, {"@odata.context": context, "value": value})

    def _find(self, t: SubscriptionTarget) -> dict[str, Any]:
        """The live row (call with the store lock held); 404 when there is none at this root."""
        row = live_subscriptions(self.store).get(t.key or "")
        if row is None or row["__api"] != t.api:
            raise bc_error(
                404,
                "Internal_RecordNotFound",
                "The API Webhook Subscription does not exist. Identification fields and values: "
                f"Subscription Id='{t.key}'",
            )
        return row

    def _body(self, t: SubscriptionTarget, row: dict[str, Any]) -> dict[str, Any]:
        context = f"{self.base_url()}{t.root}/$metadata#subscriptions/$entity"
        return {"@odata.context": context, **public(row)}

    # -- writes -------------------------------------------------------------------------------------

    def _create(self, req: Request, t: SubscriptionTarget) -> Response:
        given = _fields(req.json())
        for name in ("notificationUrl", "resource"):
            if not given.get(name):
                raise bc_error(400, "BadRequest", f"The property '{name}' must have a value.")
        company, entity_set = self._resource(given["resource"], t.api)
        self._handshake(given["notificationUrl"])
        now, stamp, user = time.time(), self.store.stamp(), _user(req)
        with self.store.lock:
            if len(live_subscriptions(self.store)) >= self.worker.knobs.max_subscriptions:
                raise bc_error(
                    400,
                    "BadRequest",
                    f"The maximum number of webhook subscriptions ({self.worker.knobs.max_subscriptions}) "
                    "has been reached.",
                )
            sid, version = uuid.uuid4().hex, self.store.next_version()
            row = {"subscriptionId": sid, "notificationUrl": given["notificationUrl"],
                   "resource": given["resource"], "timestamp": version, "userId": user,
                   "lastModifiedDateTime": _seconds(now), "clientState": given.get("clientState") or "",
                   "expirationDateTime": "", "systemCreatedAt": stamp, "systemCreatedBy": user,
                   "systemModifiedAt": stamp, "systemModifiedBy": user, "id": sid, "__version": version,
                   "__api": t.api, "__view": entity_set, "__company": company}  # fmt: skip
            self._renew(row, now)
            self.store.table(SUBSCRIPTIONS)[sid] = row
        location = f"{self.base_url()}{t.root}/subscriptions('{sid}')"
        return Response(201, self._body(t, row), {"ETag": etag(row), "Location": location})

    def _patch(self, req: Request, t: SubscriptionTarget) -> Response:
        with self.store.lock:
            current = self._find(t)
            _check_etag(req, current, required=True)
        given = {name: current[name] for name in WRITABLE} | _fields(req.json())
        if not given.get("notificationUrl") or not given.get("resource"):
            raise bc_error(400, "BadRequest", "notificationUrl and resource must have a value.")
        company, entity_set = self._resource(given["resource"], t.api)
        self._handshake(given["notificationUrl"])
        now, stamp = time.time(), self.store.stamp()
        with self.store.lock:
            row = dict(self._find(t))  # again: it may have changed or gone during the handshake
            _check_etag(req, row, required=True)
            version = self.store.next_version()
            row.update({name: given[name] or "" for name in WRITABLE})
            row.update({"timestamp": version, "__version": version, "lastModifiedDateTime": _seconds(now),
                        "systemModifiedAt": stamp, "systemModifiedBy": _user(req),
                        "__view": entity_set, "__company": company})  # fmt: skip
            self._renew(row, now)
            self.store.table(SUBSCRIPTIONS)[row["subscriptionId"]] = row
        return Response(200, self._body(t, row), {"ETag": etag(row)})

    def _delete(self, req: Request, t: SubscriptionTarget) -> Response:
        with self.store.lock:
            row = self._find(t)
            _check_etag(req, row, required=False)
            del self.store.table(SUBSCRIPTIONS)[row["subscriptionId"]]
        return Response(204)

    def _renew(self, row: dict[str, Any], now: float) -> None:
        expires = now + self.worker.knobs.expiry_s
        row["__expires"], row["expirationDateTime"] = expires, _seconds(expires)

    def _handshake(self, url: str) -> None:
        passed, detail = self.worker.handshake(url)
        if not passed:
            raise bc_error(
                400,
                "BadRequest",
                "The subscription could not be validated: the notification URL must answer the "
                f"handshake with HTTP 200 and the validationToken as the body ({detail}).",
            )

    def _resource(self, resource: Any, api: str) -> tuple[str, str]:
        """``(company id, entity set)`` of a subscribable resource of root ``api``; 400 otherwise."""
        text = str(resource).strip()
        rest = _relative(text, api)
        found = RESOURCE_RE.match(rest or "")
        if rest is None or found is None or "?" in text:
            raise bc_error(
                400,
                "BadRequest",
                f"The resource '{text}' is not valid for a subscription: use "
                f"/api/{api}/companies(<id>)/<entity set>.",
            )
        company, entity_set = _key(found.group("company")), found.group("set")
        view = VIEWS.get(entity_set)
        if view is None or view.api != api or entity_set not in WEBHOOK_SETS[api]:
            raise bc_error(
                400, "BadRequest", f"The resource '{entity_set}' is not supported for webhook subscriptions."
            )
        with self.store.lock:
            if self.model.by_id("company", "", company) is None:
                raise bc_error(400, "BadRequest", f"The resource '{text}' names an unknown company.")
        return company, entity_set


def _relative(text: str, api: str) -> str | None:
    """``companies(...)/<set>`` of a resource addressed to root ``api`` (None: another root)."""
    path = urlsplit(text).path if "://" in text else text.split("?")[0]
    match = ROOT_RE.match(path)
    if match:
        here = match.group("env") == ENVIRONMENT and match.group("tenant") in (None, TENANT)
        same = (V2 if match.group("api") == V2 else COMPANION) == api
        return (match.group("rest") or "").lstrip("/") if here and same else None
    path = path.lstrip("/")
    if path.startswith("api/"):
        prefix = f"api/{api}/"
        return path[len(prefix) :] if path.startswith(prefix) else None
    return path


def _fields(body: Any) -> dict[str, Any]:
    """The writable fields of a request body (read-only ones are ignored, as BC's examples send
    them); 400 for an unknown property or a bad value."""
    if not isinstance(body, dict):
        raise bc_error(400, "BadRequest", "The request body must be a JSON object.")
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@odata") or (name in FIELDS and name not in WRITABLE):
            continue
        if name not in WRITABLE:
            raise bc_error(
                400,
                "BadRequest",
                f"The property '{name}' does not exist on type 'Microsoft.NAV.subscriptions'. Make sure "
                "to only use property names that are defined by the type.",
            )
        if value is not None and not isinstance(value, str):
            raise bc_error(400, "BadRequest", f"Cannot convert the literal '{value}' to the expected type "
                                              "'Edm.String'.")  # fmt: skip
        out[name] = value or ""
    _check_values(out)
    return out


def _check_values(given: dict[str, Any]) -> None:
    url = given.get("notificationUrl")
    if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
        raise bc_error(400, "BadRequest", f"The notificationUrl '{url}' must be an absolute http(s) URL.")
    state = given.get("clientState") or ""
    if len(state) > MAX_CLIENT_STATE:
        raise bc_error(
            400,
            "Application_StringExceededLength",
            f"The length of the string is {len(state)}, but it must be less than or equal to "
            f"{MAX_CLIENT_STATE} characters. Value: {state[:50]}...",
        )


def _check_etag(req: Request, row: dict[str, Any], *, required: bool) -> None:
    given = (req.header("If-Match") or "").strip()
    if not given:
        if required:
            raise bc_error(412, "BadRequest_InvalidToken", INVALID_TOKEN)
        return
    if given != "*" and given.removeprefix("W/") != etag(row).removeprefix("W/"):
        raise bc_error(412, "Request_EntityChanged", "Another user has already changed the record.")


def _user(req: Request) -> str:
    """The BC user id of the caller (stable per app / user)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bc-user/{req.user_key}"))
