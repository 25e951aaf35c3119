"""The status page, ``GET /api/status``, through the local runner (function key) and in headless
Chromium (Debian's, installed by scripts/setup.sh) driven by Playwright: a failed record shown
with its remedy, Retry making it succeed, the review updating while a full synchronization runs;
and over plain HTTP: paging, filters, coupling search, bad parameters, escaping."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, sync_playwright

import function_app
from sandbox.runner import LocalRunner
from sandbox.seed_bc import START
from sandbox.stack import SandboxStack
from sync_core.app import wiring
from sync_core.state.ports import SyncErrorEntry
from tests.e2e.operator_support import bc_currency

ROOT = Path(__file__).resolve().parent.parent.parent
KEY = "status-page-test-key"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def keyed_runner(stack: SandboxStack) -> Iterator[LocalRunner]:
    host = json.loads((ROOT / "host.json").read_text())
    local = LocalRunner(function_app.app, host_json=host, function_key=KEY)
    local.start(http=True, timers=False, queues=True)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian chromium is missing: scripts/setup.sh installs it"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _wait(condition: Callable[[], object], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _post(runner: LocalRunner, route: str, body: dict) -> dict:
    answer = requests.post(
        f"{runner.http_url}/api/{route}", json=body, headers={"x-functions-key": KEY}, timeout=30
    )
    assert answer.status_code in (200, 202), answer.text
    return answer.json()


def _get(runner: LocalRunner, **params: str) -> requests.Response:
    return requests.get(f"{runner.http_url}/api/status", params={"code": KEY, **params}, timeout=30)


def _jpy_failed(stack: SandboxStack) -> bool:
    errors = wiring.services().stores.sync_errors.list("CURRENCY")
    return any(e.source_id == bc_currency(stack, "JPY") for e in errors)


def test_a_failed_record_retried_from_the_page_and_a_full_sync_seen_live(
    stack: SandboxStack,
    keyed_runner: LocalRunner,
    browser: Browser,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    _post(keyed_runner, "manage/mappings/CURRENCY/run", {})
    _wait(lambda: _jpy_failed(stack), "the JPY currency to fail")
    jpy = bc_currency(stack, "JPY")
    page: Page = browser.new_page()
    request.addfinalizer(page.close)  # its script polls the page: stop it with the test
    page.goto(f"{keyed_runner.http_url}/api/status?code={KEY}")
    row = page.locator(f'#error-table tr[data-source="{jpy}"]')
    assert row.get_attribute("data-state") == "Not coupled"
    assert "there is no exchange rate defined for it" in row.inner_text()
    assert "Add an exchange rate for JPY" in row.locator(".remedy").inner_text()
    assert "failed 1" in page.locator('#mapping-table tr[data-mapping="CURRENCY"]').inner_text()
    page.wait_for_selector("#queue-table")  # the health section loads after the page
    page.screenshot(path=str(tmp_path / "status-failed.png"), full_page=True)

    stack.bc.insert(
        "currencyExchangeRates",
        {
            "currencyCode": "JPY",
            "startingDate": START,
            "exchangeRateAmount": 100,
            "relationalExchangeRateAmount": 0.67,
        },
    )
    row.locator("button[data-action=retry]").click()
    page.wait_for_selector(f'#error-table tr[data-source="{jpy}"][data-state="Success"]', timeout=60_000)
    coupling = wiring.services().stores.couplings.get_by_bc("CURRENCY", jpy)
    assert coupling is not None and coupling.to_dataverse.result == "success"

    page.evaluate("window.__notReloaded = true")
    assert "No full synchronization has been started" in page.locator("#review").inner_text()
    for emulator in (stack.bc, stack.dataverse):
        emulator.set_knobs(latency_ms=150)  # a run of several seconds: the page polls every 2 s
    _post(keyed_runner, "manage/full-sync/start", {"mappings": ["UNIT OF MEASURE", "CURRENCY"]})
    page.wait_for_selector('#review-state[data-state="In Process"]', timeout=30_000)
    page.wait_for_selector('#review-state[data-state="Finished"]', timeout=120_000)
    assert page.evaluate("window.__notReloaded") is True  # updated in place, not reloaded
    lines = page.locator("#review-lines tbody tr")
    assert sorted(lines.evaluate_all("rows => rows.map(r => r.dataset.status)")) == ["Finished", "Finished"]
    page.screenshot(path=str(tmp_path / "status-review.png"), full_page=True)
    currency = page.locator('#mapping-table tr[data-mapping="CURRENCY"]')
    currency.locator("button[data-action=run]").click()
    page.wait_for_function(
        "() => /1 job\\(s\\) started/.test(document.querySelector("
        "'#mapping-table tr[data-mapping=\"CURRENCY\"] .result').textContent)"
    )


def _add_errors(count: int, mapping: str = "CUSTOMER") -> list[str]:
    store, t0 = wiring.services().stores.sync_errors, datetime(2026, 1, 1, tzinfo=UTC)
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(count)]
    for i, source in enumerate(ids):
        store.add(
            SyncErrorEntry(
                mapping,
                "to-dataverse",
                source,
                f"error {i} <script>alert({i})</script>",
                t0 + timedelta(seconds=i),
            )
        )
    return ids


def test_errors_are_paged_filtered_and_escaped(stack: SandboxStack, keyed_runner: LocalRunner) -> None:
    ids = _add_errors(120)
    _add_errors(3, mapping="ITEM-PRODUCT")
    first = _get(keyed_runner, mapping="CUSTOMER")
    assert first.status_code == 200 and first.headers["Content-Type"].startswith("text/html")
    assert "script-src 'nonce-" in first.headers["Content-Security-Policy"]
    assert "<script>alert(" not in first.text and "&lt;script&gt;alert(119)" in first.text
    assert first.text.count('data-source="') == 50 and f'data-source="{ids[119]}"' in first.text
    cursor = first.text.split("cursor=", 1)[1].split("&", 1)[0].split('"', 1)[0].split("#", 1)[0]
    second = _get(keyed_runner, mapping="CUSTOMER", cursor=cursor)
    assert f'data-source="{ids[69]}"' in second.text and f'data-source="{ids[70]}"' not in second.text
    one = _get(keyed_runner, mapping="CUSTOMER", record=ids[7], part="errors")
    assert one.text.count('data-source="') == 1 and "error 7 " in one.text
    everything = _get(keyed_runner, part="errors")
    assert everything.text.count('data-source="') == 50 and "ITEM-PRODUCT" in everything.text


def test_coupling_search_by_either_id_and_bad_parameters(
    stack: SandboxStack, keyed_runner: LocalRunner
) -> None:
    _post(keyed_runner, "manage/mappings/CURRENCY/run", {})
    eur = bc_currency(stack, "EUR")
    _wait(lambda: wiring.services().stores.couplings.get_by_bc("CURRENCY", eur), "EUR to be coupled")
    coupling = wiring.services().stores.couplings.get_by_bc("CURRENCY", eur)
    assert coupling is not None
    for record_id in (eur, coupling.crm_id):
        found = _get(keyed_runner, q=record_id, part="couplings")
        assert found.status_code == 200 and coupling.crm_id in found.text and eur in found.text
    assert "No coupling has the id" in _get(keyed_runner, q="00000000-0000-0000-0000-000000000001").text
    assert "a GUID" in _get(keyed_runner, q="not-an-id").text
    unknown = _get(keyed_runner, mapping="NOPE")
    assert unknown.status_code == 400 and "unknown mapping &#39;NOPE&#39;" in unknown.text
    assert _get(keyed_runner, cursor="' or true").status_code == 400
    assert _get(keyed_runner, part="bogus").status_code == 400
    assert requests.get(f"{keyed_runner.http_url}/api/status", timeout=30).status_code == 401
