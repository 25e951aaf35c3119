"""Child mappings: a document's lines synchronized with their document (BC §3.11, §6.1).

A mapping whose ``parent`` is another mapping (POSTEDSALESLINE-INV under POSTEDSALESINV-INV) is
never synchronized on its own ("Cannot synchronize invoice lines separately."). Once the parent
record is inserted, modified or found unchanged in Dataverse, every line of the BC document (the
parent's navigation, e.g. ``postedSalesInvoices(<id>)/lines``) becomes a detail row of the Dataverse
document: the child's field mappings, then BC's hard-coded line rules (invoice, currency, line
number, tax, product and unit or write-in product, ship-to, the amounts written after insert).

The product of an Item or Resource line is its coupled product (``line_products``). An uncoupled
one fails the line ("must be coupled"), unless the child mapping says ``uncoupled_line_products =
"synchronize"`` (BC §6.1): inside its product mapping's table filter it is synchronized to
Dataverse on the fly (``OnTheFly``), outside it the line becomes a write-in line. The parent's write
rule is called around the lines (``before_lines``, ``after_lines``).

Idempotent under at-least-once delivery: each line is coupled by its BC SystemId, claimed with the
id the new row will get before it is created, so a redelivery finds the claim (or the row) and
never creates a second detail. Before the parent is inserted, every line must resolve; an error on
a line fails the parent record, naming the child mapping, the line and the field.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sync_core.errors import AlreadyExistsError, ConflictError, DataError, MappingError, PermanentError
from sync_core.mapping.catalog import Catalog
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.mapping.transfer import changed_values, writable_values
from sync_core.state.ports import Coupling
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.bookkeeping import record_success
from sync_core.sync.engine.on_the_fly import NotSynchronized
from sync_core.sync.engine.outcome import Outcome
from sync_core.sync.engine.values import RecordValues
from sync_core.sync.messages import RecordMessage
from sync_core.vocabulary import Record

SYNCED_OUTCOMES = frozenset({"inserted", "modified", "unchanged"})
ACTIVE = 0
# lookups of a detail row: read name -> (write name, entity set)
BINDS = {
    "_invoiceid_value": ("invoiceid@odata.bind", "invoices"),
    "_transactioncurrencyid_value": ("transactioncurrencyid@odata.bind", "transactioncurrencies"),
    "_productid_value": ("productid@odata.bind", "products"),
    "_uomid_value": ("uomid@odata.bind", "uoms"),
}
PARENT_LOOKUP = "_invoiceid_value"  # the detail row's document
# set on create only (the product of a line is never changed afterwards), besides the child
# mapping's crm_access = "insert" fields
CREATE_ONLY = frozenset({"_invoiceid_value", "_productid_value", "_uomid_value", "isproductoverridden"})
# not valid for create in Dataverse: BC writes them right after the insert (the hard-coded line
# rules set them whatever the mapping file says), besides the child's crm_access = "modify" fields
AFTER_INSERT = frozenset({"baseamount", "extendedamount", "volumediscountamount"})
SHIP_TO = ("name", "line1", "line2", "city", "country", "postalcode", "stateorprovince")


def child_mappings(catalog: Catalog, parent: IntegrationTableMapping) -> list[IntegrationTableMapping]:
    return [m for m in catalog if m.parent == parent.name]


def refuse_alone(catalog: Catalog, mapping: IntegrationTableMapping) -> None:
    """A child mapping is synchronized with its parent only (BC: "Cannot synchronize ... separately.")."""
    if not mapping.parent:
        return
    parent = catalog.get(mapping.parent)
    document = parent.crm_logical_name or parent.crm_entity
    raise DataError(
        f"Cannot synchronize {document} lines separately.",
        remedy=f"Synchronize the {document} instead (its mapping {parent.name}); its lines go with it.",
    )


@dataclass(frozen=True)
class DocumentLine:
    """One BC line with the detail row values it should have (by Dataverse read name)."""

    bc_id: str
    line_no: int
    modified_on: datetime
    values: dict[str, Any]


@dataclass(frozen=True)
class BcDocument:
    """A BC document and its lines as read for one child mapping."""

    number: str
    fields: Mapping[str, Any]
    lines: tuple[DocumentLine, ...]
    rows: tuple[Mapping[str, Any], ...] = ()  # the BC lines as read


class ChildLineSync:
    """The lines of the documents one message handles (its resolutions cached)."""

    def __init__(self, ctx: SyncContext, values: RecordValues) -> None:
        self.ctx = ctx
        self.values = values
        self._products: dict[tuple[str, str], tuple[str, str] | None] = {}
        self._resolved: dict[tuple[str, str], BcDocument] = {}

    # -- entry points (record, insert) ------------------------------------------------------------------

    def before_insert(self, mapping: IntegrationTableMapping, source: Record) -> None:
        """§6.1 before insert: every line must resolve (its product coupled) before the document exists."""
        for child in child_mappings(self.ctx.catalog, mapping):
            self._document(mapping, child, source)

    def after_parent(self, mapping: IntegrationTableMapping, msg: RecordMessage, outcome: Outcome) -> Outcome:
        """Synchronize the lines of a parent record the outcome says exists in Dataverse."""
        if msg.direction != "to-dataverse" or outcome.outcome not in SYNCED_OUTCOMES:
            return outcome
        children = child_mappings(self.ctx.catalog, mapping)
        if not children or not outcome.destination_id:
            return outcome
        header = self.ctx.dataverse.get(mapping.crm_entity, outcome.destination_id)
        if header is None or header.fields.get("statecode", ACTIVE) != ACTIVE:
            return outcome  # §6.1: an invoice no longer Active (paid, canceled) is read-only
        source = self.ctx.bc.get(mapping.bc_entity, msg.source_id)
        if source is None:
            return outcome
        rule = self.values.write_rule(mapping, msg.direction)
        documents = [(child, self._document(mapping, child, source)) for child in children]
        if rule is not None:
            rule.before_lines(self.ctx, header, [ln.values for _, doc in documents for ln in doc.lines])
        for child, document in documents:
            for line in document.lines:
                with _line_errors(child, mapping, document.number, line.line_no):
                    self._write_line(child, msg, header, line)
        if rule is not None:
            rule.after_lines(self.ctx, source, header, [row for _, doc in documents for row in doc.rows])
        self._resolved.clear()  # read again for the next message: couplings may have changed
        return outcome

    # -- reading and resolving --------------------------------------------------------------------

    def _document(
        self, mapping: IntegrationTableMapping, child: IntegrationTableMapping, source: Record
    ) -> BcDocument:
        key = (child.name, source.id)
        if key not in self._resolved:
            nav = child.bc_navigation or child.bc_entity
            rows = self.ctx.bc.list_rows(f"{mapping.bc_entity}({source.id})/{nav}")
            ordered = sorted(rows, key=lambda r: int(r.get("lineNo") or 0))
            number = str(source.fields.get(mapping.bc_code_field or "number", source.id))
            lines = []
            for row in ordered:
                line_no = int(row.get("lineNo") or 0)
                with _line_errors(child, mapping, number, line_no):
                    values = self._line_values(child, source, row)
                lines.append(DocumentLine(str(row["id"]), line_no, source.modified_on, values))
            self._resolved[key] = BcDocument(number, source.fields, tuple(lines), tuple(ordered))
        return self._resolved[key]

    def _line_values(self, child: IntegrationTableMapping, header: Record, row: Mapping[str, Any]) -> dict:
        """The child's field mappings, then BC's hard-coded line rules (§6.1)."""
        line = Record(str(row["id"]), header.modified_on, None, row)
        values = self.values.desired(child, "to-dataverse", line, inserting=True)
        amount, including_vat = _number(row, "amount"), _number(row, "amountIncludingVat")
        line_discount, invoice_discount = (
            _number(row, "lineDiscountAmount"),
            _number(row, "invDiscountAmount"),
        )
        values |= {
            "lineitemnumber": int(row.get("lineNo") or 0),
            "tax": round(including_vat - amount, 2),
            "manualdiscountamount": line_discount,
            "volumediscountamount": 0,
            "baseamount": round(amount + invoice_discount + line_discount, 2),
            "extendedamount": round(including_vat + invoice_discount, 2),
        }
        factor = _number(header.fields, "currencyFactor")
        values["exchangerate"] = round(1 / factor, 2) if factor else 1.0  # BC: Round(1 / factor)
        quantity = _number(row, "quantity")
        if header.fields.get("pricesIncludingVat") and quantity:
            vat_per_unit = round((including_vat - amount) / quantity, 2)
            values["priceperunit"] = round(_number(row, "unitPrice") - vat_per_unit, 5)
        return values | self._product_values(child, row)

    def _product_values(self, child: IntegrationTableMapping, row: Mapping[str, Any]) -> dict[str, Any]:
        """The coupled product and its default unit, or a write-in line "<No.> <Description>."."""
        kind, number = str(row.get("type") or ""), str(row.get("number") or "")
        product_mapping = dict(child.line_products).get(kind)
        product = None
        if product_mapping and not self._is_write_in_product(kind, number):
            product = self._product(child, product_mapping, kind, number)
        if product is None:
            description = " ".join(p for p in (number, str(row.get("description") or "")) if p)
            return {"isproductoverridden": True, "productdescription": f"{description}."}
        product_id, unit_id = product
        return {"isproductoverridden": False, "_productid_value": product_id, "_uomid_value": unit_id}

    def _is_write_in_product(self, kind: str, number: str) -> bool:
        setup = (self.values.reference.rows("integrationSetup") or [{}])[0]
        written_in = str(setup.get("writeInProductNo") or "").upper()
        return kind == setup.get("writeInProductType") and number.upper() == written_in != ""

    def _product(
        self, child: IntegrationTableMapping, mapping_name: str, kind: str, number: str
    ) -> tuple[str, str] | None:
        key = (mapping_name, number)
        if key not in self._products:
            target = self.ctx.mapping(mapping_name)
            if child.uncoupled_line_products == "synchronize":
                crm_id = self._synchronized_product(target, kind, number)
                if crm_id is None:  # outside the product mapping's filter: a write-in line
                    self._products[key] = None
                    return None
            else:
                crm_id = self.values.lookups.coupled_crm_id(target, number)
            self._products[key] = self._coupled_product(target, kind, number, crm_id)
        return self._products[key]

    def _synchronized_product(self, target: IntegrationTableMapping, kind: str, number: str) -> str | None:
        """BC §6.1: the coupled product, else synchronized now (inside the filter), else None (write-in)."""
        try:
            return self.values.on_the_fly.crm_id(target, number)
        except NotSynchronized as exc:
            noun = "resource" if kind == "Resource" else "product"  # BC's CannotSynch...Err
            raise MappingError(
                f"Cannot synchronize the {noun} {number}. {exc.message}",
                field="productid",
                remedy=f'See python -m sync_core errors --mapping "{target.name}", fix '
                f"{kind.lower()} {number} (or couple it), then retry the record.",
            ) from exc

    def _coupled_product(
        self, target: IntegrationTableMapping, kind: str, number: str, crm_id: str | None
    ) -> tuple[str, str]:
        product = self.ctx.dataverse.get(target.crm_entity, crm_id) if crm_id else None
        if product is None:
            raise MappingError(
                f"{kind} No. {number} must be coupled to a record in Dataverse.",
                field="productid",
                remedy=f"Couple it or synchronize the {target.name} mapping first "
                f'(python -m sync_core run "{target.name}"), then retry the record.',
            )
        unit = product.fields.get("_defaultuomid_value")
        if not unit:
            raise MappingError(
                f"The product coupled to {kind.lower()} {number} has no default unit in Dataverse.",
                field="uomid",
                remedy=f'Synchronize the {target.name} mapping (python -m sync_core run "{target.name}") '
                "so the product gets its unit, then retry the record.",
            )
        return product.id, str(unit)

    # -- writing ----------------------------------------------------------------------------------

    def _write_line(
        self, child: IntegrationTableMapping, msg: RecordMessage, header: Record, line: DocumentLine
    ) -> None:
        desired = line.values | _from_header(header)
        line_msg = RecordMessage(child.name, "to-dataverse", line.bc_id, msg.job_id, msg.reason)
        store = self.ctx.stores.couplings
        coupling = store.get_by_bc(child.name, line.bc_id)
        existing = self.ctx.dataverse.get(child.crm_entity, coupling.crm_id) if coupling else None
        if existing is not None and existing.fields.get(PARENT_LOOKUP) != header.id:
            existing = None  # a line of an earlier, uncoupled copy of the document: leave it there
        if coupling is not None and existing is None and coupling.state == "coupled":
            store.delete(coupling)  # its row is gone or elsewhere (document restored): create it again
            coupling = None
        if coupling is None:
            coupling = self._claim(child, line.bc_id)
        if existing is None:
            existing = self._create(child, coupling, desired)
        self._update(child, line_msg, coupling, existing, desired, line.modified_on)

    def _claim(self, child: IntegrationTableMapping, bc_id: str) -> Coupling:
        claim = Coupling(child.name, bc_id, str(uuid.uuid4()), state="claimed", claimed_at=self.ctx.clock())
        try:
            return self.ctx.stores.couplings.claim(claim)
        except AlreadyExistsError:
            raise ConflictError("the line was claimed meanwhile by another worker") from None

    def _create(self, child: IntegrationTableMapping, coupling: Coupling, desired: dict) -> Record:
        values = writable_values(child, desired, creating=True)
        body = _write_body({k: v for k, v in values.items() if k not in AFTER_INSERT})
        dataverse = self.ctx.dataverse
        try:
            return dataverse.create(child.crm_entity, body, record_id=coupling.crm_id)
        except AlreadyExistsError:  # a redelivered create: the row is ours
            created = dataverse.get(child.crm_entity, coupling.crm_id)
            if created is None:
                self.ctx.stores.couplings.delete(coupling)
                raise
            return created
        except PermanentError:  # refused: nothing was created, free the claim
            self.ctx.stores.couplings.delete(coupling)
            raise

    def _update(
        self,
        child: IntegrationTableMapping,
        msg: RecordMessage,
        coupling: Coupling,
        row: Record,
        desired: dict,
        modified_on: datetime,
    ) -> None:
        values = writable_values(child, desired, creating=False)
        changes = changed_values({k: v for k, v in values.items() if k not in CREATE_ONLY}, row.fields)
        if changes:
            row = self.ctx.dataverse.update(
                child.crm_entity, row.id, _write_body(changes), etag=row.etag or "*"
            )
        line = Record(coupling.bc_id, modified_on, None, {})
        record_success(self.ctx.stores.couplings, replace(coupling, state="coupled"), msg, line, row)


def _from_header(header: Record) -> dict[str, Any]:
    """§6.1: the invoice, its currency, its ship-to address and delivery date."""
    fields = header.fields
    values: dict[str, Any] = {
        PARENT_LOOKUP: header.id,
        "_transactioncurrencyid_value": fields.get("_transactioncurrencyid_value"),
        "actualdeliveryon": fields.get("datedelivered"),
    }
    return values | {f"shipto_{part}": fields.get(f"shipto_{part}") for part in SHIP_TO}


def _write_body(values: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, value in values.items():
        if name in BINDS:
            write_name, entity_set = BINDS[name]
            body[write_name] = f"/{entity_set}({value})" if value else None
        else:
            body[name] = value
    return body


def _number(row: Mapping[str, Any], name: str) -> float:
    return float(row.get(name) or 0)


@contextmanager
def _line_errors(
    child: IntegrationTableMapping, parent: IntegrationTableMapping, document: str, line: int
) -> Iterator[None]:
    """A permanent error on a line fails the document, naming the child mapping, the line and field."""
    try:
        yield
    except PermanentError as exc:
        raise MappingError(
            f"{child.name}: line {line} of {parent.name} {document}: {exc.message}",
            field=getattr(exc, "field", "") or "",
            remedy=exc.remedy,
        ) from exc
