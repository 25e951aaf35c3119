"""What a salesperson does in Dynamics 365 Sales, on the Dataverse emulator, in process.

Rows are written with the emulator's record API (``insert`` / ``update``, as the human user);
an unbound action (ReviseQuote, WinQuote, ConvertQuoteToSalesOrder, ...) goes through the
emulator's own request routing, impersonating the human user, so it triggers what the Web API
call would (state changes, copied lines, registered webhooks).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.odata.protocol import Request, make_headers


def human_action(dv: DataverseEmulator, name: str, body: dict[str, Any]) -> Any:
    """POST ``<api>/<name>`` as the seeded human user; the action's answer (an error raises)."""
    human = dv.get("systemusers", dv.ids["human_user"]) or {}
    headers = {"Content-Type": "application/json", "CallerObjectId": human["azureactivedirectoryobjectid"]}
    req = Request(
        "POST", urlsplit(dv.api_url).path + name, {}, make_headers(headers), json.dumps(body).encode()
    )
    reply = dv.route(req)
    if reply.status >= 300:
        raise RuntimeError(f"{name} answered {reply.status}: {reply.body}")
    return reply.body


def activate_quote(dv: DataverseEmulator, quote_id: str) -> None:
    dv.update("quotes", quote_id, {"statecode": 1, "statuscode": 2})


def submit_order(dv: DataverseEmulator, order_id: str) -> None:
    dv.update("salesorders", order_id, {"statecode": 1, "statuscode": 3})
