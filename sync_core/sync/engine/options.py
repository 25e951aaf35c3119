"""Option mappings (BC "CRM Option Mapping", §3.15 / §4.8): a BC code row <-> one option value.

PAYMENT TERMS, SHIPMENT METHOD and SHIPPING AGENT couple each BC code row (its SystemId) to one
option of an account picklist (``crm_id`` = the option value as text); the option's label is the
code. They only run BC -> Dataverse:

* coupled: the option's label is made the code (UpdateOptionValue) -> modified / unchanged; an
  option that vanished from the option set is BC's "coupled to a deleted record";
* uncoupled: an option with the code as label (case-insensitive) is coupled (match-based
  coupling), else, with Create New in Case of No Match, InsertOptionValue adds it -> inserted.

Idempotent under redelivery: the option set is read again before inserting, so an option added by
a delivery that died before coupling is coupled instead of added twice; the coupling is claimed
insert-if-absent. The Dataverse -> BC direction of option *fields* on other mappings (option value
-> BC code) goes through these couplings in ``lookups``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Protocol, cast

from sync_core.errors import ConfigError, DataError, MappingError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.mapping.transfer import map_values
from sync_core.state.ports import Coupling
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.bookkeeping import record_success
from sync_core.sync.engine.outcome import FORCE_REASONS, SAME_TIMESTAMP, Outcome
from sync_core.sync.messages import RecordMessage
from sync_core.systems.dataverse import PRIMARY_KEYS
from sync_core.vocabulary import Record

log = logging.getLogger(__name__)

LABEL = "label"


class OptionSetApi(Protocol):
    def option_values(self, entity_logical: str, attribute: str) -> dict[int, str]: ...

    def insert_option_value(self, entity_logical: str, attribute: str, label: str) -> int: ...

    def update_option_value(self, entity_logical: str, attribute: str, value: int, label: str) -> None: ...


@dataclass(frozen=True)
class OptionTarget:
    """The picklist attribute an option mapping writes to (``accounts.paymenttermscode``)."""

    entity: str  # logical name (account)
    attribute: str

    @staticmethod
    def of(mapping: IntegrationTableMapping) -> OptionTarget:
        entity_set, _, attribute = mapping.crm_entity.partition(".")
        key = PRIMARY_KEYS.get(entity_set, "")
        entity = mapping.crm_logical_name or (key[:-2] if key.endswith("id") else "")
        if not entity or not attribute:
            raise ConfigError(
                f"option mapping {mapping.name}: crm_entity must be '<entity set>.<attribute>' of a "
                f"known entity (got {mapping.crm_entity!r})"
            )
        return OptionTarget(entity, attribute)

    def __str__(self) -> str:
        return f"{self.entity}.{self.attribute}"


class OptionSync:
    """One BC code row of one option mapping, synchronized to its option."""

    def __init__(self, ctx: SyncContext, mapping: IntegrationTableMapping, msg: RecordMessage) -> None:
        self.mapping, self.msg = mapping, msg
        self.ctx = ctx
        self.store = ctx.stores.couplings
        self.target = OptionTarget.of(mapping)
        api = ctx.dataverse
        if not hasattr(api, "option_values"):
            raise ConfigError("the Dataverse system does not support option sets")
        self.api = cast(OptionSetApi, api)

    def run(self) -> Outcome:
        coupling = self.store.get_by_bc(self.mapping.name, self.msg.source_id)
        if coupling is not None and coupling.skipped:
            if self.msg.reason != "restore":
                return Outcome("skipped", "the coupled record is marked Skipped")
            coupling = self.store.save(replace(coupling, skipped=False))
        source = self.ctx.bc.get(self.mapping.bc_entity, self.msg.source_id)
        if source is None:
            return Outcome("skipped", "the source record no longer exists")
        label = self._label(source, inserting=coupling is None)
        if coupling is None or coupling.state != "coupled":
            return self._uncoupled(source, label, coupling)
        if self.msg.reason not in FORCE_REASONS and self._unchanged_since_sync(coupling, source):
            return Outcome("unchanged", destination_id=coupling.crm_id)
        return self._coupled(source, label, coupling)

    # -- desired label ----------------------------------------------------------------------------

    def _label(self, source: Record, inserting: bool) -> str:
        values = map_values(self.mapping, "to-dataverse", source.fields, inserting=inserting)
        if LABEL not in values:
            raise ConfigError(f"option mapping {self.mapping.name} has no field mapping to '{LABEL}'")
        label = "" if values[LABEL] is None else str(values[LABEL]).strip()
        if not label:
            raise MappingError(
                f"The {self.mapping.bc_entity} record has a blank {self.mapping.bc_code_field}; "
                f"it cannot become an option of {self.target}.",
                field=self.target.attribute,
                remedy="Give the BC record a code, then retry it (python -m sync_core retry).",
            )
        return label

    @staticmethod
    def _unchanged_since_sync(coupling: Coupling, source: Record) -> bool:
        last = coupling.bc_modified_on
        if last is None or coupling.to_dataverse.result != "success":
            return False
        return source.modified_on <= last + SAME_TIMESTAMP

    # -- coupled ----------------------------------------------------------------------------------

    def _coupled(self, source: Record, label: str, coupling: Coupling) -> Outcome:
        options = self.api.option_values(self.target.entity, self.target.attribute)
        value = _option_value(coupling.crm_id)
        if value is None or value not in options:
            return self._coupled_to_deleted(source, label, coupling)
        if options[value] == label:
            self._stamp(coupling, source, value, label)
            return Outcome("unchanged", destination_id=coupling.crm_id)
        self.api.update_option_value(self.target.entity, self.target.attribute, value, label)
        self._stamp(coupling, source, value, label)
        return Outcome("modified", f"label {options[value]!r} -> {label!r}", coupling.crm_id)

    def _coupled_to_deleted(self, source: Record, label: str, coupling: Coupling) -> Outcome:
        resolution = self.mapping.deletion_conflict_resolution
        if resolution == "remove-coupling":
            self.store.delete(coupling)
            return Outcome("uncoupled", "the coupled option was deleted; coupling removed")
        if resolution == "restore":
            self.store.delete(coupling)
            return self._uncoupled(source, label, None)
        raise MappingError(
            f"The {self.mapping.name} record cannot be updated because it is coupled to a deleted "
            f"record (option {coupling.crm_id} of {self.target} no longer exists).",
            field=self.target.attribute,
            remedy=f'Uncouple it (python -m sync_core uncouple "{self.mapping.name}" ...) or set the '
            "mapping's deletion-conflict resolution to restore or remove-coupling.",
        )

    # -- uncoupled --------------------------------------------------------------------------------

    def _uncoupled(self, source: Record, label: str, stale: Coupling | None) -> Outcome:
        if stale is not None:  # a claim left behind (options are coupled in one step): start over
            self.store.delete(stale)
        options = self.api.option_values(self.target.entity, self.target.attribute)
        value = _find(options, label)
        inserted = False
        if value is None:
            if not self.mapping.create_new_if_no_match:
                return Outcome("skipped", f"no option of {self.target} is labelled {label!r}")
            value, inserted = self._insert(label), True
            options[value] = label
        coupling = self._couple(value, label)
        if options[value] != label:
            self.api.update_option_value(self.target.entity, self.target.attribute, value, label)
        self._stamp(coupling, source, value, label)
        if inserted:
            return Outcome("inserted", destination_id=str(value))
        if options[value] != label:
            return Outcome("modified", f"coupled; label {options[value]!r} -> {label!r}", str(value))
        return Outcome("unchanged", "coupled to the existing option", str(value))

    def _insert(self, label: str) -> int:
        """InsertOptionValue; a refusal because the label appeared meanwhile yields that option."""
        try:
            return self.api.insert_option_value(self.target.entity, self.target.attribute, label)
        except DataError:
            found = _find(self.api.option_values(self.target.entity, self.target.attribute), label)
            if found is None:
                raise
            return found

    def _couple(self, value: int, label: str) -> Coupling:
        """Claim (insert-if-absent) the coupling code row <-> option value.

        An option coupled to another, still existing code row fails the record; one coupled to a
        deleted BC row is re-coupled (BC §4.7). A claim that loses a race raises ConflictError
        (AlreadyExistsError), and the record synchronizer re-decides.
        """
        other = self.store.get_by_crm(self.mapping.name, str(value))
        if other is not None and other.bc_id != self.msg.source_id:
            owner = self.ctx.bc.get(self.mapping.bc_entity, other.bc_id)
            if owner is not None:
                code = owner.fields.get(self.mapping.bc_code_field, other.bc_id)
                raise MappingError(
                    f"The option {value} ({label!r}) of {self.target} is already coupled to "
                    f"{self.mapping.bc_entity} {code}; one option can be coupled to one code only.",
                    field=self.target.attribute,
                    remedy=f'Uncouple {code} (python -m sync_core uncouple "{self.mapping.name}" ...) '
                    "or synchronize it first if its code was renamed, then retry this record.",
                )
            self.store.delete(other)
        return self.store.claim(Coupling(self.mapping.name, self.msg.source_id, str(value)))

    # -- bookkeeping ------------------------------------------------------------------------------

    def _stamp(self, coupling: Coupling, source: Record, value: int, label: str) -> None:
        option = Record(str(value), self.ctx.clock(), None, {LABEL: label})
        record_success(self.store, coupling, self.msg, source, option)


def _find(options: dict[int, str], label: str) -> int | None:
    """The option labelled ``label`` (case-insensitive, trimmed); an exact match wins."""
    if label in options.values():
        return next(v for v, text in options.items() if text == label)
    wanted = label.strip().lower()
    return next((v for v, text in sorted(options.items()) if text.strip().lower() == wanted), None)


def _option_value(crm_id: str) -> int | None:
    try:
        return int(crm_id)
    except ValueError:
        return None


def sync_option_record(ctx: SyncContext, mapping: IntegrationTableMapping, msg: RecordMessage) -> Outcome:
    """Synchronize one BC code row of an option mapping to its option (BC -> Dataverse only)."""
    if msg.direction != "to-dataverse":
        raise DataError(
            f"Option mappings can only synchronize to the integration table; {mapping.name} got a "
            f"{msg.direction} record."
        )
    return OptionSync(ctx, mapping, msg).run()
