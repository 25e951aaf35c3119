"""Table Storage: a transaction whose answer was lost (the connection dropped after the request
went out; the SDK does not resend a POST) is sent again, and what a resend after a success
answers is what the callers expect: nothing new for merge upserts, 409 for the claims it made."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient

from sync_core.errors import AlreadyExistsError, TransientError
from sync_core.state import azure_common
from sync_core.state.ports import OUTCOMES, JobRun, OutcomeEntry
from sync_core.state.tables import TableCouplingStore
from sync_core.state.tables_log import TableJobLogStore
from tests.contract.coupling_helpers import MAPPING, claims
from tests.contract.test_job_log_store import T0

pytestmark = pytest.mark.azurite


class LosesAnswers(RequestsTransport):
    """Sends every request; the answers of the first ``lose`` transactions never arrive."""

    def __init__(self, lose: int) -> None:
        super().__init__()
        self.lose, self.batches = lose, 0

    def send(self, request: Any, **kwargs: Any) -> Any:
        response = super().send(request, **kwargs)
        if request.method == "POST" and request.url.split("?")[0].endswith("$batch"):
            self.batches += 1
            if self.lose > 0:
                self.lose -= 1
                raise ServiceResponseError("Connection aborted: the answer was lost")
        return response


def client(storage_conn: str, name: str, transport: LosesAnswers) -> TableClient:
    return TableClient.from_connection_string(storage_conn, name, transport=transport)


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(azure_common, "RESEND_PAUSE_S", 0)


def test_outcomes_whose_answer_was_lost_are_recorded_once(storage_conn: str, table_prefix: str) -> None:
    transport = LosesAnswers(lose=2)
    runs, outcomes = (client(storage_conn, f"{table_prefix}{t}", transport) for t in ("runs", "outcomes"))
    log = TableJobLogStore(runs, outcomes)
    log.save_run(JobRun("job", MAPPING, "to-dataverse", T0, T0, read=150, enqueued=150))
    log.record_outcomes("job", [OutcomeEntry(f"r{i}", "inserted") for i in range(150)])
    assert transport.batches == 4  # the first transaction three times, the second once
    summary = log.summary("job")
    assert summary is not None and summary.finished
    assert summary.counts == {**dict.fromkeys(OUTCOMES, 0), "inserted": 150}


def test_claims_whose_answer_was_lost_answer_409_with_the_rows_they_made(
    storage_conn: str, table_prefix: str
) -> None:
    transport = LosesAnswers(lose=1)
    store = TableCouplingStore(client(storage_conn, f"{table_prefix}couplings", transport))
    wanted = claims(3)
    answers = store.claim_many(wanted)
    assert all(isinstance(a, AlreadyExistsError) for a in answers)  # the resend, then one by one
    stored = [store.get_by_bc(MAPPING, c.bc_id) for c in wanted]
    assert [(s.crm_id, s.state) for s in stored if s] == [(c.crm_id, "claimed") for c in wanted]


def test_a_transaction_that_keeps_losing_its_answer_is_a_transient_error(
    storage_conn: str, table_prefix: str
) -> None:
    transport = LosesAnswers(lose=azure_common.TRANSACTION_RESENDS + 1)
    runs, outcomes = (client(storage_conn, f"{table_prefix}{t}", transport) for t in ("runs", "outcomes"))
    log = TableJobLogStore(runs, outcomes)
    with pytest.raises(TransientError, match="storage unreachable"):
        log.record_outcomes("job", [OutcomeEntry("r1", "modified")])
    assert transport.batches == azure_common.TRANSACTION_RESENDS + 1
