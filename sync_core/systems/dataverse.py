"""Dataverse adapter: the Web API behind the RecordSource/Sink ports.

It knows entity sets and their primary keys, ``modifiedon`` (BC's rule: a 999 ms overlap below the
watermark), ``_modifiedby_value`` (echo suppression), ETags and ``Prefer: return=representation``.
Lookups in written values are passed through as given (callers send ``x@odata.bind``).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from sync_core.errors import ConfigError, DataError, NotFoundError, SyncError, TransientError
from sync_core.odata.batch import DATAVERSE_MAX_REQUESTS, BatchRequest, BatchResponse, dataverse_batch
from sync_core.odata.classify import error_from_response
from sync_core.odata.client import ODataClient, ODataResponse, row_fields
from sync_core.odata.query import parse_datetime, select_param
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import Record, and_filters, odata_literal

log = logging.getLogger(__name__)

PRIMARY_KEYS: dict[str, str] = {
    "accounts": "accountid",
    "contacts": "contactid",
    "systemusers": "systemuserid",
    "teams": "teamid",
    "transactioncurrencies": "transactioncurrencyid",
    "uoms": "uomid",
    "uomschedules": "uomscheduleid",
    "products": "productid",
    "pricelevels": "pricelevelid",
    "productpricelevels": "productpricelevelid",
    "opportunities": "opportunityid",
    "quotes": "quoteid",
    "quotedetails": "quotedetailid",
    "salesorders": "salesorderid",
    "salesorderdetails": "salesorderdetailid",
    "invoices": "invoiceid",
    "invoicedetails": "invoicedetailid",
    "annotations": "annotationid",
    "posts": "postid",
    # webhook registration (api-facts §I)
    "serviceendpoints": "serviceendpointid",
    "sdkmessages": "sdkmessageid",
    "sdkmessagefilters": "sdkmessagefilterid",
    "sdkmessageprocessingsteps": "sdkmessageprocessingstepid",
    "cdm_companies": "cdm_companyid",  # BC's integration solution: one row per BC company
    "nav_accountstatisticses": "nav_accountstatisticsid",  # BC's integration solution (api-facts §I)
}
MODIFIED = "modifiedon"
MODIFIED_BY = "_modifiedby_value"
OVERLAP = timedelta(milliseconds=999)
RETURN_REPRESENTATION = {"Prefer": "return=representation"}


class DataverseAdapter:
    """One Dataverse environment's Web API (the client's root is ``<url>/api/data/v9.2/``)."""

    def __init__(self, client: ODataClient, primary_keys: Mapping[str, str] | None = None) -> None:
        self._client = client
        self._keys = {**PRIMARY_KEYS, **(primary_keys or {})}
        self._user_id: str | None = None

    def primary_key(self, entity: str) -> str:
        try:
            return self._keys[entity]
        except KeyError:
            raise ConfigError(f"no primary key known for Dataverse entity set {entity}") from None

    def whoami(self) -> str:
        """The calling (application) user's id, asked once."""
        if self._user_id is None:
            body = self._client.get("WhoAmI") or {}
            self._user_id = str(body["UserId"])
        return self._user_id

    def to_record(self, entity: str, row: Mapping[str, Any]) -> Record:
        key = self.primary_key(entity)
        try:
            record_id = str(row[key])
            modified = parse_datetime(str(row[MODIFIED]))
        except (KeyError, ValueError) as exc:
            raise DataError(f"Dataverse {entity} row without a usable {key}/{MODIFIED}") from exc
        etag = row.get("@odata.etag")
        by = row.get(MODIFIED_BY)
        return Record(
            id=record_id,
            modified_on=modified,
            etag=None if etag is None else str(etag),
            fields=row_fields(row),
            modified_by=None if by is None else str(by),
        )

    def _select(self, entity: str, select: Sequence[str]) -> str | None:
        if not select:
            return None
        return select_param([self.primary_key(entity), MODIFIED, MODIFIED_BY, *select])

    @staticmethod
    def _path(entity: str, record_id: str) -> str:
        return f"{entity}({record_id})"

    # -- RecordSource -----------------------------------------------------------------------

    def iter_modified(self, query: ModifiedQuery) -> Iterator[Record]:
        """Rows with ``modifiedon >= since - 999 ms``, optionally not modified by one user."""
        since = None
        if query.since is not None:
            since = f"{MODIFIED} ge {odata_literal(query.since - OVERLAP)}"
        not_by = None
        if query.exclude_modified_by:
            not_by = f"{MODIFIED_BY} ne {odata_literal(uuid.UUID(query.exclude_modified_by))}"
        params = {
            "$filter": and_filters(since, not_by, query.filter),
            "$select": self._select(query.entity, query.select),
        }
        count = 0
        for row in self._client.iter_rows(query.entity, params, page_size=query.page_size or None):
            count += 1
            yield self.to_record(query.entity, row)
        log.debug("dataverse %s: %d modified row(s)", query.entity, count)

    def get(self, entity: str, record_id: str, select: Sequence[str] = ()) -> Record | None:
        params = {"$select": self._select(entity, select)}
        try:
            row = self._client.get(self._path(entity, record_id), params)
        except NotFoundError:
            return None
        return self.to_record(entity, row)

    # -- RecordSink -------------------------------------------------------------------------

    def create(self, entity: str, values: Mapping[str, Any], record_id: str | None = None) -> Record:
        """POST the row (with ``record_id`` as its primary key when given).

        A row that already has that key raises AlreadyExistsError.
        """
        body = dict(values)
        if record_id is not None:
            body[self.primary_key(entity)] = record_id
        # with our own key a resent POST cannot make a second row (it gets AlreadyExistsError)
        response = self._client.post(
            entity, body, headers=RETURN_REPRESENTATION, idempotent=record_id is not None
        )
        record = self._record_from(entity, response, record_id)
        log.info("dataverse %s created %s", entity, record.id)
        return record

    def create_many(
        self, entity: str, rows: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[Record | SyncError]:
        """POST rows with their own keys in one ``$batch`` (top-level parts, continue-on-error,
        each ``return=representation``): per row, in order, the created record or the typed error
        of its own answer (AlreadyExistsError when its key exists: a resent create). The batch is
        sent again after a timeout (its keys make a resend harmless); an error of the batch
        itself (after retries) is raised."""
        if len(rows) > DATAVERSE_MAX_REQUESTS:
            raise ValueError(f"a Dataverse batch holds at most {DATAVERSE_MAX_REQUESTS} requests")
        key = self.primary_key(entity)
        requests = [
            BatchRequest("POST", entity, {**values, key: record_id}, dict(RETURN_REPRESENTATION))
            for record_id, values in rows
        ]
        answers = dataverse_batch(
            self._client, requests, changeset=False, continue_on_error=True, idempotent=True
        )
        results = [self._created(entity, a) for a in answers[: len(rows)]]
        missing = TransientError(f"dataverse {entity} batch: no answer for this row")
        results += [missing] * (len(rows) - len(results))
        log.info(
            "dataverse %s created %d of %d in one batch",
            entity,
            sum(isinstance(r, Record) for r in results),
            len(rows),
        )
        return results

    def _created(self, entity: str, answer: BatchResponse) -> Record | SyncError:
        if not answer.ok:
            text = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
            return error_from_response(self._client.system, answer.status, text, answer.headers)
        if isinstance(answer.body, Mapping) and answer.body:
            return self.to_record(entity, answer.body)
        return DataError(f"Dataverse {entity} batch create answered {answer.status} without the row")

    def update(self, entity: str, record_id: str, values: Mapping[str, Any], etag: str) -> Record:
        """PATCH with If-Match (``*`` = update-only); a stale ETag raises ConflictError (412)."""
        response = self._client.patch(
            self._path(entity, record_id), dict(values), etag=etag, headers=RETURN_REPRESENTATION
        )
        record = self._record_from(entity, response, record_id)
        log.info("dataverse %s updated %s", entity, record.id)
        return record

    def delete(self, entity: str, record_id: str, etag: str = "*") -> None:
        self._client.delete(self._path(entity, record_id), etag=etag)
        log.info("dataverse %s deleted %s", entity, record_id)

    # -- option sets (picklist metadata) -------------------------------------------------------

    def option_values(self, entity_logical: str, attribute: str) -> dict[int, str]:
        """The options of a picklist attribute: value -> label (the user's localized label)."""
        path = (
            f"EntityDefinitions(LogicalName='{entity_logical}')/Attributes(LogicalName='{attribute}')"
            "/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
        )
        params = {"$select": "LogicalName", "$expand": "OptionSet($select=Options)"}
        body = self._client.get(path, params) or {}
        options = (body.get("OptionSet") or {}).get("Options") or []
        return {int(o["Value"]): _user_label(o.get("Label")) for o in options}

    def insert_option_value(self, entity_logical: str, attribute: str, label: str) -> int:
        """Add an option (InsertOptionValue); Dataverse picks the value, which is returned."""
        body = {
            "EntityLogicalName": entity_logical,
            "AttributeLogicalName": attribute,
            "Label": _localized(label),
        }
        response = self._client.post("InsertOptionValue", body)
        value = int(response.body["NewOptionValue"])
        log.info("dataverse %s.%s: inserted option %d %r", entity_logical, attribute, value, label)
        return value

    def update_option_value(self, entity_logical: str, attribute: str, value: int, label: str) -> None:
        """Relabel one option (UpdateOptionValue, labels of other languages kept)."""
        body = {
            "EntityLogicalName": entity_logical,
            "AttributeLogicalName": attribute,
            "Value": value,
            "Label": _localized(label),
            "MergeLabels": True,
        }
        self._client.post("UpdateOptionValue", body, idempotent=True)
        log.info("dataverse %s.%s: option %d relabelled %r", entity_logical, attribute, value, label)

    def _record_from(self, entity: str, response: ODataResponse, record_id: str | None) -> Record:
        if isinstance(response.body, Mapping) and response.body:
            return self.to_record(entity, response.body)
        record_id = record_id or _id_from_entity_url(response.entity_id)
        if record_id is not None:  # 204 without a body: read the row back
            record = self.get(entity, record_id)
            if record is not None:
                return record
        raise DataError(f"Dataverse {entity} write answered {response.status} without the row")


LANGUAGE_CODE = 1033


def _localized(label: str) -> dict[str, Any]:
    return {"LocalizedLabels": [{"Label": label, "LanguageCode": LANGUAGE_CODE}]}


def _user_label(label: Any) -> str:
    """``UserLocalizedLabel.Label``, else the first localized label, else ""."""
    if not isinstance(label, Mapping):
        return ""
    user = label.get("UserLocalizedLabel")
    if isinstance(user, Mapping) and user.get("Label") is not None:
        return str(user["Label"])
    localized = label.get("LocalizedLabels") or []
    return str(localized[0].get("Label", "")) if localized else ""


def _id_from_entity_url(url: str | None) -> str | None:
    """The key inside the parentheses of an ``OData-EntityId`` URL."""
    if not url or "(" not in url:
        return None
    return url.rsplit("(", 1)[1].split(")", 1)[0] or None
