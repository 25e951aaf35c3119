"""The write rules by the name a mapping file gives them (``write_rule = "..."``).

Each entry builds the rule for one message and one (effective) mapping; the names are the ones the
catalog accepts (``mapping.model.WRITE_RULES``).
"""

from __future__ import annotations

from collections.abc import Callable

from sync_core.mapping.model import IntegrationTableMapping
from sync_core.sync.engine.posted_invoice import PostedSalesInvoice
from sync_core.sync.engine.write_rules import ProductDefaultPriceList, SalesOrderState, UnitGroup, WriteRule

WRITE_RULES: dict[str, Callable[[IntegrationTableMapping], WriteRule]] = {
    "unit-group": lambda mapping: UnitGroup(),
    "sales-order-state": lambda mapping: SalesOrderState(),
    "product-default-price-list": lambda mapping: ProductDefaultPriceList(),
    "posted-sales-invoice": PostedSalesInvoice,
}
