"""The HTTP request Dataverse POSTs to a webhook: a serialized RemoteExecutionContext (api-facts §D.2).

WCF-style JSON as in Microsoft's sample: collections are ``[{"key": .., "value": ..}]``; lookups
are ``EntityReference`` objects, choices ``OptionSetValue``, money ``Money``, dates
``"/Date(<epoch ms>)/"``. ``InputParameters`` holds the ``Target`` (Create: the row's columns;
Update: only the columns of this part of the change, plus the key and ``modifiedon`` /
``modifiedby`` / ``modifiedonbehalfby``; Delete: an ``EntityReference``), ``PreEntityImages`` /
``PostEntityImages`` the step's registered images (``entityalias`` -> the columns named in
``attributes``, empty = all). A body over 256 KB is sent with ``x-ms-dynamics-msg-size-exceeded``
and without ``ParentContext``, ``InputParameters``, ``PreEntityImages`` and ``PostEntityImages``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from sandbox.dataverse_schema import ENTITIES, EntityDef
from sandbox.dataverse_webhook_registry import (
    HTTP_HEADER,
    HTTP_QUERY_STRING,
    WEBHOOK_KEY,
    Registration,
    parse_settings,
    split_names,
)

XRM = "http://schemas.microsoft.com/xrm/2011/Contracts"
MAX_BODY = 256 * 1024
SIZE_EXCEEDED = "x-ms-dynamics-msg-size-exceeded"
TRIMMED = ("ParentContext", "InputParameters", "PreEntityImages", "PostEntityImages")
SYSTEM_LOOKUPS = {
    "_createdby_value": "systemuser", "_modifiedby_value": "systemuser",
    "_createdonbehalfby_value": "systemuser", "_modifiedonbehalfby_value": "systemuser",
    "_owninguser_value": "systemuser", "_owningteam_value": "team",
    "_owningbusinessunit_value": "businessunit", "_organizationid_value": "organization",
}  # fmt: skip
_MONEY = (
    "priceperunit baseamount extendedamount manualdiscountamount volumediscountamount tax "
    "freightamount discountamount totalamount totalamountlessfreight totallineitemamount totaltax "
    "totaldiscountamount totallineitemdiscountamount amount price standardcost currentcost "
    "creditlimit revenue estimatedvalue actualvalue budgetamount roundingoptionamount"
)
_OPTIONS = (
    "statecode statuscode source type teamtype accessmode caltype salesstage purchasetimeframe "
    "submitstatus contract authtype stage mode imagetype messageformat connectionmode "
    "supporteddeployment invocationsource"
)
MONEY, OPTIONS = frozenset(_MONEY.split()), frozenset(_OPTIONS.split())
NOT_OPTIONS = frozenset({"utcconversiontimezonecode", "timezoneruleversionnumber"})
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$")
UPDATE_EXTRAS = ("modifiedon", "_modifiedby_value", "_modifiedonbehalfby_value")


@dataclass(frozen=True)
class Event:
    """One raised message on one row, with who did it and when (as at the commit)."""

    message: str
    edef: EntityDef
    row: dict[str, Any]
    pre: dict[str, Any] | None
    target_names: tuple[str, ...] | None  # stored columns of an Update part; None = the whole row
    user: str
    user_aad: str | None
    business_unit: str | None
    correlation_id: str
    created_on: datetime


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    host: str


def logical_name(stored: str) -> str:
    """``_customerid_value`` -> ``customerid``; other columns as they are."""
    return stored[1:-6] if stored.startswith("_") and stored.endswith("_value") else stored


def _epoch(moment: datetime) -> str:
    return f"/Date({int(moment.timestamp() * 1000)})/"


def reference(logical: str, id: str | None, name: str | None = None) -> dict[str, Any]:
    return {"__type": f"EntityReference:{XRM}", "Id": id, "KeyAttributes": [], "LogicalName": logical,
            "Name": name, "RowVersion": None}  # fmt: skip


def wcf_value(edef: EntityDef, row: dict[str, Any], name: str) -> Any:
    value = row.get(name)
    if value is None:
        return None
    if name.startswith("_") and name.endswith("_value"):
        lookup = edef.lookups.get(logical_name(name))
        fallback = SYSTEM_LOOKUPS.get(name) or (ENTITIES[lookup.targets[0]].logical if lookup else "")
        return reference(row.get("__lln", {}).get(name) or fallback, value)
    if isinstance(value, bool):
        return value
    if name in MONEY and isinstance(value, int | float):
        return {"__type": f"Money:{XRM}", "Value": value}
    if isinstance(value, int) and (name in OPTIONS or (name.endswith("code") and name not in NOT_OPTIONS)):
        return {"__type": f"OptionSetValue:{XRM}", "Value": value}
    if isinstance(value, str) and DATE_RE.match(value):
        text = value if "T" in value else value + "T00:00:00Z"
        return _epoch(datetime.fromisoformat(text.replace("Z", "+00:00")))
    return value


def _attributes(edef: EntityDef, row: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    return [{"key": logical_name(n), "value": wcf_value(edef, row, n)} for n in names]


def entity_json(edef: EntityDef, row: dict[str, Any], names: list[str], typed: bool) -> dict[str, Any]:
    body = {"Attributes": _attributes(edef, row, names), "EntityState": None, "FormattedValues": [],
            "Id": row[edef.key], "KeyAttributes": [], "LogicalName": edef.logical,
            "RelatedEntities": [], "RowVersion": None}  # fmt: skip
    return {"__type": f"Entity:{XRM}", **body} if typed else body


def _target(event: Event) -> dict[str, Any]:
    edef, row = event.edef, event.row
    if event.message == "Delete":
        return reference(edef.logical, row[edef.key])
    if event.target_names is None:
        names = [n for n in sorted(edef.readable) if row.get(n) is not None]
    else:
        names = [*event.target_names, edef.key, *UPDATE_EXTRAS]
    return entity_json(edef, row, names, typed=True)


def _images(event: Event, registration: Registration, pre: bool) -> list[dict[str, Any]]:
    row = event.pre if pre else event.row
    if row is None or (pre and event.message == "Create") or (not pre and event.message == "Delete"):
        return []
    images: list[dict[str, Any]] = []
    for image in registration.images:
        if image.get("imagetype") not in ((0, 2) if pre else (1, 2)):
            continue
        wanted = split_names(image.get("attributes"))
        names = [n for n in sorted(event.edef.readable) if not wanted or logical_name(n) in wanted]
        images.append({"key": image.get("entityalias"), "value": entity_json(event.edef, row, names, False)})
    return images


def remote_context(event: Event, registration: Registration, org: Organization) -> dict[str, Any]:
    step = registration.step
    inputs: list[dict[str, Any]] = [{"key": "Target", "value": _target(event)}]
    outputs = [{"key": "id", "value": event.row[event.edef.key]}] if event.message == "Create" else []
    context: dict[str, Any] = {
        "BusinessUnitId": event.business_unit, "CorrelationId": event.correlation_id, "Depth": 1,
        "InitiatingUserAzureActiveDirectoryObjectId": event.user_aad, "InitiatingUserId": event.user,
        "InputParameters": inputs, "IsExecutingOffline": False, "IsInTransaction": False,
        "IsOfflinePlayback": False, "IsolationMode": 1, "MessageName": event.message,
        "Mode": step.get("mode"), "OperationCreatedOn": _epoch(event.created_on),
        "OperationId": str(uuid.uuid4()), "OrganizationId": org.id, "OrganizationName": org.name,
        "OutputParameters": outputs,
        "OwningExtension": {"Id": step["sdkmessageprocessingstepid"], "KeyAttributes": [],
                            "LogicalName": "sdkmessageprocessingstep", "Name": step.get("name"),
                            "RowVersion": None},
        "ParentContext": None, "PostEntityImages": _images(event, registration, pre=False),
        "PreEntityImages": _images(event, registration, pre=True),
        "PrimaryEntityId": event.row[event.edef.key], "PrimaryEntityName": event.edef.logical,
        "RequestId": None, "SecondaryEntityName": "none", "SharedVariables": [],
        "Stage": step.get("stage"), "UserId": event.user,
    }  # fmt: skip
    parent_inputs = [*inputs, {"key": "SuppressDuplicateDetection", "value": False}]
    context["ParentContext"] = {**context, "InputParameters": parent_inputs, "PostEntityImages": [],
                                "PreEntityImages": [], "Stage": 30}  # fmt: skip
    return context


def endpoint_url(endpoint: dict[str, Any]) -> str:
    """The endpoint's url with the query-string authentication (WebhookKey, HttpQueryString)."""
    url, authtype, authvalue = str(endpoint["url"]), endpoint.get("authtype"), endpoint.get("authvalue")
    pairs: list[tuple[str, str]] = []
    if authtype == WEBHOOK_KEY:
        pairs = [("code", str(authvalue))]
    elif authtype == HTTP_QUERY_STRING:
        pairs = parse_settings(str(authvalue))
    if not pairs:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(pairs)) if q)
    return urlunsplit(parts._replace(query=query))


def request(event: Event, registration: Registration, org: Organization) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery."""
    context = remote_context(event, registration, org)
    headers = {
        "Content-Type": "application/json",
        "x-ms-dynamics-organization": org.host,
        "x-ms-dynamics-entity-name": event.edef.logical,
        "x-ms-dynamics-request-name": event.message,
        "x-ms-correlation-request-id": event.correlation_id,
    }
    if registration.endpoint.get("authtype") == HTTP_HEADER:
        headers.update(parse_settings(str(registration.endpoint.get("authvalue"))))
    body = json.dumps(context).encode()
    if len(body) > MAX_BODY:
        headers[SIZE_EXCEEDED] = "true"
        body = json.dumps({k: v for k, v in context.items() if k not in TRIMMED}).encode()
    return body, headers


def now() -> datetime:
    return datetime.now(UTC)
