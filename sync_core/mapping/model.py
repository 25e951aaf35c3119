"""Integration table mappings and field mappings as declared data (BC's vocabulary)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from sync_core.vocabulary import TO_DATAVERSE, Direction

MappingDirection = Literal["to-dataverse", "to-bc", "bidirectional"]
UpdateConflictResolution = Literal["none", "send", "get"]
DeletionConflictResolution = Literal["none", "remove-coupling", "restore"]
MappingKind = Literal["table", "option"]
# BC's ExternalAccess of the Dataverse column: "" / "full" = create and update, "insert" = create
# only (never sent in an update), "modify" = update only (left out of the create body and written
# with a PATCH right after the create)
CrmAccess = Literal["", "full", "insert", "modify"]
# BC's "Initial Synch Recommendation" of a full synchronization review line (bc-integration-behaviour
# §2.2): "" compares both sides; "full-synchronization" always (SALESPEOPLE); "single-currency" full
# only when Dataverse has exactly one currency at rate 1 (CURRENCY); "unit-groups" counts one
# Dataverse unit group (the default one) as empty (units of measure). Option mappings (kind =
# "option") follow their own rule.
RecommendationRule = Literal["", "full-synchronization", "single-currency", "unit-groups"]
UNRANKED = 99  # review_priority of a mapping BC's GetPrioritizedMappingList does not name
WRITE_RULES = (
    "sales-order-state",
    "product-default-price-list",
    "unit-group",
    "posted-sales-invoice",
)  # sync_core.sync.engine.rule_registry names their implementations
# the lookups a write rule follows (Dataverse read names): the mapping must map each through a lookup
WRITE_RULE_LOOKUPS = {"posted-sales-invoice": ("_customerid_value", "_transactioncurrencyid_value")}
# what a child mapping's line does when its item or resource is not coupled to a product: "fail"
# ("<Type> No. <no> must be coupled ..."), or "synchronize" (BC §6.1, invoice lines): inside the
# product mapping's table filter it is synchronized to Dataverse now (created and coupled),
# outside it (and the write-in product) the line becomes a write-in line
UncoupledLineProducts = Literal["fail", "synchronize"]


@dataclass(frozen=True)
class FieldMapping:
    """One integration field mapping: a BC field (or a constant) and a Dataverse attribute.

    ``crm_field`` is the attribute as read (``name``, ``_transactioncurrencyid_value``) and
    ``crm_write`` what is sent on write when it differs (``transactioncurrencyid@odata.bind``).
    """

    crm_field: str
    bc_field: str = ""
    direction: MappingDirection = "bidirectional"
    transform: str = ""
    constant: Any = None
    enabled: bool = True
    on_insert_only: bool = False
    match: bool = False
    crm_write: str = ""
    lookup: str = ""  # mapping whose couplings translate the value (BC code/number <-> Dataverse id)
    option_map: str = ""  # option mapping translating a BC code <-> a Dataverse option value
    clear_on_failed: bool = False  # BC "Clear Value on Failed Sync": an uncoupled lookup clears it
    not_null: bool = False  # BC "Not Null": a blank value is never written
    base_unit: bool = False  # the lookup gives a unit schedule; the value is its base unit (a uom)
    crm_access: CrmAccess = ""  # BC's ExternalAccess of the Dataverse column (see CrmAccess)

    def flows(self, direction: Direction) -> bool:
        return self.enabled and self.direction in (direction, "bidirectional")

    @property
    def write_name(self) -> str:
        return self.crm_write or self.crm_field

    @property
    def sent_on_create(self) -> bool:
        """Whether the value goes into the create body (not an update-only column)."""
        return self.crm_access != "modify"

    @property
    def sent_on_update(self) -> bool:
        """Whether the value is written by an update (not a create-only column)."""
        return self.crm_access != "insert"


@dataclass(frozen=True)
class IntegrationTableMapping:
    name: str
    bc_entity: str
    crm_entity: str
    crm_key: str
    direction: MappingDirection
    fields: tuple[FieldMapping, ...]
    table_filter: str = ""
    integration_table_filter: str = ""
    synch_only_coupled: bool = True
    create_new_if_no_match: bool = False
    dependencies: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()
    interval_minutes: int = 30
    inactivity_timeout_minutes: int = 720
    update_conflict_resolution: UpdateConflictResolution = "none"
    deletion_conflict_resolution: DeletionConflictResolution = "none"
    crm_logical_name: str = ""
    kind: MappingKind = "table"
    bc_code_field: str = ""  # the BC field lookups name a record by (code, number)
    parent: str = ""  # a child mapping (POSTEDSALESLINE-INV) is synced with its parent, never alone
    scheduled: bool = True  # BC creates a job queue entry (a timer here) for it
    # (parent mapping, this mapping's Dataverse attribute holding the parent's id): uncoupling a
    # parent record also uncouples these rows (BC §4.4: the contacts of an account)
    uncoupled_with: tuple[str, ...] = ()
    # (parent mapping, this mapping's BC field holding the parent's code): after a parent record is
    # synchronized to Dataverse, its records here are synchronized again (BC §3.8: the prices of
    # a customer price group)
    resync_with: tuple[str, ...] = ()
    write_rule: str = ""  # steps around a Dataverse write (WRITE_RULES), e.g. a sales order's state
    in_full_sync: bool = True
    recommendation_rule: RecommendationRule = ""
    review_priority: int = UNRANKED  # the order of lines within one dependency wave (BC's list)
    # BC's blank code names the local currency (LCY): a lookup through this mapping maps a blank
    # code to the Dataverse row whose code is the LCY code, and back (CURRENCY)
    blank_code_is_lcy: bool = False
    # a child mapping's BC navigation from the parent document to its lines (``lines``)
    bc_navigation: str = ""
    # a child mapping's lines: BC line type -> the mapping whose couplings give the line's product
    line_products: tuple[tuple[str, str], ...] = ()
    uncoupled_line_products: UncoupledLineProducts = "fail"
    source_file: str = field(default="", compare=False)

    def allows(self, direction: Direction) -> bool:
        return self.direction in (direction, "bidirectional")

    def field_mappings(self, direction: Direction) -> tuple[FieldMapping, ...]:
        return tuple(f for f in self.fields if f.flows(direction))

    @property
    def match_fields(self) -> tuple[FieldMapping, ...]:
        return tuple(f for f in self.fields if f.match)

    @property
    def crm_code_field(self) -> str:
        """The Dataverse attribute that holds the BC code (``bc_code_field``), or ""."""
        found = (f.crm_field for f in self.fields if self.bc_code_field and f.bc_field == self.bc_code_field)
        return next(found, "")

    @property
    def function_name(self) -> str:
        return timer_function_name(self.name)

    def source_entity(self, direction: Direction) -> str:
        """The entity set a sync in ``direction`` reads."""
        return self.bc_entity if direction == TO_DATAVERSE else self.crm_entity

    def destination_entity(self, direction: Direction) -> str:
        """The entity set a sync in ``direction`` writes."""
        return self.crm_entity if direction == TO_DATAVERSE else self.bc_entity

    def source_filter(self, direction: Direction) -> str:
        """The filter on the source's rows: BC's Table Filter, or its Integration Table Filter."""
        return self.table_filter if direction == TO_DATAVERSE else self.integration_table_filter

    def source_key(self, direction: Direction) -> str:
        """The key of the source's rows (BC's SystemId ``id``, or the Dataverse primary key)."""
        return "id" if direction == TO_DATAVERSE else self.crm_key

    def directions(self) -> tuple[Direction, ...]:
        if self.direction == "bidirectional":
            return ("to-dataverse", "to-bc")
        return (self.direction,)


def timer_function_name(mapping_name: str) -> str:
    """``sync_<mapping>``: lower-cased, every run of non-alphanumerics turned into ``_``."""
    slug = re.sub(r"[^0-9a-z]+", "_", mapping_name.lower()).strip("_")
    return f"sync_{slug}"
