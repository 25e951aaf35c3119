"""BC notification bodies (api-facts §E.7): parsing, the clientState check, the handshake token."""

from __future__ import annotations

import json

import pytest

from sync_core.webhooks.bc import client_state, parse_notifications, validation_token
from sync_core.webhooks.dataverse import WebhookError

COMPANY = "2f1d0a6e-8a35-4b3c-9d5e-0c4a1b2c3d4e"
STATE = client_state("secret", COMPANY)


def _body(*entries: dict) -> bytes:
    return json.dumps({"value": list(entries)}).encode()


def _entry(resource: str, change: str = "updated", state: str = STATE) -> dict:
    return {"subscriptionId": "s1", "clientState": state, "resource": resource, "changeType": change}


def test_entries_name_the_set_and_the_record() -> None:
    body = _body(
        _entry(f"api/v2.0/companies({COMPANY})/customers(11111111-1111-1111-1111-111111111111)"),
        _entry(f"api/bcsync/integration/v1.0/companies({COMPANY})/integrationItems(2222)", "deleted"),
        _entry(f"api/v2.0/companies({COMPANY})/items?$filter=lastModifiedDateTime%20gt%202026-12-05T10:00:00Z",
               "collection"),
    )  # fmt: skip
    first, second, third = parse_notifications(body, STATE)
    assert (first.entity, first.record_id, first.change_type) == (
        "customers",
        "11111111-1111-1111-1111-111111111111",
        "updated",
    )
    assert (second.entity, second.record_id, second.company_id) == ("integrationItems", "2222", COMPANY)
    assert (third.entity, third.record_id, third.change_type) == ("items", "", "collection")
    assert parse_notifications(b"\xef\xbb\xbf" + _body(), STATE) == []  # a BOM is tolerated


def test_one_forged_entry_refuses_the_call() -> None:
    good = _entry(f"api/v2.0/companies({COMPANY})/customers(1)")
    with pytest.raises(WebhookError) as refused:
        parse_notifications(_body(good, {**good, "clientState": client_state("guess", COMPANY)}), STATE)
    assert refused.value.status == 401
    with pytest.raises(WebhookError) as missing:
        parse_notifications(_body({k: v for k, v in good.items() if k != "clientState"}), STATE)
    assert missing.value.status == 401


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"value": 3}',
        b"[1]",
        _body(_entry("api/v2.0/customers(1)")),
        _body(_entry("x", "moved")),
    ],
)
def test_bodies_no_subscription_sends_are_400(body: bytes) -> None:
    with pytest.raises(WebhookError) as refused:
        parse_notifications(body, STATE)
    assert refused.value.status == 400


def test_client_state_is_per_secret_and_company_and_the_token_is_read_from_the_query() -> None:
    assert client_state("secret", COMPANY) != client_state("secret2", COMPANY) != client_state("secret", "x")
    assert "secret" not in client_state("secret", COMPANY)
    assert validation_token({"validationToken": "abc"}) == "abc"
    assert validation_token({"ValidationToken": "abc"}) == "abc"
    assert validation_token({}) is None and validation_token({"validationToken": ""}) is None
