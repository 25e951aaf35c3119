"""Dataverse Web API v9.2 emulator (api-facts §A, §B, §C) on a real HTTP server.

Entity sets and keys of §A.3 at ``/api/data/v9.2/``; queries with ``$filter/$select/$orderby/
$top/$expand/$count``, server paging (``Prefer: odata.maxpagesize``), ETags and conditional
writes, ``@odata.bind``, ``Prefer: return=representation``, ``WhoAmI`` and multipart ``$batch``.
The caller is the systemuser whose ``applicationid`` equals the token's ``appid``. The quote
actions are in :mod:`sandbox.dataverse_quote_actions`; webhook registration tables and delivery
in :mod:`sandbox.dataverse_webhook_registry` and :mod:`sandbox.dataverse_webhooks`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from sandbox import seed
from sandbox.dataverse_batch import run_batch
from sandbox.dataverse_model import GUID_RE, DataverseModel, dv_error, etag, not_found
from sandbox.dataverse_options import OptionSets
from sandbox.dataverse_options import route as route_options
from sandbox.dataverse_quote_actions import route_action
from sandbox.dataverse_schema import ENTITIES, EntityDef
from sandbox.dataverse_webhook_registry import refuse_platform_write
from sandbox.dataverse_webhooks import WebhookEmulator
from sandbox.odata.engine import (
    QueryError,
    QueryOptions,
    Store,
    execute,
    paginate,
    parse_query,
    token_page_size,
    validate_fields,
)
from sandbox.odata.engine import select as select_fields
from sandbox.odata.filter import key_values
from sandbox.odata.server import ApiError, Request, Response, TokenVerifier

API = "/api/data/v9.2/"
MAX_PAGE = 5000
PATH_RE = re.compile(r"^(?P<set>[A-Za-z_]\w*)(?:\((?P<key>[^)]*)\))?(?:/(?P<nav>[\w.]+))?$")


class DataverseEmulator(WebhookEmulator):
    system = "dataverse"

    def __init__(self, token_verifier: TokenVerifier | None = None, *, page_size: int = MAX_PAGE):
        super().__init__(token_verifier, page_size, MAX_PAGE)
        self.store = Store()
        self.base_currency: dict[str, str] = {}
        self.model = DataverseModel(self.store, self.base_currency)
        self.options = OptionSets(self.store)
        self.ids: dict[str, str] = {}
        self._install_webhooks()

    @property
    def audience(self) -> str:  # type: ignore[override]
        return self.url

    @property
    def api_url(self) -> str:
        return f"{self.url}{API}"

    def seed_demo(self) -> None:
        with self.store.lock:
            self.webhooks.worker.reset()
            self.store.clear()
            self.base_currency.clear()
            self.ids = seed.seed_dataverse(self)
            self._seed_platform()

    # -- record API (as a human user would) -------------------------------------------------------

    def _def(self, entity_set: str) -> EntityDef:
        edef = ENTITIES.get(entity_set)
        if edef is None:
            raise dv_error(404, "0x8006088a", f"Resource not found for the segment '{entity_set}'.")
        return edef

    def _human(self, by_user: str | None) -> str:
        return (by_user or self.ids.get("human_user") or self.ids.get("integration_user", "")).lower()

    def insert(self, entity_set: str, row: dict[str, Any], *, by_user: str | None = None) -> dict:
        edef = self._def(entity_set)
        self.options.check_values(edef.logical, row)
        with self.webhooks.unit():
            created = self.model.create(edef, row, self._human(by_user), admin=True)
        return self.model.project(edef, created, annotations=True)

    def update(
        self, entity_set: str, id: str, changes: dict[str, Any], *, by_user: str | None = None
    ) -> dict:
        edef = self._def(entity_set)
        self.options.check_values(edef.logical, changes)
        with self.webhooks.unit():
            updated = self.model.update(edef, id, changes, self._human(by_user), admin=True)
        return self.model.project(edef, updated, annotations=True)

    def delete(self, entity_set: str, id: str, *, by_user: str | None = None) -> None:
        with self.webhooks.unit():
            self.model.delete(self._def(entity_set), id, self._human(by_user))

    def rows(self, entity_set: str) -> list[dict]:
        edef = self._def(entity_set)
        with self.store.lock:
            stored = list(self.store.table(entity_set).values())
        return [self.model.project(edef, r, annotations=True) for r in stored]

    def get(self, entity_set: str, id: str) -> dict | None:
        edef = self._def(entity_set)
        row = self.model.find(entity_set, id)
        return None if row is None else self.model.project(edef, row, annotations=True)

    # -- errors -------------------------------------------------------------------------------------

    def auth_error(self, message: str) -> ApiError:
        header = (
            "Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize, "
            f"resource_id={self.url}/"
        )
        return ApiError(401, "0x80072560", f"Authentication failed. {message}", {"WWW-Authenticate": header})

    def throttle_error(self, retry_after: int) -> ApiError:
        return ApiError(
            429,
            "0x80072322",
            "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            {"Retry-After": str(retry_after)},
        )

    def fault_error(self, status: int) -> ApiError:
        if status == 429:
            return self.throttle_error(1)
        return ApiError(status, "0x80040216", f"An unexpected error occurred (injected HTTP {status}).")

    def inject_part_fault(self, req: Request, method: str, entity: str | None) -> None:
        """An injected fault of one operation inside a ``$batch`` (raises its ApiError)."""
        self._inject_fault(req, method, entity)

    # -- routing ------------------------------------------------------------------------------------

    def entity_of(self, req: Request) -> str | None:
        if not req.path.startswith(API):
            return None
        match = PATH_RE.match(req.path[len(API) :])
        return match.group("set") if match else re.split(r"[(/]", req.path[len(API) :], maxsplit=1)[0] or None

    def route(self, req: Request) -> Response:
        if req.method == "GET":
            return self._route(req)
        with self.webhooks.unit():  # a write: its changes raise webhook events once it commits
            return self._route(req)

    def _route(self, req: Request) -> Response:
        if not req.path.startswith(API.rstrip("/")):
            raise dv_error(404, "0x8006088a", f"Resource not found for the segment '{req.path}'.")
        rest = req.path[len(API) :]
        if rest == "":
            return self._service_document()
        if rest == "$batch" and req.method == "POST":
            if req.in_batch:
                raise dv_error(400, "0x80060888", "A batch request cannot contain another batch.")
            return run_batch(self, req)
        caller = self._caller(req)
        if rest in ("WhoAmI", "WhoAmI()") and req.method == "GET":
            return self._whoami(caller)
        options = route_options(self.options, self.api_url, req, rest)
        if options is not None:
            return options
        action = route_action(self.model, self.api_url, req, rest, caller)
        if action is not None:
            return action
        match = PATH_RE.match(rest)
        if not match:
            raise dv_error(404, "0x8006088a", f"Resource not found for the segment '{rest}'.")
        edef = self._def(match.group("set"))
        key = self._key(edef, match.group("key")) if match.group("key") is not None else None
        return self._dispatch(req, edef, key, match.group("nav"), caller)

    def _dispatch(
        self, req: Request, edef: EntityDef, key: str | None, nav: str | None, caller: str
    ) -> Response:
        method = req.method
        if nav is not None:
            if key is None or nav not in edef.children:
                raise dv_error(404, "0x8006088a", f"Resource not found for the segment '{nav}'.")
            if method == "GET":
                child_set, fk = edef.children[nav]
                return self._list(req, ENTITIES[child_set], (fk, key))
            if method == "POST":
                return self._create_child(req, edef, key, nav, caller)
        elif key is None and method == "GET":
            return self._list(req, edef, None)
        elif key is None and method == "POST":
            return self._create(req, edef, req.json(), caller)
        elif key is not None and method == "GET":
            return self._get_one(req, edef, key)
        elif key is not None and method == "PATCH":
            return self._upsert(req, edef, key, caller)
        elif key is not None and method == "DELETE":
            return self._delete(req, edef, key, caller)
        raise dv_error(405, "0x80060888", f"The HTTP method '{method}' is not allowed here.")

    def _key(self, edef: EntityDef, text: str) -> str:
        name, sep, value = text.partition("=")
        value = value if sep else name
        if (sep and name.strip() != edef.key) or not GUID_RE.match(value.strip()):
            raise dv_error(
                400,
                "0x80060888",
                f"The key in the request URI is not valid for resource "
                f"'Microsoft.Dynamics.CRM.{edef.logical}'.",
            )
        return value.strip().lower()

    def _caller(self, req: Request) -> str:
        with self.store.lock:
            users = list(self.store.table("systemusers").values())
        if req.claims is None:
            caller = self.ids.get("integration_user", "")
        else:
            appid = str(req.claims.get("appid") or req.claims.get("azp") or "").lower()
            oid = str(req.claims.get("oid") or "").lower()
            match = next(
                (u for u in users if appid and str(u.get("applicationid") or "").lower() == appid), None
            ) or next(
                (u for u in users if oid and str(u.get("azureactivedirectoryobjectid") or "").lower() == oid),
                None,
            )
            if match is None:
                raise dv_error(403, "0x80072560", "The user is not a member of the organization.")
            caller = match["systemuserid"]
        impersonate = req.header("CallerObjectId")
        if impersonate:
            target = next(
                (
                    u
                    for u in users
                    if str(u.get("azureactivedirectoryobjectid") or "").lower() == impersonate.lower()
                ),
                None,
            )
            if target is None:
                raise dv_error(403, "0x80040220", f"No systemuser has the object id {impersonate}.")
            caller = target["systemuserid"]
        return caller

    def _service_document(self) -> Response:
        value = [{"name": n, "kind": "EntitySet", "url": n} for n in sorted(ENTITIES)]
        return Response(200, {"@odata.context": f"{self.api_url}$metadata", "value": value})

    def _whoami(self, caller: str) -> Response:
        return Response(
            200,
            {
                "@odata.context": f"{self.api_url}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                "BusinessUnitId": self.ids.get("business_unit"),
                "UserId": caller,
                "OrganizationId": self.ids.get("organization"),
            },
        )

    # -- reads --------------------------------------------------------------------------------------

    def _options(self, req: Request, edef: EntityDef) -> QueryOptions:
        try:
            opts = parse_query(req.query)
            if opts.skip is not None:
                raise QueryError("The query parameter $skip is not supported.")
            self._validate(edef, opts)
        except QueryError as exc:
            message = exc.message
            if exc.field:
                message = (
                    f"Could not find a property named '{exc.field}' on type "
                    f"'Microsoft.Dynamics.CRM.{edef.logical}'."
                )
            raise dv_error(400, "0x80060888", message) from exc
        return opts

    def _validate(self, edef: EntityDef, opts: QueryOptions) -> None:
        navs = set(edef.children) | set(edef.lookups)
        validate_fields(opts, edef.readable, navs)
        for item in opts.expand:
            if item.name in edef.children:
                self._validate(ENTITIES[edef.children[item.name][0]], item.options)
            else:
                target = ENTITIES[edef.lookups[item.name].targets[0]]
                validate_fields(item.options, target.readable, set())

    def _annotations(self, req: Request) -> bool:
        value = req.prefer().get("odata.include-annotations", "")
        return "*" in value or "lookuplogicalname" in value.lower()

    def _list(self, req: Request, edef: EntityDef, parent: tuple[str, str] | None) -> Response:
        opts, ann = self._options(req, edef), self._annotations(req)
        prefer = req.prefer()
        size = self._page_size(prefer, opts)
        with self.store.lock:  # stored rows are API-shaped: filter and sort them, project one page
            table = self.store.table(edef.set_name)
            keys = key_values(opts.filter, edef.key) if opts.filter else None  # a key lookup
            stored = list(table.values()) if keys is None else [table[k] for k in sorted(keys) if k in table]
            if parent is not None:
                stored = [r for r in stored if r.get(parent[0]) == parent[1]]
            page = paginate(execute(stored, opts, edef.key, True), opts, edef.key, True, size)
            value = [self._shape(edef, self.model.project(edef, r, ann), opts, ann) for r in page.rows]
        body: dict[str, Any] = {"@odata.context": f"{self.api_url}$metadata#{edef.set_name}", "value": value}
        if opts.count:
            body["@odata.count"] = min(page.total, MAX_PAGE)
        if page.next_token:
            body["@odata.nextLink"] = self._next_link(req, page.next_token)
        return Response(200, body, self._applied(prefer, ann, size))

    def _page_size(self, prefer: dict[str, str], opts: QueryOptions) -> int:
        if "odata.maxpagesize" in prefer:
            try:
                return max(1, min(int(prefer["odata.maxpagesize"]), MAX_PAGE))
            except ValueError as exc:
                raise dv_error(400, "0x80060888", "odata.maxpagesize must be an integer.") from exc
        return token_page_size(opts.skiptoken) or self.page_size

    @staticmethod
    def _applied(prefer: dict[str, str], ann: bool, size: int) -> dict[str, str]:
        applied = [f"odata.maxpagesize={size}"] if "odata.maxpagesize" in prefer else []
        if ann:
            applied.append(f'odata.include-annotations="{prefer["odata.include-annotations"]}"')
        return {"Preference-Applied": ",".join(applied)} if applied else {}

    def _next_link(self, req: Request, token: str) -> str:
        params = {k: v for k, v in req.query.items() if k != "$skiptoken"}
        params["$skiptoken"] = token
        query = urlencode(params, quote_via=quote, safe="$(),'=:/*")
        return f"{self.url}{req.path}?{query}"

    def _shape(self, edef: EntityDef, row: dict, opts: QueryOptions, ann: bool) -> dict:
        out = dict(row)
        for item in opts.expand:
            if item.name in edef.children:
                child_set, fk = edef.children[item.name]
                cdef = ENTITIES[child_set]
                kids = [
                    self.model.project(cdef, r, ann)
                    for r in self.store.table(child_set).values()
                    if r.get(fk) == row[edef.key]
                ]
                kids = execute(kids, item.options, cdef.key, True)[: item.options.top]
                out[item.name] = [self._shape(cdef, k, item.options, ann) for k in kids]
            else:
                out[item.name] = self._expand_lookup(edef, row, item.name, item.options, ann)
        navs = tuple(i.name for i in opts.expand)
        return select_fields(out, opts.select, (edef.key, *navs))

    def _expand_lookup(
        self, edef: EntityDef, row: dict, nav: str, opts: QueryOptions, ann: bool
    ) -> dict | None:
        lookup = edef.lookups[nav]
        target_id = row.get(lookup.value_field)
        for target_set in lookup.targets:
            target = self.store.table(target_set).get(target_id or "")
            if target is not None:
                tdef = ENTITIES[target_set]
                return select_fields(self.model.project(tdef, target, ann), opts.select, (tdef.key,))
        return None

    def _get_one(self, req: Request, edef: EntityDef, key: str) -> Response:
        opts, ann = self._options(req, edef), self._annotations(req)
        row = self.model.find(edef.set_name, key)
        if row is None:
            raise not_found(edef, key)
        if req.header("If-None-Match") == etag(row) and not opts.expand:
            return Response(304)
        with self.store.lock:
            body = self._shape(edef, self.model.project(edef, row, ann), opts, ann)
        body["@odata.context"] = f"{self.api_url}$metadata#{edef.set_name}/$entity"
        return Response(200, body, {"ETag": etag(row)})

    # -- writes -------------------------------------------------------------------------------------

    def _entity_url(self, edef: EntityDef, row_id: str) -> str:
        return f"{self.api_url}{edef.set_name}({row_id})"

    def _write_response(self, req: Request, edef: EntityDef, row: dict, created: bool) -> Response:
        headers = {"OData-EntityId": self._entity_url(edef, row[edef.key])}
        if "return" not in req.prefer() or req.prefer()["return"] != "representation":
            return Response(204, None, headers)
        opts = self._options(req, edef)
        with self.store.lock:
            body = self._shape(edef, self.model.project(edef, row, self._annotations(req)), opts, False)
        body["@odata.context"] = f"{self.api_url}$metadata#{edef.set_name}/$entity"
        headers.update({"Preference-Applied": "return=representation", "ETag": etag(row)})
        return Response(201 if created else 200, body, headers)

    def _create(self, req: Request, edef: EntityDef, body: Any, caller: str) -> Response:
        refuse_platform_write(edef, "Create")
        self.options.check_values(edef.logical, body)
        row = self.model.create(edef, body, caller)
        return self._write_response(req, edef, row, created=True)

    def _create_child(self, req: Request, edef: EntityDef, key: str, nav: str, caller: str) -> Response:
        child_set, fk = edef.children[nav]
        body = req.json()
        if isinstance(body, dict):
            body = {**body, f"{fk[1:-6]}@odata.bind": f"/{edef.set_name}({key})"}
        return self._create(req, ENTITIES[child_set], body, caller)

    def _upsert(self, req: Request, edef: EntityDef, key: str, caller: str) -> Response:
        if_match, if_none = req.header("If-Match"), req.header("If-None-Match")
        with self.store.lock:
            current = self.model.find(edef.set_name, key)
            if current is None:
                if if_match:
                    raise not_found(edef, key)
                body = req.json()
                if isinstance(body, dict):
                    body = {**body, edef.key: key}
                return self._create(req, edef, body, caller)
            if if_none == "*":
                raise dv_error(412, "0x80040237", "A record with matching key values already exists.")
            refuse_platform_write(edef, "Update")
            self._check_etag(if_match, current)
            self.options.check_values(edef.logical, req.json())
            row = self.model.update(edef, key, req.json(), caller)
        return self._write_response(req, edef, row, created=False)

    @staticmethod
    def _check_etag(if_match: str | None, current: dict) -> None:
        if if_match and if_match.strip() != "*" and _bare(if_match) != _bare(etag(current)):
            raise dv_error(
                412,
                "0x80060882",
                "The version of the existing record doesn't match the RowVersion property provided.",
            )

    def _delete(self, req: Request, edef: EntityDef, key: str, caller: str) -> Response:
        with self.store.lock:
            current = self.model.find(edef.set_name, key)
            if current is None:
                raise not_found(edef, key)
            refuse_platform_write(edef, "Delete")
            self._check_etag(req.header("If-Match"), current)
            self.model._check_parent_editable(edef, current)  # the lines of a closed document stay
            self.model.delete(edef, key, caller)
        return Response(204)


def _bare(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag
