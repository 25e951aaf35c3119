"""A Dataverse sales order or quote as the document processing reads it: header, lines, notes.

Read fresh from the Web API every time (a webhook's payload may be trimmed or stale). Values only:
the rules that turn them into a BC document are in ``lines.py`` and ``header.py``.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sync_core.systems.ports import ModifiedQuery, RecordSource
from sync_core.vocabulary import Record, eq

DocumentKind = Literal["salesorder", "quote"]
SETS: dict[str, tuple[str, str, str, str]] = {
    # kind -> (entity set, number attribute, line entity set, the line's document lookup)
    "salesorder": ("salesorders", "ordernumber", "salesorderdetails", "_salesorderid_value"),
    "quote": ("quotes", "quotenumber", "quotedetails", "_quoteid_value"),
}
# statecode / statuscode (api-facts §A.4)
ORDER_ACTIVE, ORDER_SUBMITTED, ORDER_INVOICED = 0, 1, 4
QUOTE_DRAFT, QUOTE_ACTIVE, QUOTE_WON, QUOTE_CLOSED = 0, 1, 2, 3
QUOTE_REVISED = 7  # statuscode of a closed, revised quote


@dataclass(frozen=True)
class CrmLine:
    id: str
    sequence: int
    product_id: str  # "" = a write-in product
    product_description: str
    description: str  # the multi-line memo
    quantity: float
    price_per_unit: float
    manual_discount: float
    volume_discount: float


@dataclass(frozen=True)
class CrmNote:
    id: str
    subject: str
    text: str  # HTML removed
    created_on: str


@dataclass(frozen=True)
class CrmDocument:
    kind: DocumentKind
    id: str
    number: str  # ordernumber / quotenumber
    state: int
    status: int
    fields: Mapping[str, Any]
    lines: tuple[CrmLine, ...] = ()
    notes: tuple[CrmNote, ...] = ()
    modified_on: datetime | None = None

    def get(self, name: str, default: Any = None) -> Any:
        value = self.fields.get(name)
        return default if value is None else value

    @property
    def id_guid(self) -> uuid.UUID:
        """The id as a GUID value (an unquoted literal in a filter)."""
        return uuid.UUID(self.id)

    @property
    def key(self) -> str:
        """The document's key in the step store and the job log (``salesorder:<id>``)."""
        return f"{self.kind}:{self.id}"


def number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _line(record: Record) -> CrmLine:
    f = record.fields
    return CrmLine(
        id=record.id,
        sequence=int(number(f.get("sequencenumber"))),
        product_id=str(f.get("_productid_value") or ""),
        product_description=str(f.get("productdescription") or ""),
        description=str(f.get("description") or ""),
        quantity=number(f.get("quantity")),
        price_per_unit=number(f.get("priceperunit")),
        manual_discount=number(f.get("manualdiscountamount")),
        volume_discount=number(f.get("volumediscountamount")),
    )


_TAGS = re.compile(r"<[^>]+>")
_BREAKS = re.compile(r"<\s*(br|/p|/div)\s*/?>", re.IGNORECASE)


def plain_text(value: str) -> str:
    """The text of a note: HTML tags removed, entities decoded, line breaks kept."""
    text = _BREAKS.sub("\n", value)
    return html.unescape(_TAGS.sub("", text)).strip()


def _note(record: Record) -> CrmNote | None:
    f = record.fields
    if f.get("isdocument") or number(f.get("filesize")):
        return None  # BC copies notes only, not attachments
    return CrmNote(
        id=record.id,
        subject=str(f.get("subject") or ""),
        text=plain_text(str(f.get("notetext") or "")),
        created_on=str(f.get("createdon") or ""),
    )


def read_document(dv: RecordSource, kind: DocumentKind, document_id: str) -> CrmDocument | None:
    """The order or quote with its lines (in sequence) and notes; None when it does not exist."""
    entity, number_attr, line_set, line_lookup = SETS[kind]
    header = dv.get(entity, document_id)
    if header is None:
        return None
    key = uuid.UUID(header.id)
    lines = dv.iter_modified(ModifiedQuery(line_set, filter=eq(line_lookup, key)))
    notes = dv.iter_modified(ModifiedQuery("annotations", filter=eq("_objectid_value", key)))
    return CrmDocument(
        kind=kind,
        id=header.id,
        number=str(header.fields.get(number_attr) or ""),
        state=int(number(header.fields.get("statecode"))),
        status=int(number(header.fields.get("statuscode"))),
        fields=header.fields,
        lines=tuple(sorted((_line(r) for r in lines), key=lambda li: (li.sequence, li.id))),
        notes=tuple(n for n in (_note(r) for r in notes) if n is not None),
        modified_on=header.modified_on,
    )
