"""Operator HTTP routes (``/api/manage/...``) with real HttpRequest objects, against the stack."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

from sandbox.stack import SandboxStack
from sync_core.app.wiring import Services
from tests.e2e.host import deliver_all, user_functions
from tests.e2e.operator_support import (
    add_dv_currency,
    attach_settings,
    bc_currency,
    couplings_of,
    dv_currencies,
)

BASE = "http://localhost/api/manage"


@pytest.fixture
def svc(stack: SandboxStack) -> Services:
    return attach_settings(stack)


def call(
    name: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    route: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict]:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    req = func.HttpRequest(
        method=method,
        url=f"{BASE}/{path}",
        headers={"Content-Type": "application/json"},
        params=params or {},
        route_params=route or {},
        body=data,
    )
    reply = user_functions()[name](req)
    return reply.status_code, json.loads(reply.get_body())


def action(mapping: str, verb: str, body: Any = None, raw: bytes | None = None) -> tuple[int, dict]:
    route = {"mapping": mapping, "action": verb}
    return call("manage_mapping_action", "POST", f"mappings/{mapping}/{verb}", body, route=route, raw=raw)


def test_couple_create_sync_now_uncouple(stack: SandboxStack, svc: Services) -> None:
    eur, gbp, dv_eur = bc_currency(stack, "EUR"), bc_currency(stack, "GBP"), add_dv_currency(stack, "EUR")
    status, body = action("CURRENCY", "couple", {"bc_id": eur, "crm_id": dv_eur})
    assert status == 200 and body["coupling"]["coupled"] is True
    status, body = action("CURRENCY", "couple", {"bc_id": gbp, "crm_id": dv_eur})
    assert status == 409 and "already coupled" in body["error"] and "uncouple" in body["remedy"]
    status, body = action("CURRENCY", "sync-now", {"bc_id": eur, "direction": "to-dataverse"})
    assert status == 200 and body["synchronized"]["outcome"] == "modified"
    status, body = action("CURRENCY", "create-in-dataverse", {"bc_id": gbp})
    assert (
        status == 200
        and body["created"]["destination_id"] == dv_currencies(stack)["GBP"]["transactioncurrencyid"]
    )
    status, body = action("CURRENCY", "uncouple", {"all": True})
    assert (status, body["uncoupled"]["uncoupled"]) == (200, 2) and couplings_of(svc, "CURRENCY") == []


def test_bad_requests_unknown_things_and_refusals(stack: SandboxStack, svc: Services) -> None:
    eur = bc_currency(stack, "EUR")
    cases = [
        (action("CURRENCY", "couple", {"bc_id": "EUR", "crm_id": eur}), 400, "bc_id must be a GUID"),
        (action("CURRENCY", "couple", {"bc_id": eur}), 400, "crm_id is required"),
        (action("CURRENCY", "couple", raw=b"{oops"), 400, "not valid JSON"),
        (action("CURRENCY", "uncouple", {"bc_id": eur, "all": True}), 400, "exactly one"),
        (action("CURRENCY", "sync-now", {"bc_id": eur, "direction": "up"}), 400, "direction must be"),
        (action("CURRENCY", "restore", {"bc_id": eur, "extra": 1}), 400, "unknown field(s) extra"),
        (action("CURRENCY", "match-couple", {"match": ["code"]}), 400, "no field mapping for 'code'"),
        (
            action("CURRENCY", "sync-now", {"bc_id": eur, "direction": "to-bc"}),
            400,
            "not configured for to-bc",
        ),
        (action("NOPE", "couple", {"bc_id": eur, "crm_id": eur}), 404, "unknown mapping 'NOPE'"),
        (action("CURRENCY", "frobnicate", {}), 404, "unknown action"),
        (action("CURRENCY", "restore", {"bc_id": eur}), 404, "is not coupled"),
        (action("CURRENCY", "sync-now", {"bc_id": eur, "direction": "to-dataverse"}), 409, "is not coupled"),
        (
            action("CURRENCY", "create-in-dataverse", {"bc_id": bc_currency(stack, "JPY")}),
            409,
            "exchange rate",
        ),
    ]
    for (status, body), want_status, reason in cases:
        assert (status, reason in body.get("error", "")) == (want_status, True), body


def test_match_couple_retry_restore_and_run_enqueue(stack: SandboxStack, svc: Services) -> None:
    add_dv_currency(stack, "EUR")
    status, body = action("CURRENCY", "match-couple", {"match": "isocurrencycode", "dry_run": True})
    assert (
        status == 200 and body["match_couple"]["counts"]["matched"] == 1 and not couplings_of(svc, "CURRENCY")
    )
    status, body = action("CURRENCY", "match-couple", {"match": ["isocurrencycode"], "create_new": True})
    assert status == 202 and (body["match_couple"]["coupled"], body["match_couple"]["enqueued"]) == (1, 4)
    assert len(deliver_all(stack.azurite.connection_string)) == 4
    status, body = action("CURRENCY", "retry", {"all": True})
    assert (status, body["retry"]["enqueued"]) == (200, 0)  # JPY failed uncoupled: nothing to retry
    status, body = action("CURRENCY", "retry", {"bc_id": bc_currency(stack, "JPY")})
    assert (status, body["retry"]["enqueued"]) == (202, 1)  # an uncoupled record is sent again
    status, body = action("CURRENCY", "restore", {"all": True})
    assert (status, body["restore"]["restored"]) == (200, 0)
    status, body = action("CURRENCY", "run")
    assert status == 202 and body["jobs"][0]["direction"] == "to-dataverse"
    status, body = call("manage_jobs", "GET", "jobs", params={"mapping": "CURRENCY", "limit": "50"})
    assert status == 200 and {"coupling", "synchronization"} <= {j["kind"] for j in body["jobs"]}
    status, body = call("manage_errors", "GET", "errors", params={"mapping": "CURRENCY"})
    assert status == 200 and body["errors"][0]["field"] == "exchangerate"
    status, body = call("manage_errors", "GET", "errors", params={"limit": "lots"})
    assert status == 400 and "limit" in body["error"]


def test_mapping_settings_through_patch_and_list(stack: SandboxStack, svc: Services) -> None:
    route = {"mapping": "CURRENCY"}
    change = {
        "disable_fields": ["currencysymbol"],
        "synch_only_coupled": False,
        "table_filter": "code ne 'JPY'",
    }
    status, body = call("manage_mapping_set", "PATCH", "mappings/CURRENCY", change, route=route)
    assert status == 200 and body["mapping"]["synch_only_coupled"] is False
    status, body = call("manage_mappings", "GET", "mappings")
    currency = {m["name"]: m for m in body["mappings"]}["CURRENCY"]
    assert status == 200 and currency["table_filter"] == "code ne 'JPY'"
    assert currency["runtime_settings"] == {
        "synch_only_coupled": False,
        "table_filter": "code ne 'JPY'",
        "disabled_fields": ["currencysymbol"],
    }
    bad = [
        ({"disable_fields": ["websiteurl"]}, route, 400, "websiteurl"),
        ({"synch_only_coupled": "no"}, route, 400, "true or false"),
        ({"update_conflict_resolution": "bc-wins"}, route, 400, "must be one of"),
        ({"schedule": 5}, route, 400, "unknown field(s) schedule"),
        ({"synch_only_coupled": True}, {"mapping": "NOPE"}, 404, "unknown mapping"),
    ]
    for change, where, want, reason in bad:
        status, body = call("manage_mapping_set", "PATCH", "mappings/x", change, route=where)
        assert (status, reason in body["error"]) == (want, True), body
