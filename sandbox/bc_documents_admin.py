"""BC's back office on sales documents, for demos and tests: emulator methods and admin routes.

What BC users do and the sync only sees (bc-integration §5.2), done as BC does it
(:mod:`sandbox.bc_documents_posting`); each call is all or nothing. Routes (sandbox only, under
``/_admin/``: neither counted, authenticated nor throttled; errors in BC's error shape):

- ``POST /_admin/sales-documents/<id>/release`` -> 200 the ``salesDocuments`` row
  (method ``release_sales_document``); an order leaves a ``Released`` event
- ``POST /_admin/sales-documents/<id>/reopen`` -> 200 the row (``reopen_sales_document``)
- ``POST /_admin/sales-documents/<id>/archive`` -> 201 the ``salesDocumentArchives`` row
  (``archive_sales_document``)
- ``POST /_admin/sales-documents/<id>/post-shipment``, optional body
  ``{"quantities": {"<lineNo>": qty}}`` (default: all outstanding) -> 200 ``{"shipmentNo": ...}``
  (``post_sales_shipment``); event ``ShipmentPosted``
- ``POST /_admin/sales-documents/<id>/post-invoice``, optional body ``{"ship": true}`` (ship the
  outstanding quantities first; default: invoice what is shipped and not invoiced) -> 201 the
  ``postedSalesInvoices`` row with ``lines`` (``post_sales_invoice``); events ``InvoicePosted``
  and, when fully invoiced, ``OrderFullyInvoiced`` (the order is then deleted)
- ``POST /_admin/sales-invoices/from-shipments``, body ``{"orderIds": [...]}`` -> 201 one posted
  invoice for the shipped, not invoiced lines of several orders (Get Shipment Lines;
  ``post_invoice_from_shipments``); the orders stay
- ``DELETE /_admin/sales-documents/<id>`` -> 204, deleted by hand (``delete_sales_document``);
  an order leaves an ``OrderDeleted`` event
- ``POST /_admin/posted-sales-invoices/<id>/payment``, optional body ``{"amount": x}`` (default:
  all that remains) -> 200 the posted invoice (``apply_payment``)
- ``POST /_admin/posted-sales-invoices/<id>/unapply`` -> 200 the posted invoice
  (``unapply_payment``): all its payments unapplied, Remaining Amount = Amount Including VAT;
  400 "Cust. Ledger Entry No. <n> does not have an application entry." when none is applied
- ``POST /_admin/posted-sales-invoices/<id>/cancel`` -> 200 the posted invoice
  (``cancel_posted_invoice``): BC's Cancel, ``cancelled`` true, Remaining Amount 0; 400 with BC's
  text when a payment is applied or it is already cancelled
- ``POST /_admin/customers/<No.>/statistics``, body ``{"balanceLcy": 10.5, ...}`` with any of
  balanceLcy, outstandingOrdersLcy, shippedNotInvoicedLcy, outstandingInvoicesLcy,
  overdueAmountsLcy, totalSalesLcy, invoicedPrepaymentAmountLcy: amounts in LCY ADDED to the
  computed figures (negative ones subtract; they add up over calls until the next reseed) ->
  200 the ``customerStatistics`` row (``adjust_customer_statistics``); its lastActivityDateTime
  moves. 400 for an unknown field, a non-number, ``creditLimitLcy`` (the customer's own field)
  or an empty body; 404 for an unknown customer No.

Every change of a posted invoice (posting, payment, unapply, cancel) is a ledger activity of its
customer: ``customerStatistics.lastActivityDateTime`` moves (:mod:`sandbox.bc_statistics`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from sandbox import bc_documents_posting as posting
from sandbox import bc_statistics as statistics
from sandbox.bc_rules import bc_error
from sandbox.bc_schema import VIEWS
from sandbox.odata.protocol import ApiError, Request, Response

if TYPE_CHECKING:
    from sandbox.bc_model import BcModel
    from sandbox.odata.engine import Store

T = TypeVar("T")
DOCUMENTS, INVOICES, ARCHIVES, STATISTICS = (
    VIEWS["salesDocuments"],
    VIEWS["postedSalesInvoices"],
    VIEWS["salesDocumentArchives"],
    VIEWS["customerStatistics"],
)
DOCUMENT_ROUTES = {"release", "reopen", "archive", "post-shipment", "post-invoice"}
INVOICE_ROUTES = {"payment", "unapply", "cancel"}


class SalesBackOffice:
    """Mixed into :class:`sandbox.bc_emulator.BcEmulator`."""

    model: BcModel
    store: Store
    company_id: str

    # -- methods (tests call them in-process) ----------------------------------------------------

    def release_sales_document(self, id: str) -> dict:
        return self._project(self._on_document(id, posting.release))

    def reopen_sales_document(self, id: str) -> dict:
        return self._project(self._on_document(id, posting.reopen))

    def archive_sales_document(self, id: str) -> dict:
        return self.model.project(ARCHIVES, self._on_document(id, posting.archive))

    def post_sales_shipment(self, id: str, quantities: dict[int, float] | None = None) -> str:
        return self._on_document(id, lambda model, doc: posting.post_shipment(model, doc, quantities))

    def post_sales_invoice(self, id: str, *, ship: bool = False) -> dict:
        invoice = self._on_document(id, lambda model, doc: posting.post_invoice(model, doc, ship=ship))
        return self._invoice(invoice)

    def post_invoice_from_shipments(self, order_ids: list[str]) -> dict:
        def run() -> dict:
            headers = [posting.postable_order(self.model, self._document(i)) for i in order_ids]
            return posting.invoice_orders(self.model, headers, delete_invoiced=False)

        return self._invoice(self._atomic(run))

    def delete_sales_document(self, id: str) -> None:
        self._atomic(lambda: self.model.delete(DOCUMENTS, id, self.company_id, admin=True))

    def apply_payment(self, invoice_id: str, amount: float | None = None) -> dict:
        return self._on_invoice(invoice_id, lambda model, inv: posting.apply_payment(model, inv, amount))

    def unapply_payment(self, invoice_id: str) -> dict:
        return self._on_invoice(invoice_id, posting.unapply_payments)

    def cancel_posted_invoice(self, invoice_id: str) -> dict:
        return self._on_invoice(invoice_id, posting.cancel_invoice)

    def adjust_customer_statistics(self, customer_no: str, **amounts: float) -> dict:
        """Add ``amounts`` (customerStatistics money fields, LCY) to the customer's figures."""

        def run() -> dict:
            customer = self.model.by_code("customer", self.company_id, customer_no)
            if customer is None:
                raise bc_error(
                    404,
                    "Internal_RecordNotFound",
                    f"The Customer does not exist. Identification fields and values: No.='{customer_no}'",
                )
            statistics.adjust(self.model, customer, amounts)
            return customer

        customer = self._atomic(run)
        return self.model.project(STATISTICS, self.model.store.table("customer")[customer["id"]])

    # -- plumbing -----------------------------------------------------------------------------------

    def _document(self, id: str) -> dict:
        doc = self.model.find(DOCUMENTS, self.company_id, id)
        if doc is None:
            raise self.model.not_found(DOCUMENTS, id)
        return doc

    def _atomic(self, run: Callable[[], T]) -> T:
        with self.store.lock:
            snapshot = self.store.snapshot()
            try:
                return run()
            except Exception:
                self.store.restore(snapshot)
                raise

    def _on_document(self, id: str, action: Callable[[BcModel, dict], T]) -> T:
        return self._atomic(lambda: action(self.model, self._document(id)))

    def _on_invoice(self, id: str, action: Callable[[BcModel, dict], dict]) -> dict:
        def run() -> dict:
            invoice = self.model.find(INVOICES, self.company_id, id)
            if invoice is None:
                raise self.model.not_found(INVOICES, id)
            return action(self.model, invoice)

        return self._invoice(self._atomic(run))

    def _project(self, row: dict) -> dict:
        return self.model.project(DOCUMENTS, self.model.store.table("salesHeader").get(row["id"], row))

    def _invoice(self, invoice: dict) -> dict:
        out = self.model.project(INVOICES, self.model.store.table("postedSalesInvoice")[invoice["id"]])
        lines = [
            r
            for r in self.model.rows("postedSalesInvoiceLine", self.company_id)
            if r.get("documentId") == invoice["id"]
        ]
        line_view = VIEWS["postedSalesInvoiceLines"]
        out["lines"] = [
            self.model.project(line_view, r) for r in sorted(lines, key=lambda r: r.get("lineNo") or 0)
        ]
        return out

    # -- routes -------------------------------------------------------------------------------------

    def _admin(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p][1:]
        route = (req.method, *parts[:1], len(parts))
        if route == ("POST", "sales-documents", 3) and parts[2] in DOCUMENT_ROUTES:
            return self._document_route(req, parts[1], parts[2])
        if route == ("DELETE", "sales-documents", 2):
            self.delete_sales_document(parts[1])
            return Response(204)
        if route == ("POST", "sales-invoices", 2) and parts[1] == "from-shipments":
            ids = _body(req).get("orderIds")
            if not isinstance(ids, list) or not ids:
                raise ApiError(400, "BadRequest", 'The body must be {"orderIds": ["<order id>", ...]}.')
            return Response(201, self.post_invoice_from_shipments([str(i) for i in ids]))
        if route == ("POST", "posted-sales-invoices", 3) and parts[2] in INVOICE_ROUTES:
            return self._invoice_route(req, parts[1], parts[2])
        if route == ("POST", "customers", 3) and parts[2] == "statistics":
            amounts = _body(req)
            statistics.check_adjustments(amounts)
            return Response(200, self.adjust_customer_statistics(unquote(parts[1]), **amounts))
        return super()._admin(req)  # type: ignore[misc]

    def _invoice_route(self, req: Request, id: str, name: str) -> Response:
        if name == "unapply":
            return Response(200, self.unapply_payment(id))
        if name == "cancel":
            return Response(200, self.cancel_posted_invoice(id))
        amount = _body(req).get("amount")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int | float)):
            raise ApiError(400, "BadRequest", "amount must be a number.")
        return Response(200, self.apply_payment(id, amount))

    def _document_route(self, req: Request, id: str, name: str) -> Response:
        body = _body(req)
        if name == "release":
            return Response(200, self.release_sales_document(id))
        if name == "reopen":
            return Response(200, self.reopen_sales_document(id))
        if name == "archive":
            return Response(201, self.archive_sales_document(id))
        if name == "post-shipment":
            return Response(200, {"shipmentNo": self.post_sales_shipment(id, _quantities(body))})
        return Response(201, self.post_sales_invoice(id, ship=bool(body.get("ship"))))


def _quantities(body: dict[str, Any]) -> dict[int, float] | None:
    given = body.get("quantities")
    if given is None:
        return None
    try:
        return {int(k): float(v) for k, v in dict(given).items()}
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "BadRequest", 'quantities must be {"<lineNo>": <quantity>, ...}.') from exc


def _body(req: Request) -> dict[str, Any]:
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "The request body must be a JSON object.")
    return body
