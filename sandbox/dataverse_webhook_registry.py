"""Webhook registration in the Dataverse emulator: seeded SDK messages, the rules on service
endpoints and steps, and which registered steps a committed change triggers.

* ``sdkmessages``: ``Create``, ``Update``, ``Delete``, ``Retrieve``, ``RetrieveMultiple`` (every
  table), ``Assign`` (user-owned tables), ``SetState`` / ``SetStateDynamicEntity`` (tables with a
  state), ``WinQuote`` / ``CloseQuote`` / ``ReviseQuote`` / ``ConvertQuoteToSalesOrder`` (quote).
  One ``sdkmessagefilters`` row per message and table. Ids are deterministic:
  ``seed_id("dv", "sdkmessage", name)`` and ``seed_id("dv", "sdkmessagefilter", "<name>/<logical>")``.
  Steps may be registered on any of them, but only ``Create``, ``Update`` and ``Delete`` are raised
  (state changes and the quote messages' row changes come through ``Update`` / ``Create``, §A.5).
* A service endpoint must be a webhook (``contract`` 8) on a loopback URL (the emulator never
  calls beyond this machine) with ``authtype`` 4 WebhookKey (``authvalue`` = the key), 5
  HttpHeader or 6 HttpQueryString (``authvalue`` = ``<settings><setting name=".." value=".."
  /></settings>``).
* A step runs asynchronously in PostOperation (``mode`` 1, ``stage`` 40); its filter must belong
  to its message and allow custom steps (the registration tables themselves do not).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sandbox.dataverse_model import DataverseModel, dv_error
from sandbox.dataverse_schema import ENTITIES, EntityDef
from sandbox.odata.engine import Store
from sandbox.seed import seed_id

EVERY_TABLE = ("Create", "Update", "Delete", "Retrieve", "RetrieveMultiple")
QUOTE_MESSAGES = ("WinQuote", "CloseQuote", "ReviseQuote", "ConvertQuoteToSalesOrder")
RAISED = frozenset({"Create", "Update", "Delete"})
REGISTRATION_TABLES = frozenset(
    {
        "serviceendpoint",
        "sdkmessage",
        "sdkmessagefilter",
        "sdkmessageprocessingstep",
        "sdkmessageprocessingstepimage",
    }
)
WEBHOOK, WEBHOOK_KEY, HTTP_HEADER, HTTP_QUERY_STRING = 8, 4, 5, 6
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
INVALID = "0x80040203"


def message_id(name: str) -> str:
    return seed_id("dv", "sdkmessage", name)


def filter_id(message: str, logical: str) -> str:
    return seed_id("dv", "sdkmessagefilter", f"{message}/{logical}")


def _filters_by_message() -> dict[str, list[str]]:
    tables = sorted(ENTITIES.values(), key=lambda e: e.logical)
    out = {name: [e.logical for e in tables] for name in EVERY_TABLE}
    out["Assign"] = [e.logical for e in tables if e.ownership == "user"]
    for name in ("SetState", "SetStateDynamicEntity"):
        out[name] = [e.logical for e in tables if e.states]
    out.update({name: ["quote"] for name in QUOTE_MESSAGES})
    return out


def seed_messages(model: DataverseModel, caller: str) -> None:
    """The SDK messages and their filters (read-only platform rows)."""
    for name, tables in _filters_by_message().items():
        row = {"sdkmessageid": message_id(name), "name": name, "categoryname": name, "isprivate": False,
               "isreadonly": name.startswith("Retrieve"), "isactive": True, "availability": 0,
               "autotransact": True, "expand": False, "template": False,
               "workflowsdkstepenabled": name in RAISED}  # fmt: skip
        model.create(ENTITIES["sdkmessages"], row, caller, admin=True)
        for logical in tables:
            filter_row = {
                "sdkmessagefilterid": filter_id(name, logical),
                "sdkmessageid@odata.bind": f"/sdkmessages({message_id(name)})",
                "primaryobjecttypecode": logical,
                "secondaryobjecttypecode": "none",
                "iscustomprocessingstepallowed": logical not in REGISTRATION_TABLES,
                "isvisible": True,
                "availability": 0,
            }
            model.create(ENTITIES["sdkmessagefilters"], filter_row, caller, admin=True)


# -- rules -------------------------------------------------------------------------------------------


def refuse_platform_write(edef: EntityDef, message: str) -> None:
    """The Web API cannot create, update or delete a platform row (sdkmessage, sdkmessagefilter)."""
    if edef.platform:
        raise dv_error(
            400, INVALID, f"The '{message}' method does not support entities of type '{edef.logical}'."
        )


def parse_settings(authvalue: str) -> list[tuple[str, str]]:
    """``<settings><setting name="k" value="v" /></settings>`` as (name, value) pairs."""
    try:
        root = ElementTree.fromstring(authvalue)
    except ElementTree.ParseError as exc:
        raise ValueError(f"authvalue is not valid XML: {exc}") from None
    pairs = [(s.get("name") or "", s.get("value") or "") for s in root.iter("setting")]
    if root.tag != "settings" or not pairs or any(not name for name, _ in pairs):
        raise ValueError('authvalue must be <settings><setting name="..." value="..." /></settings>')
    return pairs


def check_endpoint(row: dict[str, Any]) -> None:
    if row.get("contract") != WEBHOOK:
        raise dv_error(400, INVALID, "The emulator supports WebHook service endpoints only (contract 8).")
    url = urlsplit(str(row.get("url") or ""))
    if url.scheme not in ("http", "https") or not url.hostname:
        raise dv_error(400, INVALID, "A WebHook service endpoint needs an absolute http(s) url.")
    if url.hostname not in LOOPBACK:
        raise dv_error(400, INVALID, "The emulator delivers webhooks to loopback addresses only.")
    authtype, authvalue = row.get("authtype"), row.get("authvalue")
    if authtype not in (WEBHOOK_KEY, HTTP_HEADER, HTTP_QUERY_STRING):
        raise dv_error(
            400, INVALID, "authtype must be 4 (WebhookKey), 5 (HttpHeader) or 6 (HttpQueryString)."
        )
    if not isinstance(authvalue, str) or not authvalue.strip():
        raise dv_error(400, INVALID, "authvalue is required for a WebHook service endpoint.")
    if authtype != WEBHOOK_KEY:
        try:
            parse_settings(authvalue)
        except ValueError as exc:
            raise dv_error(400, INVALID, str(exc)) from None


def step_checker(store: Store) -> Callable[[dict[str, Any]], None]:
    def check_step(row: dict[str, Any]) -> None:
        if row.get("stage") not in (10, 20, 40) or row.get("mode") not in (0, 1):
            raise dv_error(400, INVALID, "stage must be 10, 20 or 40 and mode 0 or 1.")
        if row.get("mode") != 1 or row.get("stage") != 40:
            raise dv_error(
                400,
                INVALID,
                "The emulator runs webhook steps asynchronously in PostOperation only (mode 1, stage 40).",
            )
        filter_row = store.table("sdkmessagefilters").get(row.get("_sdkmessagefilterid_value") or "")
        if filter_row is None:
            return
        if filter_row.get("_sdkmessageid_value") != row.get("_sdkmessageid_value"):
            raise dv_error(400, INVALID, "The sdkmessagefilter does not belong to the step's sdkmessage.")
        if not filter_row.get("iscustomprocessingstepallowed"):
            raise dv_error(
                400, INVALID, "Custom SdkMessageProcessingStep is not allowed on this message and table."
            )

    return check_step


def check_image(row: dict[str, Any]) -> None:
    if row.get("imagetype") not in (0, 1, 2):
        raise dv_error(400, INVALID, "imagetype must be 0 (PreImage), 1 (PostImage) or 2 (Both).")


def install_rules(model: DataverseModel) -> None:
    model.row_checks.update(
        {
            "serviceendpoint": check_endpoint,
            "sdkmessageprocessingstep": step_checker(model.store),
            "sdkmessageprocessingstepimage": check_image,
        }
    )


# -- matching ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """A step that a change triggers, with its endpoint and images as they were at the commit."""

    step: dict[str, Any]
    endpoint: dict[str, Any]
    images: tuple[dict[str, Any], ...]


def split_names(text: Any) -> set[str]:
    return {n.strip().lower() for n in str(text or "").split(",") if n.strip()}


def matching_steps(store: Store, message: str, logical: str, attributes: set[str]) -> list[Registration]:
    """Enabled steps on ``message`` for the table ``logical`` (a step without a filter: every
    table); for ``Update`` only those whose filtering attributes (empty = all) meet ``attributes``.
    Changes to the registration tables themselves raise nothing."""
    if logical in REGISTRATION_TABLES:
        return []
    found: list[Registration] = []
    for step in store.table("sdkmessageprocessingsteps").values():
        if step.get("statecode") != 0 or step.get("_sdkmessageid_value") != message_id(message):
            continue
        filter_row = store.table("sdkmessagefilters").get(step.get("_sdkmessagefilterid_value") or "")
        if filter_row is not None and filter_row.get("primaryobjecttypecode") != logical:
            continue
        wanted = split_names(step.get("filteringattributes"))
        if message == "Update" and wanted and not wanted & attributes:
            continue
        endpoint = store.table("serviceendpoints").get(step.get("_eventhandler_value") or "")
        if endpoint is None:
            continue
        images = tuple(
            i
            for i in store.table("sdkmessageprocessingstepimages").values()
            if i.get("_sdkmessageprocessingstepid_value") == step["sdkmessageprocessingstepid"]
        )
        found.append(Registration(dict(step), dict(endpoint), images))
    return sorted(found, key=lambda r: (r.step.get("rank") or 0, str(r.step.get("name"))))
