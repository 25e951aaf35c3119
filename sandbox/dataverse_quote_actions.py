"""Quote messages of the Dataverse emulator as Web API unbound actions (api-facts §A.5, §I).

* ``POST ReviseQuote`` ``{"QuoteId": guid, "ColumnSet": {"AllColumns": true} | {"Columns": [..]}}``
  -> 200 the new quote (the ColumnSet's columns and the key). The quote (Active, or Closed as
  Lost / Canceled) becomes Closed / Revised (3 / 7); a new Draft quote (0 / 1) gets the same
  ``quotenumber``, ``revisionnumber`` + 1, the header columns and copies of the quote lines.
* ``POST WinQuote`` ``{"QuoteClose": {"subject": .., "quoteid@odata.bind": "/quotes(<id>)"},
  "Status": 4}`` -> 204: an Active quote becomes Won (2 / 4) and a completed ``quoteclose``
  activity is recorded. ``CloseQuote`` (same shape, ``Status`` 5 Lost / 6 Canceled / 7 Revised)
  closes an Active quote (3 / status). ``Status`` -1 means the state's default status.
* ``POST ConvertQuoteToSalesOrder`` ``{"QuoteId", "ColumnSet"}`` (optional ``QuoteCloseStatus``
  / ``QuoteCloseSubject`` / ``QuoteCloseDescription`` / ``QuoteCloseDate``) -> 200 the new
  ``salesorder`` (``quoteid`` set, statecode 0, header and ``salesorderdetails`` copied, each line
  with its ``quotedetailid``). An Active quote is won first; a Won quote is converted as it is.

The new rows are owned by the caller. An action is atomic (the store is restored when it fails)
and its row changes raise the usual Create / Update webhook events. Errors have Dataverse's
shape: a missing quote is 404 ``0x80040217``, an unknown column 400 ``0x80041103``, a quote in
the wrong state or a bad status 400 ``0x80040203``, a bad parameter 400 ``0x80060888``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.dataverse_model import BIND_RE, GUID_RE, DataverseModel, dv_error, not_found
from sandbox.dataverse_schema import ENTITIES, LOGICAL_TO_SET, EntityDef
from sandbox.odata.engine import select
from sandbox.odata.protocol import Request, Response

QUOTE, QUOTE_LINE = ENTITIES["quotes"], ENTITIES["quotedetails"]
ORDER, ORDER_LINE = ENTITIES["salesorders"], ENTITIES["salesorderdetails"]
QUOTE_STATES = {0: "Draft", 1: "Active", 2: "Won", 3: "Closed"}
BAD_PARAMETER, INVALID, NO_ATTRIBUTE = "0x80060888", "0x80040203", "0x80041103"
CLOSE_PARAMETERS = {"QuoteClose", "Status"}
CONVERT_PARAMETERS = {"QuoteId", "ColumnSet", "QuoteCloseDate", "QuoteCloseStatus", "QuoteCloseSubject",
                      "QuoteCloseDescription", "ProcessInstanceId"}  # fmt: skip


class QuoteActions:
    """One action call: the model, the caller, the API root for ``@odata.context``."""

    def __init__(self, model: DataverseModel, api_url: str, caller: str) -> None:
        self.model, self.api_url, self.caller = model, api_url, caller

    def quote(self, value: Any) -> dict[str, Any]:
        quote_id = _guid(value)
        row = self.model.find("quotes", quote_id)
        if row is None:
            raise not_found(QUOTE, quote_id)
        return row

    def lines(self, quote: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [
            r
            for r in self.model.store.table("quotedetails").values()
            if r.get("_quoteid_value") == quote["quoteid"]
        ]
        return sorted(
            rows, key=lambda r: (r.get("sequencenumber") or 0, r.get("lineitemnumber") or 0, r["createdon"])
        )

    def create(self, edef: EntityDef, body: dict[str, Any]) -> dict[str, Any]:
        return self.model.create(edef, body, self.caller, admin=True)

    def close_quote(self, quote: dict[str, Any], activity: dict[str, Any], state: int, status: int) -> None:
        fields = {k: v for k, v in activity.items() if not k.startswith("@") and k != "quoteid@odata.bind"}
        fields.update({"quoteid@odata.bind": f"/quotes({quote['quoteid']})", "statecode": 1, "statuscode": 2})
        self.model.create(ENTITIES["quotecloses"], fields, self.caller)
        self.model.update(
            QUOTE, quote["quoteid"], {"statecode": state, "statuscode": status}, self.caller, admin=True
        )

    def entity(self, edef: EntityDef, row: dict[str, Any], columns: list[str] | None) -> Response:
        body = select(self.model.project(edef, row), columns, (edef.key,))
        body["@odata.context"] = f"{self.api_url}$metadata#{edef.set_name}/$entity"
        return Response(200, body)


# -- the actions ----------------------------------------------------------------------------------------


def revise(actions: QuoteActions, body: dict[str, Any]) -> Response:
    _parameters("ReviseQuote", body, {"QuoteId", "ColumnSet"}, ("QuoteId", "ColumnSet"))
    quote = actions.quote(body["QuoteId"])
    columns = _columns(QUOTE, body["ColumnSet"])
    lost = quote.get("statecode") == 3 and quote.get("statuscode") in (5, 6)
    if not lost:
        _require_state(quote, (1,), "revised", "Active (or Closed as Lost / Canceled)")
    actions.model.update(
        QUOTE, quote["quoteid"], {"statecode": 3, "statuscode": 7}, actions.caller, admin=True
    )
    header = copy_columns(QUOTE, quote, QUOTE, skip={"ownerid", "closedon"})
    header["revisionnumber"] = int(quote.get("revisionnumber") or 0) + 1
    new = actions.create(QUOTE, header)
    for line in actions.lines(quote):
        copy = copy_columns(QUOTE_LINE, line, QUOTE_LINE, skip={"quoteid"})
        actions.create(QUOTE_LINE, {**copy, "quoteid@odata.bind": f"/quotes({new['quoteid']})"})
    return actions.entity(QUOTE, new, columns)


def win(actions: QuoteActions, body: dict[str, Any]) -> Response:
    return _close(actions, body, "WinQuote", 2)


def close(actions: QuoteActions, body: dict[str, Any]) -> Response:
    return _close(actions, body, "CloseQuote", 3)


def _close(actions: QuoteActions, body: dict[str, Any], name: str, state: int) -> Response:
    _parameters(name, body, CLOSE_PARAMETERS, ("QuoteClose", "Status"))
    activity = body["QuoteClose"]
    if not isinstance(activity, dict):
        raise dv_error(
            400, BAD_PARAMETER, f"The parameter 'QuoteClose' of '{name}' must be a quoteclose entity."
        )
    match = BIND_RE.match(str(activity.get("quoteid@odata.bind") or ""))
    if match is None or match.group("set") != "quotes":
        raise dv_error(400, INVALID, "QuoteClose needs 'quoteid@odata.bind': '/quotes(<id>)'.")
    quote = actions.quote(match.group("id"))
    status = _status(body["Status"], state)
    _require_state(quote, (1,), "won" if state == 2 else "closed", "Active")
    actions.close_quote(quote, activity, state, status)
    return Response(204)


def convert(actions: QuoteActions, body: dict[str, Any]) -> Response:
    _parameters("ConvertQuoteToSalesOrder", body, CONVERT_PARAMETERS, ("QuoteId", "ColumnSet"))
    quote = actions.quote(body["QuoteId"])
    columns = _columns(ORDER, body["ColumnSet"])
    _require_state(quote, (1, 2), "converted to an order", "Active or Won")
    if quote.get("statecode") == 1:
        status = _status(body.get("QuoteCloseStatus", -1), 2)
        activity = {
            "subject": body.get("QuoteCloseSubject") or f"Quote won: {quote.get('name') or ''}".strip(),
            "description": body.get("QuoteCloseDescription"),
            "actualend": body.get("QuoteCloseDate"),
        }
        actions.close_quote(quote, {k: v for k, v in activity.items() if v is not None}, 2, status)
    header = copy_columns(QUOTE, quote, ORDER, skip={"ownerid"})
    order = actions.create(ORDER, {**header, "quoteid@odata.bind": f"/quotes({quote['quoteid']})"})
    for line in actions.lines(quote):
        copy = copy_columns(QUOTE_LINE, line, ORDER_LINE, skip={"quoteid"})
        copy["salesorderid@odata.bind"] = f"/salesorders({order['salesorderid']})"
        copy["quotedetailid@odata.bind"] = f"/quotedetails({line['quotedetailid']})"
        actions.create(ORDER_LINE, copy)
    return actions.entity(ORDER, order, columns)


ACTIONS: dict[str, Callable[[QuoteActions, dict[str, Any]], Response]] = {
    "ReviseQuote": revise,
    "WinQuote": win,
    "CloseQuote": close,
    "ConvertQuoteToSalesOrder": convert,
}


def route_action(
    model: DataverseModel, api_url: str, req: Request, rest: str, caller: str
) -> Response | None:
    """Run ``rest`` when it names a quote action (atomically), else None."""
    action = ACTIONS.get(rest.removeprefix("Microsoft.Dynamics.CRM."))
    if action is None:
        return None
    if req.method != "POST":
        raise dv_error(405, BAD_PARAMETER, f"The HTTP method '{req.method}' is not allowed for an action.")
    body = req.json()
    if not isinstance(body, dict):
        raise dv_error(
            400, BAD_PARAMETER, "The request body must be a JSON object of the action's parameters."
        )
    with model.store.lock:
        snapshot = model.store.snapshot()
        try:
            return action(QuoteActions(model, api_url, caller), body)
        except BaseException:
            model.store.restore(snapshot)
            raise


# -- helpers --------------------------------------------------------------------------------------------


def copy_columns(source: EntityDef, row: dict[str, Any], target: EntityDef, skip: set[str]) -> dict[str, Any]:
    """The columns ``row`` shares with ``target`` as a create body (lookups as binds)."""
    body = {
        n: row[n] for n in sorted((source.attributes & target.attributes) - skip) if row.get(n) is not None
    }
    for attr, lookup in target.lookups.items():
        value = row.get(lookup.value_field)
        if attr in skip or attr not in source.lookups or not value:
            continue
        logical = row.get("__lln", {}).get(lookup.value_field)
        target_set = LOGICAL_TO_SET.get(logical or "", lookup.targets[0])
        if target_set in lookup.targets:
            body[f"{attr}@odata.bind"] = f"/{target_set}({value})"
    return body


def _parameters(name: str, body: dict[str, Any], allowed: set[str], required: tuple[str, ...]) -> None:
    for key in body:
        if not key.startswith("@") and key not in allowed:
            raise dv_error(
                400,
                BAD_PARAMETER,
                f"The parameter '{key}' in the request payload is not a valid parameter "
                f"for the operation '{name}'.",
            )
    for key in required:
        if body.get(key) is None:
            raise dv_error(
                400, BAD_PARAMETER, f"The parameter '{key}' of the operation '{name}' is required."
            )


def _guid(value: Any) -> str:
    if not isinstance(value, str) or not GUID_RE.match(value):
        raise dv_error(
            400, BAD_PARAMETER, f"Cannot convert the literal '{value}' to the expected type 'Edm.Guid'."
        )
    return value.lower()


def _columns(edef: EntityDef, column_set: Any) -> list[str] | None:
    """The stored names a ColumnSet asks for (lookups by their logical name); None = all."""
    if not isinstance(column_set, dict):
        raise dv_error(400, BAD_PARAMETER, "ColumnSet must be an object with 'AllColumns' or 'Columns'.")
    if column_set.get("AllColumns") is True:
        return None
    names: list[str] = []
    for column in column_set.get("Columns") or []:
        name = str(column).lower()
        stored = edef.lookups[name].value_field if name in edef.lookups else name
        if stored not in edef.readable:
            raise dv_error(
                400,
                NO_ATTRIBUTE,
                f"'{edef.logical}' entity doesn't contain attribute with Name = '{column}'.",
            )
        names.append(stored)
    return names


def _status(value: Any, state: int) -> int:
    statuses = QUOTE.statuses or {}
    status = QUOTE.states[state] if value == -1 and QUOTE.states else value
    if not isinstance(status, int) or isinstance(status, bool) or statuses.get(status) != state:
        raise dv_error(400, INVALID, f"{value} is not a valid status code for state code quoteState.{state}.")
    return status


def _require_state(quote: dict[str, Any], allowed: tuple[int, ...], done: str, wanted: str) -> None:
    state: int = quote["statecode"]
    if state in allowed:
        return
    raise dv_error(
        400,
        INVALID,
        f"The quote {quote.get('quotenumber')} can't be {done}: it is {QUOTE_STATES.get(state, '?')} "
        f"(statecode {state}); it must be {wanted}.",
    )
