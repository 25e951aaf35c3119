"""HTTP entry points: the Dataverse and BC webhook receivers, item availability and the health check."""

import azure.functions as func

from sync_core.app.bc_webhooks import receive_bc_webhook
from sync_core.app.documents import availability
from sync_core.app.http import HttpResult
from sync_core.app.usecases import health, receive_dataverse_webhook

bp = func.Blueprint()


def _respond(result: HttpResult) -> func.HttpResponse:
    if result.text is not None:
        return func.HttpResponse(result.text, status_code=result.status, mimetype="text/plain")
    return func.HttpResponse(result.json(), status_code=result.status, mimetype="application/json")


@bp.function_name("dataverse_webhook")
@bp.route(route="webhooks/dataverse", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def dataverse_webhook(req: func.HttpRequest) -> func.HttpResponse:
    # Authenticated by the x-webhook-secret header (Dataverse HttpHeader auth), not a function key.
    return _respond(receive_dataverse_webhook(dict(req.headers), req.get_body()))


@bp.function_name("bc_webhook")
@bp.route(route="webhooks/bc", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def bc_webhook(req: func.HttpRequest) -> func.HttpResponse:
    # Authenticated by each notification's clientState (a secret only BC and the app know).
    return _respond(receive_bc_webhook(dict(req.params), req.get_body()))


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health_check(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(health())


@bp.function_name("item_availability")
@bp.route(route="availability/{productid}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def item_availability(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(availability(req.route_params.get("productid", "")))
