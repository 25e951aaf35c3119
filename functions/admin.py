"""Operator HTTP routes (function key), the same verbs as ``python -m sync_core``.

They live under ``/api/manage/``: the Functions host reserves every route that starts with
``admin`` (or ``runtime``) for its own API and refuses to register such a function.
"""

import azure.functions as func

from sync_core.app.http import HttpResult
from sync_core.app.manage import list_errors, list_jobs, list_mappings, mapping_action, mapping_set

ROUTE_BASE = "manage"

bp = func.Blueprint()


def _respond(result: HttpResult) -> func.HttpResponse:
    return func.HttpResponse(result.json(), status_code=result.status, mimetype="application/json")


@bp.function_name("manage_mappings")
@bp.route(route=f"{ROUTE_BASE}/mappings", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def manage_mappings(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(list_mappings())


@bp.function_name("manage_mapping_set")
@bp.route(route=f"{ROUTE_BASE}/mappings/{{mapping}}", methods=["PATCH"], auth_level=func.AuthLevel.FUNCTION)
def manage_mapping_set(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(mapping_set(req.route_params.get("mapping", ""), req.get_body()))


@bp.function_name("manage_mapping_action")
@bp.route(
    route=f"{ROUTE_BASE}/mappings/{{mapping}}/{{action}}",
    methods=["POST"],
    auth_level=func.AuthLevel.FUNCTION,
)
def manage_mapping_action(req: func.HttpRequest) -> func.HttpResponse:
    params = req.route_params
    return _respond(mapping_action(params.get("mapping", ""), params.get("action", ""), req.get_body()))


@bp.function_name("manage_jobs")
@bp.route(route=f"{ROUTE_BASE}/jobs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def manage_jobs(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(list_jobs(dict(req.params)))


@bp.function_name("manage_errors")
@bp.route(route=f"{ROUTE_BASE}/errors", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def manage_errors(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(list_errors(dict(req.params)))
