"""Option mappings end to end (BC §3.15 / §4.8): timer -> Azurite queue -> queue function -> Dataverse.

PAYMENT TERMS, SHIPMENT METHOD and SHIPPING AGENT couple each BC code to an option of an account
picklist: existing labels are matched (and relabelled to the code), missing ones inserted. Then
CUSTOMER's option fields (paymenttermscode, address1_freighttermscode, address1_shippingmethodcode)
resolve through those couplings, both ways.
"""

from __future__ import annotations

import pytest

from sandbox.stack import SandboxStack
from sync_core.app import wiring
from sync_core.sync.commands import couplings
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.outcome import Outcome
from sync_core.sync.engine.record import RecordSynchronizer
from sync_core.sync.messages import RecordMessage
from tests.e2e.host import deliver_all, fire_timer

PAYMENT = ("account", "paymenttermscode")
FREIGHT = ("account", "address1_freighttermscode")
SHIPPING = ("account", "address1_shippingmethodcode")
OPTION_MAPPINGS = {  # mapping -> timer, BC entity, option set
    "PAYMENT TERMS": ("sync_payment_terms", "paymentTerms", PAYMENT),
    "SHIPMENT METHOD": ("sync_shipment_method", "shipmentMethods", FREIGHT),
    "SHIPPING AGENT": ("sync_shipping_agent", "shippingAgents", SHIPPING),
}
SALES_USERS = {"JO": "sales_user_1", "PS": "sales_user_2"}  # BC salesperson -> Dataverse user


def _run(stack: SandboxStack, mapping: str) -> list[str]:
    fire_timer(OPTION_MAPPINGS[mapping][0])
    return deliver_all(stack.azurite.connection_string)


def _summary(mapping: str) -> dict[str, int]:
    log = wiring.services().stores.job_log
    summary = log.summary(log.list_runs(mapping, limit=1)[0].job_id)
    assert summary is not None and summary.finished
    return {k: v for k, v in summary.counts.items() if v}


def _options(stack: SandboxStack, key: tuple[str, str]) -> dict[int, str]:
    return stack.dataverse.options.options(key)


def _coupled_values(stack: SandboxStack, mapping: str) -> dict[str, int]:
    """BC code -> coupled option value."""
    entity = OPTION_MAPPINGS[mapping][1]
    codes = {r["id"]: r["code"] for r in stack.bc.rows(entity)}
    found = wiring.services().stores.couplings.iter_mapping(mapping)
    return {codes[c.bc_id]: int(c.crm_id) for c in found if c.state == "coupled"}


def _row(stack: SandboxStack, entity: str, code: str) -> dict:
    return next(r for r in stack.bc.rows(entity) if r["code"] == code)


def _sync(ctx: SyncContext, mapping: str, direction: str, source_id: str) -> Outcome:
    msg = RecordMessage(mapping, direction, source_id, "job-opt", "command")  # type: ignore[arg-type]
    return RecordSynchronizer(ctx).process(msg)


def test_payment_terms_are_inserted_as_options_and_a_second_run_writes_nothing(stack: SandboxStack) -> None:
    codes = {r["code"] for r in stack.bc.rows("paymentTerms")}
    stack.dataverse.reset_counters()
    assert len(_run(stack, "PAYMENT TERMS")) == len(codes)
    assert _summary("PAYMENT TERMS") == {"inserted": len(codes)}
    options = _options(stack, PAYMENT)
    coupled = _coupled_values(stack, "PAYMENT TERMS")
    assert set(coupled) == codes and all(options[v] == code for code, v in coupled.items())
    assert sorted(coupled.values()) == list(range(100000000, 100000000 + len(codes)))
    assert {1, 2, 3, 4} <= set(options)  # the out-of-box options stay
    assert stack.dataverse.counters()["by_entity"]["InsertOptionValue"] == {"POST": len(codes)}
    couplings_ = wiring.services().stores.couplings.iter_mapping("PAYMENT TERMS")
    assert all(c.to_dataverse.result == "success" and c.bc_modified_on for c in couplings_)

    stack.dataverse.reset_counters()
    assert _run(stack, "PAYMENT TERMS") == []
    assert stack.dataverse.counters()["total"] == 0


def test_existing_labels_are_matched_case_insensitively(stack: SandboxStack) -> None:
    _run(stack, "SHIPMENT METHOD")
    assert _summary("SHIPMENT METHOD") == {"inserted": 4, "unchanged": 1}
    assert _coupled_values(stack, "SHIPMENT METHOD")["FOB"] == 1  # the out-of-box "FOB"
    _run(stack, "SHIPPING AGENT")
    assert _summary("SHIPPING AGENT") == {"modified": 1, "unchanged": 2}
    assert _coupled_values(stack, "SHIPPING AGENT") == {"DHL": 2, "FEDEX": 3, "UPS": 4}
    assert _options(stack, SHIPPING)[3] == "FEDEX"  # "FedEx" relabelled to the code
    stack.dataverse.reset_counters()
    assert _run(stack, "SHIPPING AGENT") == [] and stack.dataverse.counters()["total"] == 0


def test_a_redelivery_after_an_insert_that_was_not_coupled_inserts_no_second_option(
    stack: SandboxStack,
) -> None:
    stack.dataverse.options.insert(PAYMENT, "CM")  # a delivery died after InsertOptionValue
    _run(stack, "PAYMENT TERMS")
    assert _summary("PAYMENT TERMS") == {"inserted": 4, "unchanged": 1}
    labels = list(_options(stack, PAYMENT).values())
    assert labels.count("CM") == 1 and _coupled_values(stack, "PAYMENT TERMS")["CM"] == 100000000
    ctx = wiring.services().sync_context()
    cm = _row(stack, "paymentTerms", "CM")
    assert _sync(ctx, "PAYMENT TERMS", "to-dataverse", cm["id"]).outcome == "unchanged"  # forced
    assert list(_options(stack, PAYMENT).values()).count("CM") == 1


def test_relabelled_deleted_and_doubly_claimed_options(stack: SandboxStack) -> None:
    _run(stack, "PAYMENT TERMS")
    ctx = wiring.services().sync_context()
    cod = _row(stack, "paymentTerms", "COD")
    value = _coupled_values(stack, "PAYMENT TERMS")["COD"]
    stack.dataverse.options.update(PAYMENT, value, "Cash")  # changed in Dataverse
    modified = _sync(ctx, "PAYMENT TERMS", "to-dataverse", cod["id"])
    assert modified.outcome == "modified" and _options(stack, PAYMENT)[value] == "COD"

    stack.bc.update("paymentTerms", cod["id"], {"code": "CASH"})  # a code renamed in BC
    stack.bc.insert("paymentTerms", {"code": "COD", "displayName": "Cash on delivery (new)"})
    new = _row(stack, "paymentTerms", "COD")
    failed = _sync(ctx, "PAYMENT TERMS", "to-dataverse", new["id"])
    assert failed.outcome == "failed" and "already coupled to paymentTerms CASH" in failed.message
    assert _sync(ctx, "PAYMENT TERMS", "to-dataverse", cod["id"]).outcome == "modified"  # -> CASH
    assert _sync(ctx, "PAYMENT TERMS", "to-dataverse", new["id"]).outcome == "inserted"

    stack.dataverse.options.delete(PAYMENT, value)
    gone = _sync(ctx, "PAYMENT TERMS", "to-dataverse", cod["id"])
    assert gone.outcome == "failed" and "coupled to a deleted record" in gone.message
    [error, *_] = wiring.services().stores.sync_errors.list("PAYMENT TERMS")
    assert error.field == "paymenttermscode" and "uncouple" in error.remedy


def test_option_mappings_refuse_the_dataverse_to_bc_direction(stack: SandboxStack) -> None:
    ctx = wiring.services().sync_context()
    outcome = _sync(ctx, "PAYMENT TERMS", "to-bc", "1")
    assert outcome.outcome == "failed" and "not configured" in outcome.message


# -- CUSTOMER's option fields -------------------------------------------------------------------


def _prepare_customer_lookups(stack: SandboxStack, ctx: SyncContext) -> None:
    fire_timer("sync_currency")
    deliver_all(stack.azurite.connection_string)
    for mapping in OPTION_MAPPINGS:
        _run(stack, mapping)
    for code, user in SALES_USERS.items():  # SALESPEOPLE only syncs coupled users: couple them
        salesperson = _row(stack, "salespeoplePurchasers", code)
        couplings.couple(ctx, "SALESPEOPLE", salesperson["id"], stack.dataverse.ids[user])


@pytest.mark.parametrize("number", ["10000", "40000"])
def test_customer_option_fields_resolve_through_the_option_couplings(
    stack: SandboxStack, number: str
) -> None:
    ctx = wiring.services().sync_context()
    _prepare_customer_lookups(stack, ctx)
    customer = next(r for r in stack.bc.rows("integrationCustomers") if r["number"] == number)
    if customer["salespersonCode"] == "OF":
        stack.bc.update("integrationCustomers", customer["id"], {"salespersonCode": "JO"})
    assert _sync(ctx, "CUSTOMER", "to-dataverse", customer["id"]).outcome == "inserted"
    crm_id = ctx.stores.couplings.get_by_bc("CUSTOMER", customer["id"]).crm_id
    account = stack.dataverse.get("accounts", crm_id)
    terms, freight = _coupled_values(stack, "PAYMENT TERMS"), _coupled_values(stack, "SHIPMENT METHOD")
    agents = _coupled_values(stack, "SHIPPING AGENT")
    assert account["paymenttermscode"] == terms[customer["paymentTermsCode"]]
    assert account["address1_freighttermscode"] == freight[customer["shipmentMethodCode"]]
    assert account["address1_shippingmethodcode"] == agents[customer["shippingAgentCode"]]

    stack.dataverse.update("accounts", crm_id, {"paymenttermscode": terms["COD"]})  # a user's change
    assert _sync(ctx, "CUSTOMER", "to-bc", crm_id).outcome == "modified"
    assert stack.bc.get("integrationCustomers", customer["id"])["paymentTermsCode"] == "COD"
    stack.dataverse.update("accounts", crm_id, {"paymenttermscode": 1})  # an uncoupled option
    failed = _sync(ctx, "CUSTOMER", "to-bc", crm_id)
    assert failed.outcome == "failed" and "must be coupled to a record in Business Central" in failed.message
