"""Dataverse webhook authentication and RemoteExecutionContext parsing."""

import json

import pytest

from sync_core.webhooks.dataverse import MAX_BODY_BYTES, WebhookError, authenticate, parse

ACCOUNT_ID = "8f5a2c2e-1111-4d5e-9a3b-000000000001"


def context(**overrides: object) -> bytes:
    body = {
        "MessageName": "Update",
        "PrimaryEntityName": "account",
        "PrimaryEntityId": ACCOUNT_ID,
        "UserId": "00000000-0000-0000-0000-00000000aaaa",
        "CorrelationId": "2b6a1f0e-2222-4d5e-9a3b-000000000002",
        "Depth": 1,
        "InputParameters": [{"key": "Target", "value": {"LogicalName": "account", "Attributes": []}}],
    }
    body.update(overrides)
    return json.dumps(body).encode()


def test_parse_reads_the_fields_the_sync_needs() -> None:
    event = parse(context(), {"x-ms-dynamics-entity-name": "account"})
    assert (event.message_name, event.entity, event.entity_id) == ("Update", "account", ACCOUNT_ID)
    assert event.user_id.endswith("aaaa") and not event.size_exceeded


def test_size_exceeded_header_is_noticed() -> None:
    assert parse(context(), {"X-MS-Dynamics-Msg-Size-Exceeded": ""}).size_exceeded


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"", 400, "empty body"),
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (context(MessageName=""), 400, "MessageName is required"),
        (context(PrimaryEntityName=5), 400, "PrimaryEntityName is required"),
        (context(PrimaryEntityId="not-a-guid"), 400, "PrimaryEntityId must be a GUID"),
        (context(UserId="nope"), 400, "UserId must be a GUID"),
        (b"{" + b" " * MAX_BODY_BYTES + b"}", 413, "larger than"),
    ],
)
def test_bad_bodies_get_a_4xx_with_a_reason(body: bytes, status: int, reason: str) -> None:
    with pytest.raises(WebhookError) as info:
        parse(body, {})
    assert info.value.status == status and reason in info.value.reason


def test_authenticate_requires_the_exact_secret() -> None:
    authenticate({"X-Webhook-Secret": "s3cret-value"}, "s3cret-value")
    for headers in ({}, {"x-webhook-secret": "wrong"}, {"x-webhook-secret": "s3cret-valu"}):
        with pytest.raises(WebhookError) as info:
            authenticate(headers, "s3cret-value")
        assert info.value.status == 401 and "s3cret" not in info.value.reason
