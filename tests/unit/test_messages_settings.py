"""Queue messages round-trip and refuse garbage; settings validate without echoing values."""

import pytest

from sync_core.errors import ConfigError, DataError
from sync_core.settings import schedule_setting_name, settings_from
from sync_core.sync.messages import RecordMessage

GOOD_ENV = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "SYNC_TENANT_ID": "tenant",
    "SYNC_CLIENT_ID": "client",
    "SYNC_CLIENT_SECRET": "very-secret-value",
    "BC_API_URL": "https://api.businesscentral.dynamics.com/v2.0/t/production/api/v2.0/",
    "BC_COMPANY_ID": "5D115C9C-44E3-EA11-BB43-000D3A2FEDEB",
    "DATAVERSE_URL": "https://contoso.crm.dynamics.com/",
    "WEBHOOK_SECRET": "hook-secret-value",
}


def test_record_message_round_trip() -> None:
    msg = RecordMessage("CURRENCY", "to-dataverse", "id-1", "job-1", "retry")
    assert RecordMessage.from_json(msg.to_json()) == msg
    assert RecordMessage.from_json(msg.to_json().encode()) == msg


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("nope", "not JSON"),
        ("[]", "JSON object"),
        ('{"mapping": "CURRENCY", "direction": "to-dataverse"}', "lacks source_id"),
        ('{"mapping": "X", "direction": "sideways", "source_id": "1"}', "unknown direction"),
    ],
)
def test_record_message_refuses_garbage(text: str, reason: str) -> None:
    with pytest.raises(DataError, match=reason):
        RecordMessage.from_json(text)


def test_settings_defaults_and_derived_urls() -> None:
    s = settings_from(GOOD_ENV)
    assert s.authority_host == "https://login.microsoftonline.com"
    assert s.bc_scope == "https://api.businesscentral.dynamics.com/.default"
    assert s.bc_company_id == "5d115c9c-44e3-ea11-bb43-000d3a2fedeb"
    assert s.dataverse_api_root == "https://contoso.crm.dynamics.com/api/data/v9.2/"
    assert s.dataverse_scope == "https://contoso.crm.dynamics.com/.default"
    assert s.bc_companion_root.endswith("/api/bcsync/integration/v1.0")
    assert "very-secret-value" not in repr(s) and "hook-secret-value" not in repr(s)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"SYNC_CLIENT_SECRET": ""}, "missing settings: SYNC_CLIENT_SECRET"),
        ({"BC_COMPANY_ID": "cronus"}, "BC_COMPANY_ID must be a GUID"),
        ({"DATAVERSE_URL": "http://contoso.crm.dynamics.com"}, "DATAVERSE_URL must use https"),
        ({"SYNC_AUTHORITY_HOST": "http://127.0.0.1:5000"}, "SYNC_AUTHORITY_HOST must be an https URL"),
    ],
)
def test_bad_settings_name_the_setting_not_the_value(change: dict, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as info:
        settings_from({**GOOD_ENV, **change})
    assert "very-secret-value" not in str(info.value)


def test_local_http_is_allowed_for_emulators() -> None:
    s = settings_from({**GOOD_ENV, "DATAVERSE_URL": "http://127.0.0.1:8080"})
    assert s.dataverse_url == "http://127.0.0.1:8080"
    assert schedule_setting_name("sync_currency") == "SYNC_CURRENCY_SCHEDULE"
