"""Business Central API v2.0 + companion API emulator (api-facts §E, bc-companion-api.md).

Roots: ``/v2.0/<tenant>/<env>/api/v2.0`` and ``/v2.0/<tenant>/<env>/api/bcsync/integration/v1.0``;
company-scoped sets ``companies(<id>)/<set>``, nested lines ``salesOrders(<id>)/salesOrderLines``,
``$expand``, server paging (max 20000, larger ``odata.maxpagesize`` -> 413), ETags with
``If-Match`` required on PATCH (stale -> 409 ``Request_EntityChanged``), JSON ``$batch`` with
``Isolation: snapshot``. Bound actions on sales documents live in :mod:`sandbox.bc_actions`;
BC's back office on them (release, posting, payments) in the admin routes and methods of
:class:`sandbox.bc_documents_admin.SalesBackOffice`. Webhook subscriptions (``<root>/subscriptions``
and their notifications) are :class:`sandbox.bc_subscriptions.BcSubscriptions`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote, urlencode

from sandbox import seed
from sandbox.bc_actions import run_action
from sandbox.bc_documents_admin import SalesBackOffice
from sandbox.bc_model import BcModel, bc_error, etag
from sandbox.bc_routing import ENVIRONMENT, TENANT, Target, not_found, resolve, run_batch
from sandbox.bc_schema import COMPANION, NESTED_ONLY, VIEWS, BcView
from sandbox.bc_subscription_api import subscription_target
from sandbox.bc_subscriptions import BcSubscriptions, SubscriptionStore
from sandbox.odata.engine import (
    OrderBy,
    QueryError,
    QueryOptions,
    execute,
    paginate,
    parse_query,
    token_page_size,
    validate_fields,
)
from sandbox.odata.engine import select as select_fields
from sandbox.odata.filter import fields_in, key_values
from sandbox.odata.server import ApiError, EmulatorServer, Request, Response, TokenVerifier

AUDIENCE = "https://api.businesscentral.dynamics.com"
MAX_PAGE = 20000
_DEFAULT_ORDER = ("number", "code", "sequence", "lineNo")


class BcEmulator(BcSubscriptions, SalesBackOffice, EmulatorServer):
    system = "bc"
    audience = AUDIENCE

    def __init__(self, token_verifier: TokenVerifier | None = None, *, page_size: int = MAX_PAGE):
        super().__init__(token_verifier, page_size, MAX_PAGE)
        self.store = SubscriptionStore()
        self.model = BcModel(self.store)
        self.company_id = seed.BC_COMPANY_ID
        self._install_subscriptions()

    @property
    def api_url(self) -> str:
        return f"{self.url}/v2.0/{TENANT}/{ENVIRONMENT}/api/v2.0"

    @property
    def companion_url(self) -> str:
        return f"{self.url}/v2.0/{TENANT}/{ENVIRONMENT}/api/{COMPANION}"

    def seed_demo(self) -> None:
        with self.store.lock:
            self.notifications.reset()
            self.store.clear()
            seed.seed_bc(self)

    # -- record API (as a BC user would) ---------------------------------------------------------

    def _view(self, entity_set: str) -> BcView:
        view = VIEWS.get(entity_set)
        if view is None:
            raise not_found(entity_set)
        return view

    def _company(self, view: BcView) -> str:
        return self.company_id if view.scoped else ""

    def insert(self, entity_set: str, row: dict[str, Any], *, by_user: str | None = None) -> dict:
        view = self._view(entity_set)
        created = self.model.create(view, row, self._company(view), admin=True)
        return self.model.project(view, created)

    def update(
        self, entity_set: str, id: str, changes: dict[str, Any], *, by_user: str | None = None
    ) -> dict:
        view = self._view(entity_set)
        return self.model.project(view, self.model.update(view, id, changes, self._company(view), admin=True))

    def delete(self, entity_set: str, id: str) -> None:
        view = self._view(entity_set)
        self.model.delete(view, id, self._company(view), admin=True)

    def rows(self, entity_set: str) -> list[dict]:
        view = self._view(entity_set)
        with self.store.lock:
            stored = self.model.view_rows(view, self._company(view))
            return [self.model.project(view, r) for r in stored]

    def get(self, entity_set: str, id: str) -> dict | None:
        view = self._view(entity_set)
        row = self.model.find(view, self._company(view), id)
        return None if row is None else self.model.project(view, row)

    def store_fields(self, entity_set: str, id: str, fields: dict[str, Any]) -> None:
        """Set stored fields no view shows (the VAT Prod. Posting Group of a resource or G/L
        account), as BC's own pages would."""
        view = self._view(entity_set)
        with self.store.lock:
            row = self.model.find(view, self._company(view), id)
            if row is None:
                raise self.model.not_found(view, id)
            self.model.put(view.table, {**row, **fields})

    # -- errors -------------------------------------------------------------------------------------

    def error_response(self, exc: ApiError) -> Response:
        message = f"{exc.message}  CorrelationId:  {uuid.uuid4()}."
        return Response(exc.status, {"error": {"code": exc.code, "message": message}}, dict(exc.headers))

    def auth_error(self, message: str) -> ApiError:
        header = (
            'Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
            f'resource_id="{AUDIENCE}"'
        )
        return ApiError(
            401,
            "Authentication_InvalidCredentials",
            f"The server has rejected the client credentials. {message}",
            {"WWW-Authenticate": header},
        )

    def throttle_error(self, retry_after: int) -> ApiError:
        return ApiError(
            429,
            "Application_TooManyRequests",
            "Too many requests reached: the limit is 6000 requests per 5 minutes per user.",
            {"Retry-After": str(retry_after)},
        )

    def fault_error(self, status: int) -> ApiError:
        if status == 429:
            return self.throttle_error(1)
        code = {
            500: "Internal_ServerError",
            503: "Internal_ServiceUnavailable",
            504: "Internal_GatewayTimeout",
            408: "Internal_OperationCanceled",
        }
        return ApiError(
            status,
            code.get(status, f"Internal_Error{status}"),
            f"The service failed to process the request (injected HTTP {status}).",
        )

    # -- routing ------------------------------------------------------------------------------------

    def entity_of(self, req: Request) -> str | None:
        if subscription_target(req.path) is not None:
            return "subscriptions"
        try:
            target = resolve(self.model, req.path)
        except ApiError:
            return None
        if target.kind == "batch":
            return "$batch"
        return target.view.name if target.view else None

    def route(self, req: Request) -> Response:
        answer = self.subscription_route(req)
        if answer is not None:
            return answer
        t = resolve(self.model, req.path)
        if t.kind == "service":
            names = [v.name for v in VIEWS.values() if v.api == t.api and v.name not in NESTED_ONLY]
            value = [{"name": n, "kind": "EntitySet", "url": n} for n in names]
            return Response(200, {"@odata.context": f"{self.url}{t.root}/$metadata", "value": value})
        if t.kind == "batch":
            if req.method != "POST" or req.in_batch:
                raise bc_error(405, "BadRequest_MethodNotAllowed", "Use POST for $batch.")
            return run_batch(self, req, t)
        if t.kind == "action":
            if req.method != "POST":
                raise bc_error(405, "BadRequest_MethodNotAllowed", "Bound actions are invoked with POST.")
            run_action(self.model, t.view, str(t.key), str(t.company), str(t.action))  # type: ignore[arg-type]
            return Response(204)
        return self._crud(req, t)

    def _crud(self, req: Request, t: Target) -> Response:
        view = t.view
        assert view is not None
        if req.method == "GET":
            return self._get_entity(req, t) if t.key else self._list(req, t)
        if view.get_only or (req.method == "PATCH" and not view.patch):
            raise bc_error(
                405,
                "BadRequest_MethodNotAllowed",
                f"'{req.method}' requests for '{view.name}' of EdmType 'Entity' are not allowed "
                "within Dynamics 365 Business Central OData web services.",
            )
        if req.method == "POST" and t.key is None:
            return self._create(req, t)
        if req.method == "PATCH" and t.key:
            return self._patch(req, t)
        if req.method == "DELETE" and t.key:
            return self._delete(req, t)
        raise bc_error(405, "BadRequest_MethodNotAllowed", f"{req.method} is not allowed here.")

    # -- reads --------------------------------------------------------------------------------------

    def _options(self, req: Request, view: BcView) -> QueryOptions:
        try:
            opts = parse_query(req.query)
            validate_fields(opts, view.names, set(view.nav) | set(view.single_nav))
            for item in opts.expand:
                child = VIEWS[view.nav[item.name][0] if item.name in view.nav else view.single_nav[item.name]]
                validate_fields(item.options, child.names, set())
        except QueryError as exc:
            message = exc.message
            if exc.field:
                message = (
                    f"Could not find a property named '{exc.field}' on type "
                    f"'Microsoft.NAV.{view.entity_type}'."
                )
            raise bc_error(400, "BadRequest", message) from exc
        return opts

    def _stored(self, t: Target, keys: set[str] | None = None) -> list[dict]:
        """The rows of the target; only those with an id in ``keys`` when given (a key lookup,
        as BC's SQL does for ``id eq ... or id eq ...``: the filter still runs on them)."""
        view = t.view
        assert view is not None
        if keys is None:
            rows = self.model.view_rows(view, t.company or "")
        else:
            found = (self.model.find(view, t.company or "", k) for k in sorted(keys))
            rows = [r for r in found if r is not None]
        if t.parent is not None:
            rows = [r for r in rows if r.get(t.parent[0]) == t.parent[1]]
        return rows

    def _list(self, req: Request, t: Target) -> Response:
        view = t.view
        assert view is not None
        opts, prefer = self._options(req, view), req.prefer()
        _default_order(view, opts)
        size = self._page_size(prefer, opts)
        needed = {"id", *(o.field for o in opts.orderby)} | (fields_in(opts.filter) if opts.filter else set())
        with self.store.lock:  # filter/sort on the fields they need, project only the page fully
            keys = key_values(opts.filter, "id") if opts.filter else None
            light = [{**self.model.project(view, r, needed), "\0row": r} for r in self._stored(t, keys)]
            page = paginate(execute(light, opts, "id", False), opts, "id", False, size)
            full = [self.model.project(view, r["\0row"]) for r in page.rows]
            value = [self._shape(view, r, opts, t.company or "") for r in full]
        body: dict[str, Any] = {"@odata.context": f"{self.url}{t.root}/$metadata#{t.context}", "value": value}
        if opts.count:
            body["@odata.count"] = page.total
        if page.next_token:
            params = {k: v for k, v in req.query.items() if k != "$skiptoken"}
            params["$skiptoken"] = page.next_token
            query = urlencode(params, quote_via=quote, safe="$(),'=:/*")
            body["@odata.nextLink"] = f"{self.url}{req.path}?{query}"
        headers = {"Preference-Applied": f"odata.maxpagesize={size}"} if "odata.maxpagesize" in prefer else {}
        return Response(200, body, headers)

    def _page_size(self, prefer: dict[str, str], opts: QueryOptions) -> int:
        if "odata.maxpagesize" not in prefer:
            return token_page_size(opts.skiptoken) or self.page_size
        try:
            size = int(prefer["odata.maxpagesize"])
        except ValueError as exc:
            raise bc_error(400, "BadRequest", "odata.maxpagesize must be an integer.") from exc
        if size > MAX_PAGE:
            raise bc_error(
                413,
                "RequestEntityTooLarge",
                f"The page size {size} exceeds the maximum page size of {MAX_PAGE}.",
            )
        return max(1, size)

    def _shape(self, view: BcView, row: dict, opts: QueryOptions, company: str) -> dict:
        out = dict(row)
        for item in opts.expand:
            if item.name in view.single_nav:
                other = VIEWS[view.single_nav[item.name]]
                stored = self.model.by_id(other.table, company, row["id"])
                out[item.name] = (
                    None
                    if stored is None
                    else select_fields(self.model.project(other, stored), item.options.select)
                )
                continue
            child_name, fk = view.nav[item.name]
            child = VIEWS[child_name]
            kids = [
                self.model.project(child, r)
                for r in self.model.view_rows(child, company)
                if r.get(fk) == row["id"]
            ]
            _default_order(child, item.options)
            kids = execute(kids, item.options, "id", False)[: item.options.top]
            out[item.name] = [self._shape(child, k, item.options, company) for k in kids]
        return select_fields(out, opts.select, tuple(i.name for i in opts.expand))

    def _entity(self, t: Target) -> dict:
        view = t.view
        assert view is not None and t.key is not None
        row = self.model.find(view, t.company or "", t.key)
        if row is None or (t.parent is not None and row.get(t.parent[0]) != t.parent[1]):
            raise self.model.not_found(view, t.key)
        return row

    def _entity_body(self, t: Target, row: dict, opts: QueryOptions | None = None) -> dict:
        view = t.view
        assert view is not None
        body = self._shape(view, self.model.project(view, row), opts or QueryOptions(), t.company or "")
        body["@odata.context"] = f"{self.url}{t.root}/$metadata#{t.context}/$entity"
        return body

    def _get_entity(self, req: Request, t: Target) -> Response:
        opts = self._options(req, t.view)  # type: ignore[arg-type]
        row = self._entity(t)
        return Response(200, self._entity_body(t, row, opts), {"ETag": etag(row)})

    # -- writes -------------------------------------------------------------------------------------

    def _create(self, req: Request, t: Target) -> Response:
        row = self.model.create(t.view, req.json(), t.company or "", parent=t.parent)  # type: ignore[arg-type]
        location = f"{self.url}{req.path}({row['id']})"
        headers = {"ETag": etag(row), "Location": location}
        if "return-no-content" in req.prefer() or req.prefer().get("return") == "minimal":
            return Response(204, None, headers)
        return Response(201, self._entity_body(t, row), headers)

    def _check_etag(self, req: Request, row: dict, required: bool) -> None:
        given = (req.header("If-Match") or "").strip()
        if not given:
            if required:
                raise bc_error(
                    400,
                    "BadRequest_InvalidToken",
                    "Could not validate the client concurrency token required by the service. "
                    "Please provide a valid token in the client request.",
                )
            return
        if given == "*":
            return
        if not re.match(r'^(W/)?".+"$', given):
            raise bc_error(
                400,
                "BadRequest_InvalidToken",
                "Could not validate the client concurrency token required by the service. "
                "Please provide a valid token in the client request.",
            )
        if given != etag(row) and given.removeprefix("W/") != etag(row).removeprefix("W/"):
            raise bc_error(409, "Request_EntityChanged", "Another user has already changed the record.")

    def _patch(self, req: Request, t: Target) -> Response:
        with self.store.lock:
            row = self._entity(t)
            self._check_etag(req, row, required=True)
            updated = self.model.update(t.view, row["id"], req.json(), t.company or "")  # type: ignore[arg-type]
        return Response(200, self._entity_body(t, updated), {"ETag": etag(updated)})

    def _delete(self, req: Request, t: Target) -> Response:
        with self.store.lock:
            row = self._entity(t)
            self._check_etag(req, row, required=False)
            self.model.delete(t.view, row["id"], t.company or "")  # type: ignore[arg-type]
        return Response(204)


def _default_order(view: BcView, opts: QueryOptions) -> None:
    """BC lists in primary-key order unless ``$orderby`` says otherwise."""
    if not opts.orderby and view.order:
        opts.orderby = [OrderBy(name) for name in view.order]
    elif not opts.orderby:
        opts.orderby = [OrderBy(f.api) for f in view.fields if f.api in _DEFAULT_ORDER][:1]
