"""Operator HTTP routes for full synchronization (function key), the verbs of ``full-sync``:

    POST /api/manage/full-sync/start    {"mappings": [...], "recommend_full_sync": [...]}  -> 202
    GET  /api/manage/full-sync?run_id=...&mapping=A,B                                 -> 200
    POST /api/manage/full-sync/restart  {"run_id": "...", "mappings": [...]}           -> 202

Under ``manage/`` like the other operator routes: the Functions host refuses routes that start
with ``admin``.
"""

import azure.functions as func

from functions.admin import ROUTE_BASE
from sync_core.app.full_sync import http_restart, http_start, http_status
from sync_core.app.http import HttpResult

bp = func.Blueprint()


def _respond(result: HttpResult) -> func.HttpResponse:
    return func.HttpResponse(result.json(), status_code=result.status, mimetype="application/json")


@bp.function_name("manage_full_sync_start")
@bp.route(route=f"{ROUTE_BASE}/full-sync/start", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def manage_full_sync_start(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(http_start(req.get_body()))


@bp.function_name("manage_full_sync_status")
@bp.route(route=f"{ROUTE_BASE}/full-sync", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def manage_full_sync_status(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(http_status(dict(req.params)))


@bp.function_name("manage_full_sync_restart")
@bp.route(route=f"{ROUTE_BASE}/full-sync/restart", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def manage_full_sync_restart(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(http_restart(req.get_body()))
