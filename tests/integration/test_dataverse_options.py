"""Option-set metadata and actions of the Dataverse emulator, over HTTP through DataverseAdapter.

RetrieveAttribute (PicklistAttributeMetadata with its OptionSet), InsertOptionValue and
UpdateOptionValue, and the 400 for an option field written with a value outside its option set.
"""

from __future__ import annotations

import pytest
import requests

from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.dataverse_options import DEFAULT_OPTIONS
from sync_core.errors import DataError, NotFoundError
from sync_core.odata.client import ODataClient
from sync_core.odata.retry import RetryPolicy
from sync_core.systems.dataverse import DataverseAdapter
from tests.integration.emulator_clients import DataverseApi

PAYMENT = ("account", "paymenttermscode")
PICKLIST = (
    "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='paymenttermscode')"
    "/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
)

pytestmark = pytest.mark.usefixtures("fresh_dv")


class _Bearer(requests.auth.AuthBase):
    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = "Bearer good"
        return r


@pytest.fixture
def adapter(dv: DataverseEmulator) -> DataverseAdapter:
    session = requests.Session()
    session.trust_env = False
    client = ODataClient(
        session, dv.api_url, system="dataverse", auth=_Bearer(), retry=RetryPolicy(max_attempts=1)
    )
    return DataverseAdapter(client)


def test_out_of_box_options_of_the_three_account_attributes(adapter: DataverseAdapter) -> None:
    assert adapter.option_values(*PAYMENT) == {1: "Net 30", 2: "2% 10, Net 30", 3: "Net 45", 4: "Net 60"}
    assert adapter.option_values("account", "address1_freighttermscode") == {1: "FOB", 2: "No Charge"}
    shipping = adapter.option_values("account", "address1_shippingmethodcode")
    assert shipping == DEFAULT_OPTIONS[("account", "address1_shippingmethodcode")] and shipping[3] == "FedEx"


def test_the_metadata_has_the_web_api_shape_and_is_counted(dv: DataverseEmulator) -> None:
    api = DataverseApi(dv)
    response = api.get(PICKLIST, params={"$select": "LogicalName", "$expand": "OptionSet($select=Options)"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["LogicalName"] == "paymenttermscode" and "AttributeType" not in body
    first = body["OptionSet"]["Options"][0]
    assert first["Value"] == 1
    assert first["Label"]["LocalizedLabels"] == [{"Label": "Net 30", "LanguageCode": 1033}]
    assert first["Label"]["UserLocalizedLabel"] == {"Label": "Net 30", "LanguageCode": 1033}
    assert dv.counters()["by_entity"]["EntityDefinitions"] == {"GET": 1}


def test_unknown_attribute_and_wrong_cast(dv: DataverseEmulator, adapter: DataverseAdapter) -> None:
    with pytest.raises(NotFoundError):
        adapter.option_values("account", "nosuchcode")
    api = DataverseApi(dv)
    cast = PICKLIST.replace("PicklistAttributeMetadata", "StringAttributeMetadata")
    assert api.get(cast).status_code == 400
    assert api.post(PICKLIST, json={}).status_code == 405


def test_insert_option_value_takes_the_next_publisher_value(
    dv: DataverseEmulator, adapter: DataverseAdapter
) -> None:
    first = adapter.insert_option_value(*PAYMENT, "14 DAYS")
    second = adapter.insert_option_value(*PAYMENT, "30 DAYS")
    assert (first, second) == (100000000, 100000001)
    assert adapter.option_values(*PAYMENT)[first] == "14 DAYS"
    counts = dv.counters()["by_entity"]
    assert counts["InsertOptionValue"] == {"POST": 2} and dv.counters()["writes"] == 2
    raw = DataverseApi(dv).post(
        "InsertOptionValue",
        json={"EntityLogicalName": "account", "AttributeLogicalName": "paymenttermscode",
              "Label": {"LocalizedLabels": [{"Label": "COD", "LanguageCode": 1033}]}},
    )  # fmt: skip
    assert raw.status_code == 200 and raw.json()["NewOptionValue"] == 100000002


def test_a_duplicate_label_is_refused(adapter: DataverseAdapter) -> None:
    with pytest.raises(DataError) as caught:
        adapter.insert_option_value(*PAYMENT, "net 30")
    assert caught.value.status == 400 and "already exists" in caught.value.message
    assert len(adapter.option_values(*PAYMENT)) == 4


def test_update_option_value_relabels_one_option(adapter: DataverseAdapter) -> None:
    adapter.update_option_value("account", "address1_shippingmethodcode", 3, "FEDEX")
    options = adapter.option_values("account", "address1_shippingmethodcode")
    assert options[3] == "FEDEX" and options[2] == "DHL"
    with pytest.raises(DataError):
        adapter.update_option_value("account", "address1_shippingmethodcode", 99, "Nope")
    with pytest.raises(DataError):  # the label of another option
        adapter.update_option_value("account", "address1_shippingmethodcode", 3, "UPS")


def test_option_fields_must_hold_a_value_of_their_option_set(
    dv: DataverseEmulator, adapter: DataverseAdapter
) -> None:
    account = adapter.create("accounts", {"name": "Options Ltd.", "paymenttermscode": 2})
    assert account.fields["paymenttermscode"] == 2
    with pytest.raises(DataError) as caught:
        adapter.update("accounts", account.id, {"address1_shippingmethodcode": 42}, etag="*")
    assert "outside the valid range" in caught.value.message and "1,2,3,4,5,6,7" in caught.value.message
    with pytest.raises(DataError):
        adapter.create("salesorders", {"name": "SO", "paymenttermscode": 100000000})
    value = adapter.insert_option_value(*PAYMENT, "COD")  # the documents share the account's set
    order = adapter.create("salesorders", {"name": "SO", "paymenttermscode": value})
    assert order.fields["paymenttermscode"] == value
    cleared = adapter.update("accounts", account.id, {"paymenttermscode": None}, etag="*")
    assert cleared.fields["paymenttermscode"] is None


def test_options_are_metadata_a_reseed_restores_the_out_of_box_set(
    dv: DataverseEmulator, adapter: DataverseAdapter
) -> None:
    adapter.insert_option_value(*PAYMENT, "CM")
    dv.seed_demo()
    assert adapter.option_values(*PAYMENT) == DEFAULT_OPTIONS[PAYMENT]


def test_delete_option_value_removes_one_option(dv: DataverseEmulator, adapter: DataverseAdapter) -> None:
    api = DataverseApi(dv)
    target = {"EntityLogicalName": "account", "AttributeLogicalName": "address1_freighttermscode"}
    assert api.post("DeleteOptionValue", json={**target, "Value": 2}).status_code == 204
    assert adapter.option_values("account", "address1_freighttermscode") == {1: "FOB"}
    assert api.post("DeleteOptionValue", json={**target, "Value": 2}).status_code == 400
    assert api.post("UpdateOptionValue", json={**target, "Value": 1}).status_code == 400  # no Label
