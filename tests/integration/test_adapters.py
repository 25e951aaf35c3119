"""BcAdapter and DataverseAdapter over real HTTP against the emulators (signed in through the
local authority, so the whole transport path — msal, bearer tokens, retries — is exercised)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import requests

from sandbox.authority import Authority
from sandbox.bc_emulator import BcEmulator
from sandbox.dataverse_emulator import DataverseEmulator
from sync_core.errors import AlreadyExistsError, ConflictError, TransientError
from sync_core.odata.auth import BearerAuth, LazyConfidentialApp, MsalTokenProvider
from sync_core.odata.batch import BatchRequest, bc_batch, dataverse_batch, first_error
from sync_core.odata.client import ODataClient
from sync_core.odata.retry import RetryPolicy
from sync_core.systems.bc import BcAdapter
from sync_core.systems.dataverse import DataverseAdapter
from sync_core.systems.ports import ModifiedQuery

TENANT = "7e1a2b3c-0000-4000-8000-00000000a001"
CLIENT = "00000000-0000-0000-0000-0000000000c1"  # the Dataverse emulator's seeded application user
SECRET = "adapter-test-secret"
BC_AUDIENCE = "https://api.businesscentral.dynamics.com"


@dataclass
class Sleeps:
    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@dataclass
class Stack:
    authority: Authority
    bc: BcEmulator
    dv: DataverseEmulator
    sleeps: Sleeps
    bc_adapter: BcAdapter
    dv_adapter: DataverseAdapter
    dv_client: ODataClient
    bc_client: ODataClient


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    authority = Authority().start()
    authority.register_client(TENANT, CLIENT, SECRET)
    bc, dv = BcEmulator(token_verifier=authority.verify), DataverseEmulator(token_verifier=authority.verify)
    bc.start()
    dv.start()
    session = requests.Session()
    session.trust_env = False
    session.verify = str(authority.ca_bundle)
    app = LazyConfidentialApp(
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret=SECRET,
        authority_host=authority.url,
        http_client=session,
    )
    bc_auth = BearerAuth(MsalTokenProvider(app, f"{BC_AUDIENCE}/.default"))
    dv_auth = BearerAuth(MsalTokenProvider(app, f"{dv.url}/.default"))
    sleeps = Sleeps()
    common = {"retry": RetryPolicy(max_total_seconds=30), "sleep": sleeps}
    companion_root = bc.api_url.rstrip("/").rsplit("/", 1)[0] + "/bcsync/integration/v1.0"
    v2 = ODataClient(session, bc.api_url, system="bc", auth=bc_auth, **common)
    companion = ODataClient(session, companion_root, system="bc", auth=bc_auth, **common)
    dv_client = ODataClient(session, f"{dv.url}/api/data/v9.2/", system="dataverse", auth=dv_auth, **common)
    try:
        yield Stack(
            authority,
            bc,
            dv,
            sleeps,
            BcAdapter(v2, companion, bc.company_id),
            DataverseAdapter(dv_client),
            dv_client,
            v2,
        )
    finally:
        bc.stop()
        dv.stop()
        authority.stop()


@pytest.fixture(autouse=True)
def _clean(stack: Stack) -> Iterator[None]:
    stack.sleeps.calls.clear()
    yield
    stack.bc.clear_knobs()
    stack.dv.clear_knobs()


# -- Dataverse -------------------------------------------------------------------------------------


def test_dataverse_create_get_update_conflict(stack: Stack) -> None:
    adapter = stack.dv_adapter
    account_id = str(uuid.uuid4())
    created = adapter.create("accounts", {"name": "Adapter Test"}, record_id=account_id)
    assert created.id == account_id and created.etag
    assert created.modified_by == adapter.whoami()
    assert created.fields["name"] == "Adapter Test"
    with pytest.raises(AlreadyExistsError):
        adapter.create("accounts", {"name": "Again"}, record_id=account_id)
    fetched = adapter.get("accounts", account_id, select=["name"])
    assert fetched is not None and fetched.etag == created.etag
    assert set(fetched.fields) >= {"accountid", "modifiedon", "_modifiedby_value", "name"}
    updated = adapter.update("accounts", account_id, {"name": "Renamed"}, etag=created.etag or "*")
    assert updated.fields["name"] == "Renamed" and updated.etag != created.etag
    with pytest.raises(ConflictError):
        adapter.update("accounts", account_id, {"name": "Stale"}, etag=created.etag or "")
    assert adapter.get("accounts", str(uuid.uuid4())) is None
    adapter.delete("accounts", account_id)
    assert adapter.get("accounts", account_id) is None


def test_dataverse_whoami_is_asked_once(stack: Stack) -> None:
    adapter = DataverseAdapter(stack.dv_client)
    stack.dv.reset_counters()
    assert uuid.UUID(adapter.whoami()) and adapter.whoami() == adapter.whoami()
    assert stack.dv.counters()["total"] == 1


def test_dataverse_iter_modified_pages_overlaps_and_skips_own_changes(stack: Stack) -> None:
    adapter = stack.dv_adapter
    first = adapter.create("accounts", {"name": "Paged 0"})
    for i in range(1, 5):
        adapter.create("accounts", {"name": f"Paged {i}"})
    names = {f"Paged {i}" for i in range(5)}
    query = ModifiedQuery("accounts", since=first.modified_on, select=["name"], page_size=2)
    stack.dv.reset_counters()
    found = {r.fields["name"] for r in adapter.iter_modified(query)}
    assert names <= found  # ge (since - 999 ms): the row at the watermark itself is included
    assert stack.dv.counters()["total"] >= 3  # at least 3 pages of 2
    mine = ModifiedQuery(
        "accounts", since=first.modified_on, select=["name"], exclude_modified_by=adapter.whoami()
    )
    assert not names & {r.fields["name"] for r in adapter.iter_modified(mine)}
    later = ModifiedQuery("accounts", since=first.modified_on + timedelta(hours=1), select=["name"])
    assert list(adapter.iter_modified(later)) == []


def test_dataverse_throttling_is_waited_out(stack: Stack) -> None:
    stack.dv.set_knobs(faults=[{"status": 429, "count": 1, "retry_after": 2}, {"status": 503, "count": 1}])
    assert stack.dv_adapter.get("accounts", str(uuid.uuid4())) is None
    assert stack.sleeps.calls[0] == 2.0 and len(stack.sleeps.calls) == 2


def test_dataverse_batch_changeset(stack: Stack) -> None:
    ids = [str(uuid.uuid4()) for _ in range(2)]
    requests_ = [
        BatchRequest("POST", "accounts", {"accountid": ids[0], "name": "Batch A"}, content_id="1"),
        BatchRequest("POST", "accounts", {"accountid": ids[1], "name": "Batch B"}, content_id="2"),
    ]
    responses = dataverse_batch(stack.dv_client, requests_)
    assert [r.status for r in responses] == [204, 204]
    assert first_error("dataverse", responses) is None
    assert ids[0] in responses[0].headers["OData-EntityId"]
    again = dataverse_batch(stack.dv_client, requests_)  # duplicates: the change set rolls back
    error = first_error("dataverse", again)
    assert isinstance(error, AlreadyExistsError)


def test_dataverse_budget_exhaustion(stack: Stack) -> None:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(stack.authority.ca_bundle)
    stack.dv.set_knobs(faults=[{"status": 503, "count": 50}])
    client = ODataClient(
        session,
        f"{stack.dv.url}/api/data/v9.2/",
        system="dataverse",
        auth=stack.dv_client._auth,
        retry=RetryPolicy(max_attempts=3),
        sleep=stack.sleeps,
    )
    with pytest.raises(TransientError):
        DataverseAdapter(client).get("accounts", str(uuid.uuid4()))
    assert len(stack.sleeps.calls) == 2


# -- Business Central ------------------------------------------------------------------------------


def test_bc_create_get_update_conflict_across_v2_and_companion(stack: Stack) -> None:
    adapter = stack.bc_adapter
    created = adapter.create("customers", {"displayName": "Adapter Customer"}, record_id="ignored")
    assert created.id != "ignored" and uuid.UUID(created.id) and created.etag
    assert created.fields["displayName"] == "Adapter Customer"
    same = adapter.get("integrationCustomers", created.id, select=["name", "faxNo"])
    assert same is not None and same.fields["name"] == "Adapter Customer"
    assert set(same.fields) == {"id", "lastModifiedDateTime", "name", "faxNo"}
    updated = adapter.update("integrationCustomers", created.id, {"faxNo": "555-0100"}, same.etag or "")
    assert updated.fields["faxNo"] == "555-0100" and updated.etag != same.etag
    with pytest.raises(ConflictError) as caught:
        adapter.update("customers", created.id, {"displayName": "Stale"}, etag=created.etag or "")
    assert caught.value.code == "Request_EntityChanged"
    assert adapter.get("customers", str(uuid.uuid4())) is None
    adapter.delete("customers", created.id)
    assert adapter.get("customers", created.id) is None


def test_bc_iter_modified_is_strictly_after_and_pages(stack: Stack) -> None:
    adapter = stack.bc_adapter
    rows = [adapter.create("customers", {"displayName": f"BC Paged {i}"}) for i in range(5)]
    names = {r.fields["displayName"] for r in rows}
    since = min(r.modified_on for r in rows)
    query = ModifiedQuery(
        "customers", since=since - timedelta(milliseconds=1), select=["displayName"], page_size=2
    )
    stack.bc.reset_counters()
    found = {r.fields["displayName"]: r for r in adapter.iter_modified(query)}
    assert names <= set(found)
    assert stack.bc.counters()["total"] >= 3
    assert all(r.modified_on > since - timedelta(milliseconds=1) for r in found.values())
    last = max(r.modified_on for r in rows)
    strictly = ModifiedQuery("customers", since=last, select=["displayName"])
    assert all(r.modified_on > last for r in adapter.iter_modified(strictly))
    filtered = ModifiedQuery(
        "customers", since=since - timedelta(milliseconds=1), filter="displayName eq 'BC Paged 3'"
    )
    assert [r.fields["displayName"] for r in adapter.iter_modified(filtered)] == ["BC Paged 3"]


def test_bc_list_rows_reference_data(stack: Stack) -> None:
    setup = list(stack.bc_adapter.list_rows("integrationSetup"))
    assert len(setup) == 1 and "lcyCode" in setup[0]
    rates = list(stack.bc_adapter.list_rows("currencyExchangeRates", select=["currencyCode"]))
    assert all(set(r) >= {"currencyCode"} for r in rates)


def test_bc_throttling_is_waited_out(stack: Stack) -> None:
    stack.bc.set_knobs(faults=[{"status": 503, "count": 1, "retry_after": 3}])
    assert stack.bc_adapter.get("customers", str(uuid.uuid4())) is None
    assert stack.sleeps.calls == [3.0]


def test_bc_batch_atomic_rolls_back_and_large_lists_are_split(stack: Stack) -> None:
    company = f"companies({stack.bc.company_id})"
    good = BatchRequest("POST", f"{company}/customers", {"displayName": "Batch OK"})
    bad = BatchRequest("POST", f"{company}/customers", {"displayName": "x" * 500})
    before = len(stack.bc.rows("customers"))
    responses = bc_batch(stack.bc_client, [good, bad], atomic=True)
    assert first_error("bc", responses) is not None
    assert len(stack.bc.rows("customers")) == before
    with pytest.raises(ValueError):
        bc_batch(stack.bc_client, [good] * 101, atomic=True)
    stack.bc.reset_counters()
    reads = [BatchRequest("GET", f"{company}/customers?$top=1") for _ in range(150)]
    responses = bc_batch(stack.bc_client, reads)
    assert len(responses) == 150 and all(r.status == 200 for r in responses)
    assert stack.bc.counters()["by_method"]["BATCH"] == 2
