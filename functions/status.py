"""The operator's status page: ``GET /api/status`` (function key), server-rendered HTML."""

import azure.functions as func

from sync_core.app.status_page import status_page

bp = func.Blueprint()


@bp.function_name("status_page")
@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status(req: func.HttpRequest) -> func.HttpResponse:
    page = status_page(dict(req.params))
    return func.HttpResponse(
        page.html, status_code=page.status, mimetype="text/html", charset="utf-8", headers=page.headers
    )
