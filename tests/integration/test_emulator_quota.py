"""The emulators' rate limit in quota units: a ``$batch`` costs the requests inside it."""

from __future__ import annotations

import time

import pytest
import requests

from sandbox.bc_emulator import BcEmulator
from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.odata.protocol import QuotaWindow, Request, make_headers, request_units
from tests.integration.emulator_clients import BcApi, DataverseApi, error, multipart_batch

pytestmark = pytest.mark.usefixtures("fresh_bc", "fresh_dv")

GET_ACCOUNT = "GET accounts?$select=name&$top=1 HTTP/1.1\r\nAccept: application/json\r\n"


def _dv_batch(dv: DataverseEmulator, gets: int, changeset: list[str] | None = None) -> requests.Response:
    content_type, body = multipart_batch([GET_ACCOUNT] * gets, changeset)
    return DataverseApi(dv).post("$batch", data=body, headers={"Content-Type": content_type})


def _bc_batch(bc: BcEmulator, gets: int) -> requests.Response:
    op = {"method": "GET", "url": f"companies({bc.company_id})/currencies?$select=code"}
    ops = [{**op, "id": str(i)} for i in range(gets)]
    return BcApi(bc).session.post(f"{bc.api_url}/$batch", json={"requests": ops})


def _fill_then_throttle(api: DataverseApi | BcApi, path: str, room: int) -> requests.Response:
    """``room`` plain GETs that must pass; returns the answer to the next one."""
    assert [api.get(path).status_code for _ in range(room)] == [200] * room
    return api.get(path)


def test_dataverse_batch_costs_its_parts(dv: DataverseEmulator) -> None:
    dv.set_knobs(rate_limit=(50, 10.0))
    assert _dv_batch(dv, 30).status_code == 200
    throttled = _fill_then_throttle(DataverseApi(dv), "accounts?$top=1", 20)
    assert throttled.status_code == 429 and error(throttled)[1] == "0x80072322"
    assert 9 <= int(throttled.headers["Retry-After"]) <= 10  # until the batch's 30 units leave
    counters = dv.counters()
    assert (counters["operations"], counters["throttled"], counters["total"]) == (50, 1, 22)


def test_bc_json_batch_costs_its_requests(bc: BcEmulator) -> None:
    bc.set_knobs(rate_limit=(50, 10.0))
    assert _bc_batch(bc, 30).status_code == 200
    throttled = _fill_then_throttle(BcApi(bc), "currencies", 20)
    assert error(throttled) == (429, "Application_TooManyRequests")
    assert 9 <= int(throttled.headers["Retry-After"]) <= 10
    assert (bc.counters()["operations"], bc.counters()["throttled"]) == (50, 1)


def test_change_set_parts_count_and_a_batch_waits_for_room(dv: DataverseEmulator) -> None:
    post = 'POST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"name": "Q"}'
    dv.set_knobs(rate_limit=(6, 10.0))
    assert _dv_batch(dv, 2, [post] * 3).status_code == 200  # 2 GETs + 3 parts of a change set
    assert _dv_batch(dv, 2).status_code == 429  # 5 used: no room for 2 more
    assert DataverseApi(dv).get("accounts?$top=1").status_code == 200
    assert dv.counters()["operations"] == 6


def test_a_batch_bigger_than_the_window_passes_on_an_empty_window(
    bc: BcEmulator, dv: DataverseEmulator
) -> None:
    for emulator in (bc, dv):
        emulator.set_knobs(rate_limit=(10, 10.0))
    assert _dv_batch(dv, 30).status_code == 200 and _bc_batch(bc, 30).status_code == 200
    assert _dv_batch(dv, 30).status_code == 429 and _bc_batch(bc, 1).status_code == 429
    assert DataverseApi(dv).get("accounts?$top=1").status_code == 429
    assert (dv.counters()["operations"], dv.counters()["throttled"]) == (30, 2)


def test_plain_requests_as_before_and_rejections_cost_nothing(bc: BcEmulator) -> None:
    api = BcApi(bc)
    bc.set_knobs(rate_limit=(2, 1.0))
    first = _fill_then_throttle(api, "currencies", 2)
    admitted = time.monotonic()  # after both admissions
    assert first.status_code == 429 and first.headers["Retry-After"] == "1"
    time.sleep(0.5)
    assert [api.get("currencies").status_code for _ in range(5)] == [429] * 5
    assert BcApi(bc, "other").get("currencies").status_code == 200  # per user
    time.sleep(max(0.0, admitted + 1.05 - time.monotonic()))
    assert api.get("currencies").status_code == 200  # the 429s half a second later took no room
    bc.set_knobs(rate_limit=(1, 60.0), retry_after=7)
    assert _fill_then_throttle(api, "currencies", 1).headers["Retry-After"] == "7"
    bc.clear_knobs()
    assert api.get("currencies").status_code == 200


def test_unauthenticated_requests_are_not_charged(bc: BcEmulator) -> None:
    bc.set_knobs(rate_limit=(1, 60.0))
    assert BcApi(bc, "nobody").get("currencies").status_code == 401
    assert BcApi(bc).get("currencies").status_code == 200
    assert bc.counters()["operations"] == 1 and bc.counters()["throttled"] == 0


def test_quota_window_retry_after_is_when_enough_units_leave() -> None:
    window = QuotaWindow(10, 10.0)
    assert window.admit(4, 0.0) is None and window.admit(4, 1.0) is None
    assert window.admit(4, 2.0) == 8.0  # the 4 units of t=0 leave at t=10
    assert window.admit(3, 2.0) == 8.0 and window.admit(2, 2.0) is None
    assert window.admit(4, 10.0) is None and window.used == 10  # 6 of t=1 and t=2, 4 of t=10
    assert window.admit(25, 11.0) == 9.0  # bigger than the window: waits until it is empty
    assert window.admit(25, 20.0) is None and window.used == 25


def test_request_units_of_each_batch_format() -> None:
    content_type, body = multipart_batch([GET_ACCOUNT] * 2, ["PATCH x HTTP/1.1\r\n\r\n{}"] * 3)
    multipart = Request("POST", "/$batch", {}, make_headers({"Content-Type": content_type}), body)
    assert request_units(multipart, True) == 5 and request_units(multipart, False) == 1
    json_batch = Request("POST", "/$batch", {}, make_headers({}), b'{"requests": [{}, {}, {}]}')
    assert request_units(json_batch, True) == 3
    for junk in (b"", b"[]", b'{"requests": 7}', b"not json"):
        assert request_units(Request("POST", "/$batch", {}, make_headers({}), junk), True) == 1


def test_a_full_start_window_opens_at_the_quota_rate(bc: BcEmulator) -> None:
    window = QuotaWindow(10, 10.0, full_at=0.0)  # 10 units spread over (-10, 0]: one leaves per second
    assert window.used == 10 and window.admit(1, 0.5) == 0.5
    assert window.admit(1, 1.0) is None and window.admit(1, 1.5) == 0.5
    assert window.admit(3, 3.0) == 1.0  # 8 units used at t=3: one more must leave (at t=4)
    api = BcApi(bc)
    bc.set_knobs(rate_limit=(2, 1.0), full_start=True)
    throttled = api.post("customers", json={"displayName": "Throttled"})
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    time.sleep(0.55)  # one of the two units has left
    assert api.get("currencies").status_code == 200
    assert bc.counters()["writes"] == 0 and bc.counters()["operations"] == 1
