"""The default UNIT OF MEASURE, ITEM-PRODUCT and RESOURCE-PRODUCT mappings end to end (BC §3.3-§3.5).

Against the BC and Dataverse emulators (real HTTP) and Azurite, with the seeded demo company:
each mapping's filters, field mappings, directions and BC's hard-coded rules (hooks).
Uncoupled records are created the way BC's "Create in Dataverse" does (reason ``command``):
the three mappings are "Synch. Only Coupled Records", so scheduled runs leave them out.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.stack import SandboxStack
from sync_core.app import wiring
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.outcome import Outcome
from sync_core.sync.engine.record import RecordSynchronizer
from sync_core.sync.engine.write_rules import DEFAULT_PRICE_LIST
from sync_core.sync.jobs.mapping_job import run_mapping_job
from sync_core.sync.messages import RecordMessage
from tests.e2e.host import deliver_all, fire_timer

UOM, ITEM, RESOURCE = "UNIT OF MEASURE", "ITEM-PRODUCT", "RESOURCE-PRODUCT"
UNIT_CODES = {"PCS", "BOX", "HOUR", "DAY", "PACK", "SET"}
ITEM_FIELDS = (
    "productnumber",
    "name",
    "price",
    "standardcost",
    "currentcost",
    "stockvolume",
    "stockweight",
    "vendorid",
    "vendorpartnumber",
    "quantityonhand",
    "producttypecode",
    "quantitydecimal",
    "_transactioncurrencyid_value",
    "_defaultuomscheduleid_value",
    "_defaultuomid_value",
)


@pytest.fixture
def ctx(stack: SandboxStack) -> Iterator[SyncContext]:
    svc = wiring.services()
    svc.reference.ttl_seconds = 0  # the tests change the integration setup and expect it to be seen
    yield svc.sync_context()


def _sync(
    ctx: SyncContext, mapping: str, direction: str, source_id: str, reason: str = "modified"
) -> Outcome:
    message = RecordMessage(mapping, direction, source_id, "job-products", reason)  # type: ignore[arg-type]
    return RecordSynchronizer(ctx).process(message)


def _bc(stack: SandboxStack, entity: str, key: str, value: str) -> dict:
    return next(r for r in stack.bc.rows(entity) if r[key] == value)


def _unit(stack: SandboxStack, code: str) -> dict:
    return _bc(stack, "unitsOfMeasure", "code", code)


def _item(stack: SandboxStack, number: str) -> dict:
    return _bc(stack, "integrationItems", "number", number)


def _resource(stack: SandboxStack, number: str) -> dict:
    return _bc(stack, "resources", "number", number)


def _schedules(stack: SandboxStack) -> dict[str, dict]:
    return {r["name"]: r for r in stack.dataverse.rows("uomschedules")}


def _units_of(stack: SandboxStack, schedule_id: str) -> list[dict]:
    return [u for u in stack.dataverse.rows("uoms") if u["_uomscheduleid_value"] == schedule_id]


def _usd(stack: SandboxStack) -> str:
    rows = stack.dataverse.rows("transactioncurrencies")
    return next(r["transactioncurrencyid"] for r in rows if r["isocurrencycode"] == "USD")


def _sync_units(stack: SandboxStack, ctx: SyncContext) -> dict[str, str]:
    """Create every BC unit of measure in Dataverse; the unit schedule id by code."""
    for unit in stack.bc.rows("unitsOfMeasure"):
        assert _sync(ctx, UOM, "to-dataverse", unit["id"], "command").outcome == "inserted"
    return {code: _schedules(stack)[f"NAV {code}"]["uomscheduleid"] for code in UNIT_CODES}


def _create(ctx: SyncContext, mapping: str, bc_id: str) -> str:
    """Create the record in Dataverse ("Create in Dataverse"); the product id."""
    outcome = _sync(ctx, mapping, "to-dataverse", bc_id, "command")
    assert outcome.outcome == "inserted", outcome
    coupling = ctx.stores.couplings.get_by_bc(mapping, bc_id)
    assert coupling is not None and coupling.state == "coupled" and coupling.crm_id == outcome.destination_id
    return coupling.crm_id


def _run(stack: SandboxStack, ctx: SyncContext, mapping: str) -> dict[str, tuple[int, int]]:
    """One scheduled run of the mapping's job, its messages delivered: (read, enqueued) by direction."""
    runs = {r.direction: (r.read, r.enqueued) for r in run_mapping_job(ctx, mapping)}
    deliver_all(stack.azurite.connection_string)
    return runs


def _state(product: dict) -> tuple[int, int]:
    return product["statecode"], product["statuscode"]


# -- UNIT OF MEASURE ------------------------------------------------------------------------------


def test_unit_of_measure_creates_nav_schedules_with_their_base_unit_and_only_flows_to_dataverse(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    # synch only coupled: a scheduled run reads every unit (no table filter) but creates nothing
    runs = {r.direction: r for r in run_mapping_job(ctx, UOM)}
    assert list(runs) == ["to-dataverse"]  # ToIntegrationTable: no Dataverse -> BC pass at all
    assert (runs["to-dataverse"].read, runs["to-dataverse"].enqueued) == (len(UNIT_CODES), 0)
    assert set(_schedules(stack)) == {"Default Unit"}

    ids = _sync_units(stack, ctx)
    schedules = _schedules(stack)
    assert set(schedules) == {"Default Unit"} | {f"NAV {c}" for c in UNIT_CODES}
    for code, schedule_id in ids.items():
        assert schedules[f"NAV {code}"]["baseuomname"] == code
        coupling = ctx.stores.couplings.get_by_bc(UOM, _unit(stack, code)["id"])
        assert coupling is not None and coupling.crm_id == schedule_id
        (unit,) = _units_of(stack, schedule_id)  # the schedule's one unit: the base unit, quantity 1
        assert (unit["name"], unit["isschedulebaseuom"], unit["quantity"]) == (code, True, 1.0)

    # a Dataverse user's change is not read back (to-dataverse only) ...
    pcs = ids["PCS"]
    stack.dataverse.update("uomschedules", pcs, {"baseuomname": "Stück"})
    stack.bc.reset_counters()
    runs = {r.direction: r for r in run_mapping_job(ctx, UOM)}
    assert list(runs) == ["to-dataverse"] and runs["to-dataverse"].enqueued == 0
    assert stack.bc.counters()["writes"] == 0 and _unit(stack, "PCS")["code"] == "PCS"
    # ... and the next BC change of the unit puts BC's value back (the timer function, the queue)
    stack.bc.update("unitsOfMeasure", _unit(stack, "PCS")["id"], {"displayName": "Pieces"})
    fire_timer("sync_unit_of_measure")
    delivered = deliver_all(stack.azurite.connection_string)
    assert len(delivered) == 1 and _unit(stack, "PCS")["id"] in delivered[0]
    schedule = stack.dataverse.get("uomschedules", pcs)
    assert (schedule["name"], schedule["baseuomname"]) == ("NAV PCS", "PCS")
    # a direct Dataverse -> BC message is refused by the mapping's direction
    refused = _sync(ctx, UOM, "to-bc", pcs, "command")
    assert refused.outcome == "failed" and "not configured for to-bc" in refused.message
    assert _unit(stack, "PCS")["code"] == "PCS"


def test_an_existing_nav_schedule_is_coupled_not_duplicated(stack: SandboxStack, ctx: SyncContext) -> None:
    existing = stack.dataverse.insert("uomschedules", {"name": "NAV BOX", "baseuomname": "Box"})
    box = _unit(stack, "BOX")
    outcome = _sync(ctx, UOM, "to-dataverse", box["id"], "command")
    assert (outcome.outcome, outcome.destination_id) == ("modified", existing["uomscheduleid"])
    assert outcome.message == "changed baseuomname"
    coupling = ctx.stores.couplings.get_by_bc(UOM, box["id"])
    assert coupling is not None and coupling.crm_id == existing["uomscheduleid"]
    same_name = [s for s in stack.dataverse.rows("uomschedules") if s["name"] == "NAV BOX"]
    assert len(same_name) == 1 and same_name[0]["baseuomname"] == "BOX"
    (unit,) = _units_of(stack, existing["uomscheduleid"])
    assert unit["name"] == "BOX"  # BC renames the schedule's single unit to the code
    # an item in boxes gets the coupled schedule and that schedule's base unit
    product = stack.dataverse.get("products", _create(ctx, ITEM, _item(stack, "1960-S")["id"]))
    (base,) = _units_of(stack, existing["uomscheduleid"])
    assert product["_defaultuomscheduleid_value"] == existing["uomscheduleid"]
    assert product["_defaultuomid_value"] == base["uomid"]
    # BC: the unit must be the base unit with quantity 1, or the item fails
    stack.dataverse.update("uoms", base["uomid"], {"quantity": 2.0})
    stack.bc.update("integrationItems", _item(stack, "1960-S")["id"], {"unitPrice": 199.0})
    failed = _sync(ctx, ITEM, "to-dataverse", _item(stack, "1960-S")["id"])
    assert failed.outcome == "failed" and "no base unit with quantity 1" in failed.message
    assert stack.dataverse.get("products", product["productid"])["price"] == 192.8
    # BC: a unit group with a second unit, or an inactive one, is an error for its unit of measure
    stack.dataverse.insert(
        "uoms",
        {
            "name": "Pallet",
            "quantity": 40.0,
            "uomscheduleid@odata.bind": f"/uomschedules({existing['uomscheduleid']})",
        },
    )
    stack.bc.update("unitsOfMeasure", box["id"], {"code": "BOX", "displayName": "Box of 10"})
    stack.dataverse.update("uomschedules", existing["uomscheduleid"], {"baseuomname": "Box"})
    two = _sync(ctx, UOM, "to-dataverse", box["id"], "command")
    assert two.outcome == "failed" and "contains more than one unit" in two.message
    pallet = next(u for u in _units_of(stack, existing["uomscheduleid"]) if u["name"] == "Pallet")
    stack.dataverse.delete("uoms", pallet["uomid"])
    stack.dataverse.update("uomschedules", existing["uomscheduleid"], {"statecode": 1, "statuscode": 2})
    inactive = _sync(ctx, UOM, "to-dataverse", box["id"], "command")
    assert inactive.outcome == "failed" and "NAV BOX is inactive" in inactive.message
    assert stack.dataverse.get("uomschedules", existing["uomscheduleid"])["baseuomname"] == "Box"  # unwritten


# -- ITEM-PRODUCT ---------------------------------------------------------------------------------


def test_item_insert_maps_the_fields_constants_and_unit_group_and_modifies_zero_negatives(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    units = _sync_units(stack, ctx)
    desk = _item(stack, "1896-S")
    stack.bc.update("integrationItems", desk["id"], {"vendorNo": "10000", "vendorItemNo": "ATH-D-01"})
    product = stack.dataverse.get("products", _create(ctx, ITEM, desk["id"]))
    (pcs_unit,) = _units_of(stack, units["PCS"])
    assert {k: product[k] for k in ITEM_FIELDS} == {
        "productnumber": "1896-S",
        "name": "ATHENS Desk",
        "price": 1000.8,
        "standardcost": 780.7,
        "currentcost": 780.7,
        "stockvolume": 0.4,
        "stockweight": 12.5,
        "vendorid": "10000",
        "vendorpartnumber": "ATH-D-01",
        "quantityonhand": 12,
        "producttypecode": 1,  # SalesInventory
        "quantitydecimal": 2,
        "_transactioncurrencyid_value": _usd(stack),  # BC's LCY
        "_defaultuomscheduleid_value": units["PCS"],  # "NAV PCS"
        "_defaultuomid_value": pcs_unit["uomid"],  # its base unit
    }
    assert product["vendorname"] == "Fabrikam, Inc."  # BC fills it from the vendor
    assert _state(product) == (0, 1)  # Active after insert (Dataverse would create it as Draft)
    chair = stack.dataverse.get("products", _create(ctx, ITEM, _item(stack, "1960-S")["id"]))
    assert chair["_defaultuomscheduleid_value"] == units["BOX"]
    assert chair["_defaultuomid_value"] == _units_of(stack, units["BOX"])[0]["uomid"]

    # quantitydecimal is written on insert only; a negative price or inventory is written as 0
    stack.dataverse.update("products", product["productid"], {"quantitydecimal": 4})
    stack.bc.update("integrationItems", desk["id"], {"unitPrice": -5.0, "inventory": -3, "unitCost": 790.0})
    outcome = _sync(ctx, ITEM, "to-dataverse", desk["id"])
    assert (outcome.outcome, outcome.message) == (
        "modified",
        "changed currentcost, price, quantityonhand, standardcost",
    )
    product = stack.dataverse.get("products", product["productid"])
    assert (product["price"], product["quantityonhand"], product["standardcost"]) == (0, 0, 790.0)
    assert product["quantitydecimal"] == 4

    # a scheduled run finds nothing to write (our own Dataverse writes are not echoed) ...
    stack.bc.reset_counters()
    stack.dataverse.reset_counters()
    runs = _run(stack, ctx, ITEM)
    assert runs["to-dataverse"][0] == 8  # every unblocked item is read the first time ...
    assert runs["to-dataverse"][1] == 2  # ... only the coupled ones are enqueued (and are unchanged)
    assert runs["to-bc"] == (0, 0)  # both products were last modified by the integration user
    # ... and an unchanged rerun reads and writes nothing
    runs = _run(stack, ctx, ITEM)
    assert runs == {"to-dataverse": (0, 0), "to-bc": (0, 0)}
    assert stack.bc.counters()["writes"] == 0 and stack.dataverse.counters()["writes"] == 0


def test_blocked_item_retires_the_product_on_a_later_modify_and_is_left_out_of_scheduled_runs(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    _sync_units(stack, ctx)
    chair, yellow = _item(stack, "1900-S"), _item(stack, "1936-S")
    assert yellow["blocked"] is True  # seeded blocked
    chair_product = _create(ctx, ITEM, chair["id"])
    yellow_product = _create(ctx, ITEM, yellow["id"])
    assert _state(stack.dataverse.get("products", yellow_product)) == (0, 1)  # a new product is Active
    _run(stack, ctx, ITEM)  # settles both watermarks

    # table filter blocked eq false: a blocked item is not read by the job ...
    stack.bc.update("integrationItems", chair["id"], {"blocked": True})
    stack.bc.update("integrationItems", yellow["id"], {"description": "BERLIN Guest Chair, yellow (old)"})
    assert _run(stack, ctx, ITEM)["to-dataverse"] == (0, 0)
    assert _state(stack.dataverse.get("products", chair_product)) == (0, 1)
    # ... but a modify of it ("Synchronize Now") retires the product: statecode Retired, statuscode 2
    assert _sync(ctx, ITEM, "to-dataverse", chair["id"], "command").outcome == "modified"
    assert _state(stack.dataverse.get("products", chair_product)) == (1, 2)
    assert _sync(ctx, ITEM, "to-dataverse", yellow["id"], "command").outcome == "modified"
    retired = stack.dataverse.get("products", yellow_product)
    assert _state(retired) == (1, 2) and retired["name"] == "BERLIN Guest Chair, yellow (old)"

    # unblocking is an ordinary change the job picks up: the product is Active again
    stack.bc.update("integrationItems", chair["id"], {"blocked": False})
    assert _run(stack, ctx, ITEM)["to-dataverse"] == (1, 1)
    assert _state(stack.dataverse.get("products", chair_product)) == (0, 1)


def test_dataverse_changes_flow_back_name_unit_group_and_state_as_blocked(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    units = _sync_units(stack, ctx)
    chair = _item(stack, "1908-S")
    product_id = _create(ctx, ITEM, chair["id"])
    _run(stack, ctx, ITEM)  # settles both watermarks

    # name and the unit group are bidirectional; price is not read back
    stack.dataverse.update(
        "products",
        product_id,
        {
            "name": "LONDON Swivel Chair, red",
            "price": 1.0,
            "defaultuomscheduleid@odata.bind": f"/uomschedules({units['BOX']})",
        },
    )
    assert _run(stack, ctx, ITEM)["to-bc"] == (1, 1)
    item = stack.bc.get("integrationItems", chair["id"])
    assert (item["description"], item["baseUnitOfMeasure"], item["unitPrice"]) == (
        "LONDON Swivel Chair, red",
        "BOX",
        190.1,
    )
    # BC's write is no change to send back (the 1 s overlap of the Dataverse watermark rereads it)
    stack.bc.reset_counters()
    stack.dataverse.reset_counters()
    _run(stack, ctx, ITEM)
    assert stack.bc.counters()["writes"] == 0 and stack.dataverse.counters()["writes"] == 0

    # integration-table filter statecode eq 0: a product retired in Dataverse is not read by the job
    stack.dataverse.update("products", product_id, {"statecode": 1, "statuscode": 2})
    assert _run(stack, ctx, ITEM)["to-bc"] == (0, 0)
    assert stack.bc.get("integrationItems", chair["id"])["blocked"] is False
    # ... synchronizing it from Dataverse blocks the item: Blocked = statecode is not Active
    assert _sync(ctx, ITEM, "to-bc", product_id, "command").outcome == "modified"
    assert stack.bc.get("integrationItems", chair["id"])["blocked"] is True
    # activated again, it is read and the item is unblocked
    stack.dataverse.update("products", product_id, {"statecode": 0, "statuscode": 1})
    assert _run(stack, ctx, ITEM)["to-bc"] == (1, 1)
    assert stack.bc.get("integrationItems", chair["id"])["blocked"] is False


def test_write_in_item_is_skipped_and_an_uncoupled_base_unit_fails_with_bcs_message(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    write_in = _item(stack, "WRITEIN")  # Sales & Receivables Setup's Write-in Product No.
    outcome = _sync(ctx, ITEM, "to-dataverse", write_in["id"], "command")
    assert outcome == Outcome(
        "skipped",
        "Item WRITEIN is the write-in product of Sales & Receivables Setup and is never synchronized.",
    )
    assert ctx.stores.couplings.get_by_bc(ITEM, write_in["id"]) is None
    assert ctx.stores.sync_errors.list(ITEM) == []  # skipped, not failed

    desk = _item(stack, "1896-S")  # its base unit PCS is not coupled yet
    failed = _sync(ctx, ITEM, "to-dataverse", desk["id"], "command")
    assert (failed.outcome, failed.message) == (
        "failed",
        "Base Unit of Measure PCS must be coupled to a record in Dataverse.",
    )
    (error,) = ctx.stores.sync_errors.list(ITEM)
    assert error.field == "_defaultuomscheduleid_value" and error.source_id == desk["id"]
    assert 'run "UNIT OF MEASURE"' in error.remedy
    assert ctx.stores.couplings.get_by_bc(ITEM, desk["id"]) is None
    assert not [p for p in stack.dataverse.rows("products") if p["productnumber"] in ("1896-S", "WRITEIN")]

    # the remedy works: once the units are synchronized the item is created
    _sync_units(stack, ctx)
    product = stack.dataverse.get("products", _create(ctx, ITEM, desk["id"]))
    assert product["productnumber"] == "1896-S"
    assert _sync(ctx, ITEM, "to-dataverse", write_in["id"], "command").outcome == "skipped"
    assert [p["productnumber"] for p in stack.dataverse.rows("products")] == ["1896-S"]


# -- RESOURCE-PRODUCT -----------------------------------------------------------------------------


def test_resource_product_is_a_service_product_with_its_own_write_in_rule_and_filters(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    units = _sync_units(stack, ctx)
    linda = _resource(stack, "LINDA")
    stack.bc.update("resources", linda["id"], {"vendorNo": "V20000"})
    product = stack.dataverse.get("products", _create(ctx, RESOURCE, linda["id"]))
    (hour,) = _units_of(stack, units["HOUR"])
    assert {k: product.get(k) for k in (*ITEM_FIELDS, "statecode")} == {
        "productnumber": "LINDA",
        "name": "Linda Martin",
        "price": 110.0,
        "standardcost": 70.0,
        "currentcost": 70.0,
        "stockvolume": None,  # not mapped for resources
        "stockweight": None,
        "vendorid": "V20000",
        "vendorpartnumber": None,
        "quantityonhand": 160,  # Capacity
        "producttypecode": 3,  # Services
        "quantitydecimal": 2,
        "_transactioncurrencyid_value": _usd(stack),
        "_defaultuomscheduleid_value": units["HOUR"],
        "_defaultuomid_value": hour["uomid"],
        "statecode": 0,
    }
    stack.bc.update("resources", linda["id"], {"capacity": -8})
    assert _sync(ctx, RESOURCE, "to-dataverse", linda["id"]).outcome == "modified"
    assert stack.dataverse.get("products", product["productid"])["quantityonhand"] == 0

    # the write-in rule follows the setup's Write-in Product Type
    lift, write_in = _resource(stack, "LIFT"), _item(stack, "WRITEIN")
    assert _sync(ctx, RESOURCE, "to-dataverse", lift["id"], "command").outcome == "inserted"
    marty = _resource(stack, "MARTY")
    setup = stack.bc.rows("integrationSetup")[0]
    stack.bc.update(
        "integrationSetup", setup["id"], {"writeInProductType": "Resource", "writeInProductNo": "MARTY"}
    )
    outcome = _sync(ctx, RESOURCE, "to-dataverse", marty["id"], "command")
    assert outcome == Outcome(
        "skipped",
        "Resource MARTY is the write-in product of Sales & Receivables Setup and is never synchronized.",
    )
    item_product = _create(ctx, ITEM, write_in["id"])  # the item WRITEIN is an ordinary item now

    # filters: each mapping reads only its product type; blocked resources are not read
    _run(stack, ctx, RESOURCE)
    _run(stack, ctx, ITEM)
    stack.dataverse.update("products", product["productid"], {"name": "Linda Martin-Holm"})
    stack.dataverse.update("products", item_product, {"name": "Write-in (renamed)"})
    stack.bc.update("resources", lift["id"], {"blocked": True})
    assert _run(stack, ctx, RESOURCE) == {"to-dataverse": (0, 0), "to-bc": (1, 1)}
    assert _run(stack, ctx, ITEM) == {"to-dataverse": (0, 0), "to-bc": (1, 1)}
    assert stack.bc.get("resources", linda["id"])["name"] == "Linda Martin-Holm"
    assert stack.bc.get("integrationItems", write_in["id"])["description"] == "Write-in (renamed)"
    lift_product = ctx.stores.couplings.get_by_bc(RESOURCE, lift["id"]).crm_id
    assert _state(stack.dataverse.get("products", lift_product)) == (0, 1)
    assert _sync(ctx, RESOURCE, "to-dataverse", lift["id"], "command").outcome == "modified"
    assert _state(stack.dataverse.get("products", lift_product)) == (1, 2)  # Blocked -> Retired


# -- the default price list (BC §3.3) ---------------------------------------------------------------


def _default_lists(stack: SandboxStack) -> list[dict]:
    return [r for r in stack.dataverse.rows("pricelevels") if r["name"] == DEFAULT_PRICE_LIST]


def _prices_of(stack: SandboxStack, product_id: str) -> list[dict]:
    return [r for r in stack.dataverse.rows("productpricelevels") if r["_productid_value"] == product_id]


def test_products_get_the_default_price_list_and_their_price_in_it(
    stack: SandboxStack, ctx: SyncContext
) -> None:
    _sync_units(stack, ctx)
    desk, chair = _item(stack, "1896-S"), _item(stack, "1960-S")
    desk_id, chair_id = _create(ctx, ITEM, desk["id"]), _create(ctx, ITEM, chair["id"])
    (price_list,) = _default_lists(stack)  # created once, in the local currency, for both products
    assert price_list["_transactioncurrencyid_value"] == _usd(stack)
    for product_id, amount in ((desk_id, 1000.8), (chair_id, 192.8)):
        product = stack.dataverse.get("products", product_id)
        assert product["_pricelevelid_value"] == price_list["pricelevelid"]
        (price,) = _prices_of(stack, product_id)
        assert (price["_pricelevelid_value"], price["_uomid_value"], price["amount"]) == (
            price_list["pricelevelid"],
            product["_defaultuomid_value"],
            amount,
        )
    # a new price updates the price list item; a negative price is 0 there too
    stack.bc.update("integrationItems", desk["id"], {"unitPrice": 1100.0})
    assert _sync(ctx, ITEM, "to-dataverse", desk["id"]).outcome == "modified"
    stack.bc.update("integrationItems", chair["id"], {"unitPrice": -1.0})
    assert _sync(ctx, ITEM, "to-dataverse", chair["id"]).outcome == "modified"
    assert [p["amount"] for p in _prices_of(stack, desk_id)] == [1100.0]
    assert [p["amount"] for p in _prices_of(stack, chair_id)] == [0]
    # a product that has a price list of its own keeps it (BC sets it only when blank)
    other = stack.dataverse.rows("pricelevels")[0]["pricelevelid"]
    assert other != price_list["pricelevelid"]
    stack.dataverse.update("products", desk_id, {"pricelevelid@odata.bind": f"/pricelevels({other})"})
    stack.bc.update("integrationItems", desk["id"], {"unitPrice": 1200.0})
    assert _sync(ctx, ITEM, "to-dataverse", desk["id"]).outcome == "modified"
    assert stack.dataverse.get("products", desk_id)["_pricelevelid_value"] == other
    assert {p["_pricelevelid_value"]: p["amount"] for p in _prices_of(stack, desk_id)} == {
        price_list["pricelevelid"]: 1100.0,
        other: 1200.0,
    }
    # resources too; still one default price list
    _create(ctx, RESOURCE, _resource(stack, "LINDA")["id"])
    assert len(_default_lists(stack)) == 1
