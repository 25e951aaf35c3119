"""Child couplings (BC §4.4): uncoupling a record also uncouples the rows that hang under it.

BC's coupling-removal job removes, with an account's coupling, the couplings of the account's
contacts (and with an order's, its lines'). Which mappings are children is declared data: a
mapping with ``uncoupled_with = [parent mapping, attribute]`` names its parent and the Dataverse
attribute of its own rows that holds the parent row's id (CONTACT: CUSTOMER,
``_parentcustomerid_value``). Only couplings are removed; no record changes on either side.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from sync_core.mapping.model import IntegrationTableMapping
from sync_core.sync.context import SyncContext
from sync_core.systems.ports import ModifiedQuery

log = logging.getLogger(__name__)


def child_mappings(ctx: SyncContext, parent: str) -> list[IntegrationTableMapping]:
    return [m for m in ctx.catalog if m.uncoupled_with[:1] == (parent,)]


def uncouple_children(ctx: SyncContext, parent: str, parent_crm_id: str) -> dict[str, int]:
    """Remove the couplings of the child rows of one parent Dataverse row; count per mapping."""
    removed: dict[str, int] = {}
    for child in child_mappings(ctx, parent):
        attribute = child.uncoupled_with[1]
        where = f"{attribute} eq {parent_crm_id}"
        query = ModifiedQuery(child.crm_entity, filter=where, select=(child.crm_key,))
        count = 0
        for row in ctx.dataverse.iter_modified(query):
            coupling = ctx.stores.couplings.get_by_crm(child.name, row.id)
            if coupling is not None:
                ctx.stores.couplings.delete(replace(coupling, etag=None))
                count += 1
        if count:
            removed[child.name] = count
            log.info("%s %s uncoupled with %d %s coupling(s)", parent, parent_crm_id, count, child.name)
    return removed


def add_counts(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    return {k: total.get(k, 0) + more.get(k, 0) for k in {*total, *more}}
