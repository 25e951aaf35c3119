"""CRM orders and quotes made the way a salesperson makes them, for the sales-document tests."""

from __future__ import annotations

from typing import Any

from sandbox.dataverse_human import activate_quote, human_action, submit_order
from sandbox.stack import SandboxStack
from sync_core.settings import DOCUMENT_QUEUE
from sync_core.sync.context import SyncContext
from tests.e2e.host import deliver_all
from tests.e2e.world import bc_row, crm_id, prepare

CUSTOMER, ITEMS = "10000", ("1896-S", "1928-S", "1960-S")


def prepare_sales(stack: SandboxStack, ctx: SyncContext) -> None:
    prepare(stack, ctx, (CUSTOMER,), ITEMS)


def account_of(stack: SandboxStack, ctx: SyncContext, customer: str = CUSTOMER) -> str:
    return crm_id(ctx, "CUSTOMER", bc_row(stack, "integrationCustomers", customer)["id"])


def product_of(stack: SandboxStack, ctx: SyncContext, item: str) -> str:
    return crm_id(ctx, "ITEM-PRODUCT", bc_row(stack, "integrationItems", item)["id"])


def currency(stack: SandboxStack, iso: str = "USD") -> str:
    return next(c for c in stack.dataverse.rows("transactioncurrencies") if c["isocurrencycode"] == iso)[
        "transactioncurrencyid"
    ]


def crm_document(
    stack: SandboxStack,
    ctx: SyncContext,
    lines: list[dict[str, Any]],
    entity: str = "salesorders",
    **header: Any,
) -> dict[str, Any]:
    """A Draft/Active order or quote of the coupled customer with ``lines`` (item numbers resolved)."""
    values = {
        "name": "Spring order",
        "customerid_account@odata.bind": f"/accounts({account_of(stack, ctx)})",
        "transactioncurrencyid@odata.bind": f"/transactioncurrencies({currency(stack)})",
        **header,
    }
    doc = stack.dataverse.insert(entity, values)
    key = "salesorderid" if entity == "salesorders" else "quoteid"
    details = "salesorderdetails" if entity == "salesorders" else "quotedetails"
    for sequence, line in enumerate(lines, start=1):
        row = {f"{key}@odata.bind": f"/{entity}({doc[key]})", "sequencenumber": sequence, **line}
        if "item" in row:
            product = stack.dataverse.get("products", product_of(stack, ctx, row.pop("item"))) or {}
            row["productid@odata.bind"] = f"/products({product['productid']})"
            row["uomid@odata.bind"] = f"/uoms({product['_defaultuomid_value']})"
        else:
            row["isproductoverridden"] = True  # a write-in product
        stack.dataverse.insert(details, row)
    return stack.dataverse.get(entity, doc[key]) or doc


def submit(stack: SandboxStack, order_id: str) -> None:
    submit_order(stack.dataverse, order_id)


def deliver_documents(stack: SandboxStack) -> list[str]:
    return deliver_all(stack.azurite.connection_string, queue=DOCUMENT_QUEUE, function="process_document")


def bc_documents(stack: SandboxStack, *references: str, document_type: str = "Order") -> list[dict[str, Any]]:
    """The BC documents of that type whose Your Reference is one of ``references`` (CRM numbers)."""
    return [
        d
        for d in stack.bc.rows("salesDocuments")
        if d.get("documentType") == document_type and d.get("yourReference") in references
    ]


def bc_lines(stack: SandboxStack, document_id: str) -> list[dict[str, Any]]:
    rows = [r for r in stack.bc.rows("salesDocumentLines") if r.get("documentId") == document_id]
    return sorted(rows, key=lambda r: r["lineNo"])


def dv_action(stack: SandboxStack, name: str, body: dict[str, Any]) -> Any:
    """An unbound Dataverse action (ReviseQuote, WinQuote, ...) as the salesperson makes it."""
    return human_action(stack.dataverse, name, body)


def activate(stack: SandboxStack, quote_id: str) -> None:
    activate_quote(stack.dataverse, quote_id)
