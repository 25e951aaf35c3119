"""``dataverse-webhooks register --url URL``: the webhook service endpoint and its steps, idempotently.

What BC's "Redeploy Integration Solution" does for its own plug-ins, for our webhook (api-facts §I):
one service endpoint (contract 8 Webhook, authtype 5 Http Header with ``x-webhook-secret`` =
``WEBHOOK_SECRET``) named ``bcsync``; steps (stage 40 PostOperation, mode 1 asynchronous) for
- Update of ``salesorder`` and ``quote`` on ``statecode,statuscode`` (submitted orders, activated
  and won quotes: the sales documents);
- Create, Update and Delete of every table a mapping brings to BC, an Update filtered on the
  attributes the mappings read and the state (so master data changed in Dataverse arrives in
  seconds).
Each step is named after what it does; a second run finds the endpoint and the steps by name and
changes only what differs, and removes steps of the endpoint that are no longer wanted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from xml.sax.saxutils import quoteattr

from sync_core.errors import ConfigError
from sync_core.mapping.catalog import Catalog
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import TO_BC, Record, and_filters, eq

log = logging.getLogger(__name__)

ENDPOINT_NAME = "bcsync"
WEBHOOK_CONTRACT, HTTP_HEADER_AUTH = 8, 5
POST_OPERATION, ASYNCHRONOUS = 40, 1
SECRET_HEADER = "x-webhook-secret"
DOCUMENT_TABLES = ("salesorder", "quote")
STATE_ATTRIBUTES = "statecode,statuscode"


class DataverseApi(Protocol):
    def iter_modified(self, query: ModifiedQuery) -> Any: ...

    def create(self, entity: str, values: Mapping[str, Any], record_id: str | None = None) -> Record: ...

    def update(self, entity: str, record_id: str, values: Mapping[str, Any], etag: str) -> Record: ...

    def delete(self, entity: str, record_id: str, etag: str = "*") -> None: ...


@dataclass(frozen=True)
class StepSpec:
    message: str  # Create | Update | Delete
    table: str  # logical name
    attributes: str = ""  # filtering attributes of an Update ("" = all)

    @property
    def name(self) -> str:
        return f"{ENDPOINT_NAME}: {self.message} of {self.table}"


def wanted_steps(catalog: Catalog) -> list[StepSpec]:
    """The document steps, then Create/Update/Delete of every table a table mapping brings to BC."""
    specs = [StepSpec("Update", table, STATE_ATTRIBUTES) for table in DOCUMENT_TABLES]
    attributes: dict[str, set[str]] = {}
    for mapping in catalog:
        if mapping.kind != "table" or not mapping.allows(TO_BC) or mapping.parent:
            continue
        table = mapping.crm_logical_name or mapping.crm_entity
        # the state too: BC's hard-coded rules read it (a retired product is a blocked item)
        attributes.setdefault(table, {"statecode", "statuscode"}).update(
            _attribute(f.crm_field) for f in mapping.field_mappings(TO_BC)
        )
    for table in sorted(attributes):
        specs += [
            StepSpec("Create", table),
            StepSpec("Update", table, ",".join(sorted(a for a in attributes[table] if a))),
            StepSpec("Delete", table),
        ]
    return specs


def _attribute(read_name: str) -> str:
    """``_parentcustomerid_value`` -> ``parentcustomerid`` (the attribute a step filters on)."""
    if read_name.startswith("_") and read_name.endswith("_value"):
        return read_name[1:-6]
    return read_name


def auth_value(secret: str) -> str:
    return f"<settings><setting name={quoteattr(SECRET_HEADER)} value={quoteattr(secret)} /></settings>"


class WebhookRegistration:
    def __init__(self, dataverse: DataverseApi, catalog: Catalog) -> None:
        self.dv = dataverse
        self.catalog = catalog
        self._messages: dict[str, str] = {}

    def register(self, url: str, secret: str) -> dict[str, Any]:
        if not url.lower().startswith(("https://", "http://")):
            raise ConfigError(f"the webhook url must be http(s), not {url!r}")
        endpoint, created = self._endpoint(url, secret)
        existing = {
            str(r.fields.get("name")): r
            for r in self._rows("sdkmessageprocessingsteps", eq("_eventhandler_value", uuid.UUID(endpoint)))
        }
        counts = {"created": 0, "updated": 0, "unchanged": 0, "removed": 0}
        wanted = wanted_steps(self.catalog)
        for spec in wanted:
            counts[self._step(spec, endpoint, existing.get(spec.name))] += 1
        for name, row in existing.items():
            if name not in {s.name for s in wanted}:
                self.dv.delete("sdkmessageprocessingsteps", row.id)
                counts["removed"] += 1
        log.info(
            "dataverse webhooks registered: endpoint %s, steps %s", "created" if created else "kept", counts
        )
        return {"endpoint": endpoint, "endpoint_created": created, "steps": len(wanted), **counts}

    def health(self) -> dict[str, Any]:
        """Read only: the endpoint's url and which wanted steps Dataverse has (and which it lacks)."""
        found = self._rows(
            "serviceendpoints", and_filters(eq("contract", WEBHOOK_CONTRACT), eq("name", ENDPOINT_NAME))
        )
        if not found:
            return {
                "endpoint": "",
                "url": "",
                "steps": 0,
                "missing": [s.name for s in wanted_steps(self.catalog)],
            }
        steps = self._rows("sdkmessageprocessingsteps", eq("_eventhandler_value", uuid.UUID(found[0].id)))
        have = {str(r.fields.get("name")) for r in steps}
        wanted = [s.name for s in wanted_steps(self.catalog)]
        return {
            "endpoint": found[0].id,
            "url": str(found[0].fields.get("url") or ""),
            "steps": sum(name in have for name in wanted),
            "missing": [name for name in wanted if name not in have],
        }

    def _rows(self, entity: str, expr: str | None) -> list[Record]:
        return list(self.dv.iter_modified(ModifiedQuery(entity, filter=expr)))

    def _endpoint(self, url: str, secret: str) -> tuple[str, bool]:
        values = {
            "name": ENDPOINT_NAME,
            "url": url,
            "contract": WEBHOOK_CONTRACT,
            "authtype": HTTP_HEADER_AUTH,
            "authvalue": auth_value(secret),
        }
        found = self._rows(
            "serviceendpoints", and_filters(eq("contract", WEBHOOK_CONTRACT), eq("name", ENDPOINT_NAME))
        )
        if found:
            self.dv.update("serviceendpoints", found[0].id, values, "*")  # authvalue cannot be read back
            return found[0].id, False
        return self.dv.create("serviceendpoints", values).id, True

    def _step(self, spec: StepSpec, endpoint: str, current: Record | None) -> str:
        message = self._message(spec.message)
        filters = self._rows(
            "sdkmessagefilters",
            and_filters(
                eq("_sdkmessageid_value", uuid.UUID(message)), eq("primaryobjecttypecode", spec.table)
            ),
        )
        if not filters:
            raise ConfigError(f"Dataverse has no {spec.message} message for table {spec.table}")
        plain = {
            "name": spec.name,
            "stage": POST_OPERATION,
            "mode": ASYNCHRONOUS,
            "rank": 1,
            "supporteddeployment": 0,
            "asyncautodelete": True,
            "filteringattributes": spec.attributes,
        }
        binds = {
            "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint})",
            "sdkmessageid@odata.bind": f"/sdkmessages({message})",
            "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filters[0].id})",
        }
        if current is None:
            self.dv.create("sdkmessageprocessingsteps", plain | binds)
            return "created"
        same = all(_same(current.fields.get(k), v) for k, v in plain.items())
        same = same and str(current.fields.get("_sdkmessagefilterid_value") or "") == filters[0].id
        if same:
            return "unchanged"
        self.dv.update("sdkmessageprocessingsteps", current.id, plain | binds, "*")
        return "updated"

    def _message(self, name: str) -> str:
        if name not in self._messages:
            found = self._rows("sdkmessages", eq("name", name))
            if not found:
                raise ConfigError(f"Dataverse has no sdkmessage {name}")
            self._messages[name] = found[0].id
        return self._messages[name]


def _same(current: Any, wanted: Any) -> bool:
    return (current or "") == (wanted or "") if isinstance(wanted, str) else current == wanted
