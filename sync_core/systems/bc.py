"""Business Central adapter: API v2.0 and the companion API behind the RecordSource/Sink ports.

It knows which entity sets live on the companion API (bc-companion-api.md), the company-scoped
paths, ``lastModifiedDateTime`` (BC's watermark rule: strictly after) and ETags. No mapping logic.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sync_core.errors import DataError, NotFoundError
from sync_core.odata.client import ODataClient, ODataResponse, row_fields
from sync_core.odata.query import parse_datetime, select_param
from sync_core.systems.ports import ModifiedQuery
from sync_core.vocabulary import Record, and_filters, odata_literal

log = logging.getLogger(__name__)

COMPANION_SETS = frozenset(
    {
        "integrationCustomers",
        "integrationContacts",
        "integrationItems",
        "resources",
        "customerPriceGroups",
        "salesPrices",
        "opportunities",
        "shippingAgents",
        "currencyExchangeRates",
        "postedSalesInvoices",
        "integrationSetup",
        # extension 1.1: sales documents and back office
        "salesDocuments",
        "salesDocumentLines",
        "salesDocumentArchives",
        "salesDocumentEvents",
        "vatPostingSetups",
        "customerStatistics",
        "itemAvailability",
    }
)
ID = "id"
MODIFIED = "lastModifiedDateTime"


def to_record(row: Mapping[str, Any]) -> Record:
    """A BC row as a Record (id = SystemId, modified_on from ``lastModifiedDateTime``)."""
    try:
        record_id = str(row[ID])
        modified = parse_datetime(str(row[MODIFIED]))
    except (KeyError, ValueError) as exc:
        raise DataError(f"BC row without a usable {ID}/{MODIFIED}") from exc
    etag = row.get("@odata.etag")
    return Record(
        id=record_id,
        modified_on=modified,
        etag=None if etag is None else str(etag),
        fields=row_fields(row),
    )


class BcAdapter:
    """One BC company, reached through the v2.0 and the companion API clients."""

    def __init__(self, v2: ODataClient, companion: ODataClient, company_id: str) -> None:
        self._v2 = v2
        self._companion = companion
        self.company_id = company_id

    def client_for(self, entity: str) -> ODataClient:
        """The API of an entity set, or of a navigation from one (``postedSalesInvoices(<id>)/lines``)."""
        return self._companion if entity.split("(", 1)[0] in COMPANION_SETS else self._v2

    def path(self, entity: str, record_id: str | None = None) -> str:
        base = f"companies({self.company_id})/{entity}"
        return base if record_id is None else f"{base}({record_id})"

    @staticmethod
    def _select(select: Sequence[str]) -> str | None:
        return select_param([ID, MODIFIED, *select]) if select else None

    # -- RecordSource -----------------------------------------------------------------------

    def iter_modified(self, query: ModifiedQuery) -> Iterator[Record]:
        """Rows modified strictly after ``query.since`` (all rows when it is None)."""
        since = None if query.since is None else f"{MODIFIED} gt {odata_literal(query.since)}"
        params = {"$filter": and_filters(since, query.filter), "$select": self._select(query.select)}
        client = self.client_for(query.entity)
        count = 0
        for row in client.iter_rows(self.path(query.entity), params, page_size=query.page_size or None):
            count += 1
            yield to_record(row)
        log.debug("bc %s: %d modified row(s)", query.entity, count)

    def get(self, entity: str, record_id: str, select: Sequence[str] = ()) -> Record | None:
        params = {"$select": self._select(select)}
        try:
            row = self.client_for(entity).get(self.path(entity, record_id), params)
        except NotFoundError:
            return None
        return to_record(row)

    # -- RecordSink -------------------------------------------------------------------------

    def create(self, entity: str, values: Mapping[str, Any], record_id: str | None = None) -> Record:
        """POST the row; BC assigns the id (``record_id`` is ignored)."""
        response = self.client_for(entity).post(self.path(entity), dict(values))
        record = self._record_from(entity, response)
        log.info("bc %s created %s", entity, record.id)
        return record

    def update(self, entity: str, record_id: str, values: Mapping[str, Any], etag: str) -> Record:
        """PATCH with If-Match; a stale ETag raises ConflictError (409 Request_EntityChanged)."""
        response = self.client_for(entity).patch(self.path(entity, record_id), dict(values), etag=etag)
        record = self._record_from(entity, response, record_id)
        log.info("bc %s updated %s", entity, record.id)
        return record

    def delete(self, entity: str, record_id: str, etag: str = "*") -> None:
        self.client_for(entity).delete(self.path(entity, record_id), etag=etag)
        log.info("bc %s deleted %s", entity, record_id)

    def company(self) -> dict[str, Any]:
        """This BC company's row (v2.0 ``companies(<id>)``: name, displayName)."""
        return dict(self._v2.get(f"companies({self.company_id})") or {})

    def action(self, entity: str, record_id: str, name: str) -> None:
        """A bound action: POST ``<entity>(<id>)/Microsoft.NAV.<name>`` (BC answers 204)."""
        self.client_for(entity).post(f"{self.path(entity, record_id)}/Microsoft.NAV.{name}", {})
        log.info("bc %s %s: %s", entity, record_id, name)

    def _record_from(self, entity: str, response: ODataResponse, record_id: str | None = None) -> Record:
        if isinstance(response.body, Mapping) and ID in response.body:
            return to_record(response.body)
        if record_id is not None:  # an answer without a body: read the row back
            record = self.get(entity, record_id)
            if record is not None:
                return record
        raise DataError(f"BC {entity} write answered {response.status} without the row")

    # -- reference data ---------------------------------------------------------------------

    def list_rows(
        self,
        entity: str,
        filter: str | None = None,
        select: Sequence[str] = (),
        *,
        expand: str | None = None,
        orderby: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row of a company-scoped set (e.g. ``currencyExchangeRates``), as dicts."""
        params = {
            "$filter": filter,
            "$select": select_param(select) or None,
            "$expand": expand,
            "$orderby": orderby,
        }
        yield from self.client_for(entity).iter_rows(self.path(entity), params, page_size=page_size)
