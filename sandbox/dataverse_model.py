"""Dataverse row semantics: validation, ``@odata.bind``, stamping, state/status, cascades.

Rows are stored as API-shaped dicts (lookups as ``_x_value``); internal bookkeeping keys start
with ``__`` (e.g. ``__lln`` = lookup logical names) and never leave the emulator.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from sandbox.dataverse_events import Change, Observer
from sandbox.dataverse_schema import ENTITIES, LOGICAL_TO_SET, EntityDef
from sandbox.dataverse_states import check_state_change
from sandbox.odata.engine import EMPTY_GUID, Store
from sandbox.odata.server import ApiError

READ_ONLY_SYSTEM = {
    "modifiedon",
    "createdon",
    "versionnumber",
    "_modifiedby_value",
    "_createdby_value",
    "_modifiedonbehalfby_value",
    "_createdonbehalfby_value",
}
BIND_RE = re.compile(r"^(?:https?://[^/]+)?/?(?:api/data/v9\.\d/)?(?P<set>\w+)\((?P<id>[^)]*)\)$")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def dv_error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message)


def not_found(edef: EntityDef, id: str) -> ApiError:
    return dv_error(404, "0x80040217", f"{edef.logical} With Id = {id} Does Not Exist")


def invalid_property(edef: EntityDef, name: str) -> ApiError:
    return dv_error(
        400,
        "0x80060888",
        f"Invalid property '{name}' was found in entity 'Microsoft.Dynamics.CRM.{edef.logical}'.",
    )


def etag(row: dict[str, Any]) -> str:
    return f'W/"{row["versionnumber"]}"'


class DataverseModel:
    def __init__(self, store: Store, base_currency: dict[str, str]) -> None:
        self.store = store
        self.base_currency = base_currency  # {"id": ...}; filled by the seed
        self.observer: Observer | None = None  # told of every committed create, update, delete
        self.row_checks: dict[str, Callable[[dict[str, Any]], None]] = {}  # logical -> extra rule

    # -- reading -----------------------------------------------------------------------------

    def project(self, edef: EntityDef, row: dict[str, Any], annotations: bool = False) -> dict:
        out: dict[str, Any] = {"@odata.etag": etag(row)}
        for name in sorted(edef.readable):
            out[name] = row.get(name)
        if annotations:
            for value_field, logical in row.get("__lln", {}).items():
                if out.get(value_field):
                    out[f"{value_field}@Microsoft.Dynamics.CRM.lookuplogicalname"] = logical
        return out

    def find(self, set_name: str, id: str) -> dict[str, Any] | None:
        return self.store.table(set_name).get(id.lower())

    # -- writing -----------------------------------------------------------------------------

    def create(self, edef: EntityDef, body: dict[str, Any], caller: str, *, admin: bool = False) -> dict:
        with self.store.lock:
            changes = self._changes(edef, body, None, admin)
            row_id = str(changes.pop(edef.key, None) or uuid.uuid4()).lower()
            if not GUID_RE.match(row_id):
                raise dv_error(400, "0x80040203", f"'{row_id}' is not a valid value for {edef.key}.")
            if row_id in self.store.table(edef.set_name):
                raise dv_error(412, "0x80040237", "A record with matching key values already exists.")
            row = self._defaults(edef, caller)
            row[edef.key] = row_id
            self._merge(row, changes)
            self._apply_state(edef, row, changes, creating=True)
            self._derive(edef, row, changes)
            self._check_required(edef, row)
            self._check_unique(edef, row)
            self._check_parent_editable(edef, row)
            self._run_row_check(edef, row)
            self._stamp(row, caller, creating=True)
            self.store.table(edef.set_name)[row_id] = row
            self._emit(Change("Create", edef, row, (), caller))
            self._after_create(edef, row, caller)
            return row

    def update(
        self, edef: EntityDef, row_id: str, body: dict[str, Any], caller: str, *, admin: bool = False
    ) -> dict:
        with self.store.lock:
            current = self.find(edef.set_name, row_id)
            if current is None:
                raise not_found(edef, row_id)
            changes = self._changes(edef, body, current, admin)
            changes.pop(edef.key, None)
            self._check_editable(edef, current, changes)
            check_state_change(edef, current, changes)
            row = dict(current)
            self._merge(row, changes)
            self._apply_state(edef, row, changes, creating=False)
            self._derive(edef, row, changes)
            self._check_unique(edef, row)
            self._run_row_check(edef, row)
            self._stamp(row, caller, creating=False)
            self.store.table(edef.set_name)[row[edef.key]] = row
            names = tuple(k for k in changes if k != "__lln")
            self._emit(Change("Update", edef, row, names, caller, current))
            return row

    def delete(self, edef: EntityDef, row_id: str, caller: str = "") -> None:
        with self.store.lock:
            gone = self.store.table(edef.set_name).pop(row_id.lower(), None)
            if gone is None:
                raise not_found(edef, row_id)
            for child_set, fk in edef.children.values():
                if ENTITIES[child_set].parent:  # parental: the lines go with the header
                    for child_id, child in list(self.store.table(child_set).items()):
                        if child.get(fk) == row_id.lower():
                            self.delete(ENTITIES[child_set], child_id, caller)
            self._clear_references(row_id.lower())
            self._emit(Change("Delete", edef, gone, (), caller, gone))

    def _emit(self, change: Change) -> None:
        if self.observer is not None:
            self.observer(change)

    def _run_row_check(self, edef: EntityDef, row: dict[str, Any]) -> None:
        check = self.row_checks.get(edef.logical)
        if check is not None:
            check(row)

    # -- helpers -----------------------------------------------------------------------------

    def _changes(self, edef: EntityDef, body: Any, current: dict | None, admin: bool) -> dict:
        if not isinstance(body, dict):
            raise dv_error(400, "0x80060888", "The request body must be a JSON object.")
        changes: dict[str, Any] = {"__lln": {}}
        for name, value in body.items():
            if name.endswith("@odata.bind"):
                self._bind(edef, name[: -len("@odata.bind")], value, changes)
            elif name.startswith("@") or "@" in name:
                continue  # instance annotations (e.g. @odata.type) are ignored
            elif name in edef.writable:
                self._check_create_only(edef, name, value, current)
                if current is None and not admin:
                    _check_update_only(edef, name)
                changes[name] = value
            elif admin and name in edef.readable and name not in READ_ONLY_SYSTEM:
                self._admin_value(edef, name, value, changes)
            elif name in edef.readable:
                raise dv_error(
                    400,
                    "0x80060888",
                    f"The property '{name}' is read-only and cannot be set on "
                    f"'{edef.logical}'. Use '<navigation>@odata.bind' for lookups.",
                )
            else:
                raise invalid_property(edef, name)
        return changes

    @staticmethod
    def _admin_value(edef: EntityDef, name: str, value: Any, changes: dict) -> None:
        """Admin writes may set lookups directly as ``_x_value``."""
        if isinstance(value, str) and name.endswith("_value"):
            value = value.lower()
            lookup = next((lk for lk in edef.lookups.values() if lk.value_field == name), None)
            if lookup is not None and len(lookup.targets) == 1:
                changes["__lln"][name] = ENTITIES[lookup.targets[0]].logical
        changes[name] = value

    def _check_create_only(self, edef: EntityDef, name: str, value: Any, current: dict | None) -> None:
        if current is not None and name in edef.create_only and current.get(name) != value:
            raise dv_error(
                400, "0x80040203", f"The '{name}' attribute of '{edef.logical}' is not valid for update."
            )

    def _bind(self, edef: EntityDef, nav: str, value: Any, changes: dict) -> None:
        lookup = edef.lookups.get(nav)
        suffix_target = None
        if lookup is None and "_" in nav:
            base, _, logical = nav.rpartition("_")
            lookup, suffix_target = edef.lookups.get(base), LOGICAL_TO_SET.get(logical)
        if lookup is None:
            raise dv_error(
                400,
                "0x80060888",
                f"An undeclared property '{nav}' which only has property annotations in "
                "the payload but no property value was found in the payload.",
            )
        value_field = lookup.value_field
        if value is None:
            changes[value_field] = None
            return
        match = BIND_RE.match(str(value))
        if not match:
            raise dv_error(400, "0x80060888", f"The bind value '{value}' for '{nav}' is not valid.")
        target_set, target_id = match.group("set"), match.group("id").lower()
        if target_set not in lookup.targets or (suffix_target and suffix_target != target_set):
            raise dv_error(
                400, "0x80060888", f"'{target_set}' is not a valid target of '{nav}' on '{edef.logical}'."
            )
        if not GUID_RE.match(target_id) or target_id not in self.store.table(target_set):
            raise not_found(ENTITIES[target_set], target_id)
        changes[value_field] = target_id
        changes["__lln"][value_field] = ENTITIES[target_set].logical

    def _defaults(self, edef: EntityDef, caller: str) -> dict[str, Any]:
        row: dict[str, Any] = {"__lln": {}}
        if edef.states:
            state = edef.initial_state or (0, edef.states[0])
            row["statecode"], row["statuscode"] = state
        if edef.ownership == "user":
            row["_ownerid_value"] = row["_owninguser_value"] = caller
            row["__lln"]["_ownerid_value"] = "systemuser"
        currency = self.base_currency.get("id")
        if "transactioncurrencyid" in edef.lookups and currency:
            row["_transactioncurrencyid_value"] = currency
            row["__lln"]["_transactioncurrencyid_value"] = "transactioncurrency"
        if edef.autonumber:
            prefix = edef.autonumber[1]
            row[edef.autonumber[0]] = f"{prefix}{uuid.uuid4().hex[:6].upper()}"
        if edef.logical == "quote":
            row["revisionnumber"] = 0  # a new quote is revision 0 (ReviseQuote counts up)
        return row

    @staticmethod
    def _merge(row: dict[str, Any], changes: dict[str, Any]) -> None:
        lln = {**row.get("__lln", {}), **changes.get("__lln", {})}
        row.update({k: v for k, v in changes.items() if k != "__lln"})
        row["__lln"] = lln

    def _apply_state(self, edef: EntityDef, row: dict, changes: dict, creating: bool) -> None:
        if not edef.states or not ({"statecode", "statuscode"} & changes.keys()):
            return
        state = row.get("statecode")
        if state not in edef.states:
            raise dv_error(400, "0x80040203", f"{state} is not a valid statecode for {edef.logical}.")
        if "statuscode" not in changes:
            row["statuscode"] = edef.states[state]
        elif edef.statuses is not None and edef.statuses.get(row["statuscode"]) != state:
            raise dv_error(
                400,
                "0x80040203",
                f"{row['statuscode']} is not a valid status code for state code {edef.logical}State.{state}.",
            )

    def _derive(self, edef: EntityDef, row: dict, changes: dict) -> None:
        if edef.logical == "contact":
            names = [row.get(k) for k in ("firstname", "middlename", "lastname")]
            row["fullname"] = " ".join(str(n) for n in names if n) or None
        if edef.parent and "quantity" in edef.attributes:
            inputs = {"priceperunit", "quantity", "manualdiscountamount", "tax"}
            if "baseamount" not in changes and (inputs & changes.keys() or row.get("baseamount") is None):
                row["baseamount"] = round((row.get("priceperunit") or 0) * (row.get("quantity") or 0), 2)
            if "extendedamount" not in changes and (
                inputs & changes.keys() or row.get("extendedamount") is None
            ):
                discount, tax = row.get("manualdiscountamount") or 0, row.get("tax") or 0
                row["extendedamount"] = round(row["baseamount"] - discount + tax, 2)
            if row.get("volumediscountamount") is None:
                row["volumediscountamount"] = 0.0
        if edef.logical == "uom" and row.get("quantity") is None:
            row["quantity"] = 1.0
        self._copy_product_number(edef, row, changes)

    def _copy_product_number(self, edef: EntityDef, row: dict, changes: dict) -> None:
        """The read-only ``productnumber`` of a product price or detail line is its product's."""
        if "productid" not in edef.lookups or "productnumber" not in edef.read_only:
            return
        if "_productid_value" not in changes and "productnumber" in row:
            return  # the product did not change (an admin seed may set the number itself)
        product = self.store.table("products").get(row.get("_productid_value") or "")
        row["productnumber"] = product.get("productnumber") if product else None

    def _check_required(self, edef: EntityDef, row: dict) -> None:
        for name in edef.required:
            if row.get(name) in (None, ""):
                label = name[1:-6] if name.endswith("_value") else name
                raise dv_error(
                    400, "0x80040200", f"The '{label}' attribute is required to create a {edef.logical}."
                )
        if edef.parent and "isproductoverridden" in edef.attributes:
            _check_line_product(edef, row)
        if edef.logical == "transactioncurrency" and not (
            isinstance(row.get("exchangerate"), int | float) and row["exchangerate"] > 0
        ):
            raise dv_error(400, "0x80040203", "The exchange rate must be a number greater than 0.")

    def _check_unique(self, edef: EntityDef, row: dict) -> None:
        for fields in edef.unique:
            key = tuple(_norm(row.get(f)) for f in fields)
            if any(k is None for k in key):
                continue
            for other in self.store.table(edef.set_name).values():
                if other[edef.key] != row[edef.key] and tuple(_norm(other.get(f)) for f in fields) == key:
                    raise dv_error(
                        412,
                        "0x80040237",
                        f"A record with matching key values already exists "
                        f"({', '.join(fields)} of {edef.logical}).",
                    )

    def _check_editable(self, edef: EntityDef, current: dict, changes: dict) -> None:
        ordinary = {k for k in changes if k not in ("statecode", "statuscode", "__lln")}
        if (
            edef.editable_states is not None
            and ordinary
            and (current.get("statecode") not in edef.editable_states)
        ):
            raise dv_error(
                400,
                "0x80040203",
                f"The {edef.logical} can't be edited because it isn't in an editable state "
                f"(statecode {current.get('statecode')}). Set it to Active/Draft first.",
            )
        self._check_parent_editable(edef, current)

    def _check_parent_editable(self, edef: EntityDef, row: dict) -> None:
        if not edef.parent:
            return
        parent_set, fk = edef.parent
        parent = self.store.table(parent_set).get(row.get(fk) or "")
        allowed = ENTITIES[parent_set].editable_states
        if parent is not None and allowed is not None and parent.get("statecode") not in allowed:
            raise dv_error(
                400,
                "0x80040203",
                f"The lines of this {ENTITIES[parent_set].logical} can't be changed "
                f"because it isn't in an editable state.",
            )

    def _stamp(self, row: dict, caller: str, *, creating: bool) -> None:
        now = self.store.stamp()
        row["modifiedon"], row["_modifiedby_value"] = now, caller
        row["versionnumber"] = self.store.next_version()
        if creating:
            row["createdon"], row["_createdby_value"] = now, caller
        row["__lln"] = {
            **row.get("__lln", {}),
            "_modifiedby_value": "systemuser",
            "_createdby_value": "systemuser",
        }

    def _after_create(self, edef: EntityDef, row: dict, caller: str) -> None:
        if edef.logical == "uomschedule":  # Dataverse creates the base unit with the group
            unit = {
                "name": row["baseuomname"],
                "quantity": 1.0,
                "_uomscheduleid_value": row["uomscheduleid"],
                "uomid": str(uuid.uuid5(uuid.UUID(row["uomscheduleid"]), "base-unit")),
            }
            base = self.create(ENTITIES["uoms"], unit, caller, admin=True)
            updated = dict(base, isschedulebaseuom=True, _baseuom_value=base["uomid"])
            self.store.table("uoms")[base["uomid"]] = updated

    def _clear_references(self, row_id: str) -> None:
        for set_name, rows in self.store.tables.items():
            edef = ENTITIES.get(set_name)
            if edef is None:
                continue
            fields = [lk.value_field for lk in edef.lookups.values()]
            for key, other in list(rows.items()):
                hits = [f for f in fields if other.get(f) == row_id]
                if hits:
                    rows[key] = {**other, **dict.fromkeys(hits)}


def _check_update_only(edef: EntityDef, name: str) -> None:
    """IsValidForCreate = False: Dataverse refuses the attribute in a create (an update may set it)."""
    if name in edef.update_only:
        raise dv_error(
            400, "0x80040203", f"The '{name}' attribute of '{edef.logical}' is not valid for create."
        )


def _check_line_product(edef: EntityDef, row: dict) -> None:
    """A detail line is a write-in product (with its description) or an existing product with a unit."""
    if row.get("isproductoverridden"):
        if row.get("_productid_value"):
            raise dv_error(400, "0x80040203", f"A write-in {edef.logical} cannot have a productid.")
        if not row.get("productdescription"):
            raise dv_error(
                400,
                "0x80040200",
                f"The 'productdescription' attribute is required for a write-in {edef.logical}.",
            )
        return
    for name in ("_productid_value", "_uomid_value"):
        if not row.get(name):
            raise dv_error(
                400,
                "0x80040200",
                f"The '{name[1:-6]}' attribute is required to create a {edef.logical} for an existing "
                "product (or set isproductoverridden for a write-in product).",
            )


def _norm(value: Any) -> Any:
    if value is None or value == EMPTY_GUID:
        return None
    return value.lower() if isinstance(value, str) else value
