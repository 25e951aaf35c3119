"""BC's "CRM Statistics Job" and "Update Account Statistics" (bc-integration §6.2, §6.3).

Timer ``customer_statistics`` (every 30 minutes) and command ``statistics [--customer-no NO]``:
1. invoice payment states (``payment_status``);
2. account statistics: the ``nav_accountstatistics`` row of each coupled, non-skipped customer is
   created or updated from the companion ``customerStatistics`` row, and linked from the account:
   - initial upload: customers whose statistics were never uploaded (for the account they are
     coupled to now);
   - refresh: customers with ``lastActivityDateTime`` after the last run's start (BC's CRM Synch
     Status "Cust. Statistics Synch. Time"), which then moves to this run's start; only on the
     all-customers run and only when no unexpected error occurred;
   - the per-customer form always refreshes that customer and moves nothing.
   A customer or account that no longer exists: "... was not found.", the coupling Failure +
   Skipped. Linking the account is not a Dataverse change of the account: the coupling's
   Dataverse timestamp follows when the account was in sync before (BC's test
   AccountStatisticsCreationDoesNotChangeCRMAccountSynchStatus).
BC creates a statistics row with every money field 1 and then writes the values (its proxy
record would leave zeros unset); here the create sends every value, zeros included: the same row,
one request. Rows get ids derived from the customer and the account, so a retry after a crash
finds its row instead of making a second. Job log: CUSTOMER, kind ``statistics``: Insert /
Modify / Unchanged / Failed per customer.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sync_core.errors import (
    AlreadyExistsError,
    ConflictError,
    DataError,
    MappingError,
    NotFoundError,
    SyncError,
)
from sync_core.sales.payment_status import (
    INVOICE_MAPPING,
    STATUS_KEY,
    PaymentStatusReport,
    PaymentStatusUpdate,
)
from sync_core.state.ports import Coupling, DirectionStatus, JobRun, RecordOutcome, SyncErrorEntry
from sync_core.sync.commands.support import finish_run, start_run
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.lookups import LookupResolver
from sync_core.sync.engine.outcome import SAME_TIMESTAMP
from sync_core.sync.jobs.run_lines import log_run
from sync_core.telemetry import RecordRef, correlated, log_record_failed
from sync_core.vocabulary import Record, eq, odata_literal

log = logging.getLogger(__name__)

CUSTOMER_MAPPING = "CUSTOMER"
STATISTICS, ROWS = "customerStatistics", "nav_accountstatisticses"
LINK = "nav_accountstatisticsid"
TIME_STEP = "cust-statistics-synch-time"
UPLOADED_KEY = "customerstatistics:uploaded"  # RowKey = customer id, value = "<account>/<row>"
ROW_IDS = uuid.UUID("0b7f6c1e-5a0d-4c3e-9a8b-7d2e5f3c9a41")
ID_CHUNK = 15  # ids per `id eq .. or id eq ..` read of customers to upload
# companion customerStatistics field -> nav_accountstatistics column (§6.2)
FIELDS = {
    "name": "nav_name",
    "customerNo": "nav_customerno",
    "balanceLcy": "nav_balancelcy",
    "outstandingOrdersLcy": "nav_outstandingorderslcy",
    "shippedNotInvoicedLcy": "nav_shippednotinvoicedlcy",
    "outstandingInvoicesLcy": "nav_outstandinginvoiceslcy",
    "totalLcy": "nav_totallcy",
    "creditLimitLcy": "nav_creditlimitlcy",
    "overdueAmountsLcy": "nav_overdueamountslcy",
    "overdueAmountsAsOf": "nav_overdueamountsasof",
    "totalSalesLcy": "nav_totalsaleslcy",
    "invoicedPrepaymentAmountLcy": "nav_invoicedprepaymentamountlcy",
}
TEXTS = frozenset({"name", "customerNo", "overdueAmountsAsOf"})
CURRENCY = "_transactioncurrencyid_value"


class NotFound(MappingError):
    """BC's "X was not found.": the coupling is marked Failure + Skipped."""


@dataclass
class StatisticsReport:
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("inserted", "modified", "unchanged", "failed"), 0)
    )
    unexpected: int = 0
    time_from: str = ""
    time_to: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**self.counts, "statistics synch time": f"{self.time_from or '-'} -> {self.time_to or '-'}"}


def statistics_values(row: Mapping[str, Any], lcy_currency: str | None) -> dict[str, Any]:
    """The ``nav_accountstatistics`` values of a companion ``customerStatistics`` row (pure)."""
    values: dict[str, Any] = {}
    for name, column in FIELDS.items():
        raw = row.get(name)
        values[column] = (str(raw or "") or None) if name in TEXTS else round(float(raw or 0), 2)
    if lcy_currency:
        values[CURRENCY] = lcy_currency
    return values


def changed(desired: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in desired.items():
        now = current.get(name)
        same = round(float(now or 0), 2) == value if isinstance(value, float) else (now or None) == value
        if not same:
            out[name] = value
    return out


def write_body(values: Mapping[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in values.items() if k != CURRENCY}
    if CURRENCY in values:
        body["transactioncurrencyid@odata.bind"] = f"/transactioncurrencies({values[CURRENCY]})"
    return body


class AccountStatistics:
    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self.steps = ctx.stores.document_steps
        self._lcy: str | None = None
        self._uploaded: dict[str, str] | None = None  # customer id -> "<account>/<row>", read once

    def run(self, customer_no: str | None = None) -> dict[str, Any]:
        started = self.ctx.clock()
        form = f"customer {customer_no}" if customer_no else "all customers"
        one = self._one_customer(customer_no) if customer_no else None  # refused before any job run
        invoice_run = start_run(
            self.ctx, INVOICE_MAPPING, "to-dataverse", f"Payment status, {form}", "statistics"
        )
        with correlated(invoice_run.job_id, received_at=started, keep_current=True):
            payments = self._payment_status(invoice_run, customer_no, form)
            stats_run = start_run(
                self.ctx, CUSTOMER_MAPPING, "to-dataverse", f"Customer statistics, {form}", "statistics"
            )
            report = self._statistics(stats_run, one, started)
            done = finish_run(self.ctx, stats_run, sum(report.counts.values()))
            moved = f"statistics synch time {report.time_from or '-'} -> {report.time_to or '-'}"
            log_run(log, done, job="customer statistics", trigger=form, counts=report.counts, detail=moved)
        return {"statistics": report.as_dict(), "payment status": payments.as_dict(),
                "jobs": [invoice_run.job_id, stats_run.job_id]}  # fmt: skip

    def _payment_status(self, run: JobRun, customer_no: str | None, form: str) -> PaymentStatusReport:
        payments = PaymentStatusUpdate(self.ctx).run(run, customer_no)
        done = finish_run(self.ctx, run, payments.modified + payments.unchanged + payments.failed)
        moved = f"last invoice entry no {payments.watermark_from} -> {payments.watermark_to}"
        log_run(log, done, job="payment status", trigger=form, counts=payments.counts(), detail=moved)
        return payments

    # -- which customers ----------------------------------------------------------------------------

    def _statistics(
        self, run: JobRun, one: tuple[Coupling, Mapping[str, Any] | None] | None, started: datetime
    ) -> StatisticsReport:
        """One customer (``one``: the per-customer form), or every customer BC's job takes."""
        since = self.steps.steps(STATUS_KEY).get(TIME_STEP) or ""
        report = StatisticsReport(time_from=since, time_to=since)
        work = [one] if one is not None else self._all_customers(since)
        for coupling, row in work:
            self._customer(run, coupling, row, report)
        if one is None and not report.unexpected:
            report.time_to = started.isoformat()
            self.steps.mark(STATUS_KEY, TIME_STEP, report.time_to)
        return report

    def _all_customers(self, since: str) -> list[tuple[Coupling, Mapping[str, Any] | None]]:
        couplings = {
            c.bc_id: c
            for c in self.ctx.stores.couplings.iter_mapping(CUSTOMER_MAPPING)
            if c.state == "coupled" and not c.skipped
        }
        uploaded = self._uploaded_marks()
        pending = [c.bc_id for c in couplings.values() if uploaded.get(c.bc_id, "").split("/")[0] != c.crm_id]
        rows: dict[str, Mapping[str, Any] | None] = {}
        if since:
            where = f"lastActivityDateTime gt {odata_literal(datetime.fromisoformat(since))}"
            rows |= {
                str(r["id"]): r for r in self.ctx.bc.list_rows(STATISTICS, where) if r["id"] in couplings
            }
        rows |= self._rows_by_id([i for i in pending if i not in rows])
        return [(couplings[bc_id], row) for bc_id, row in rows.items()]

    def _rows_by_id(self, ids: list[str]) -> dict[str, Mapping[str, Any] | None]:
        found: dict[str, Mapping[str, Any] | None] = dict.fromkeys(ids)
        for start in range(0, len(ids), ID_CHUNK):
            where = " or ".join(f"id eq {i}" for i in ids[start : start + ID_CHUNK])
            found |= {str(r["id"]): r for r in self.ctx.bc.list_rows(STATISTICS, where)}
        return found

    def _one_customer(self, customer_no: str) -> tuple[Coupling, Mapping[str, Any] | None]:
        """BC's "Update Account Statistics" on one customer card."""
        mapping = self.ctx.mapping(CUSTOMER_MAPPING)
        code = mapping.bc_code_field or "number"
        customer = next(iter(self.ctx.bc.list_rows(mapping.bc_entity, eq(code, customer_no), ("id",))), None)
        if customer is None:
            raise DataError(f"There is no customer {customer_no} in Business Central.")
        coupling = self.ctx.stores.couplings.get_by_bc(CUSTOMER_MAPPING, str(customer["id"]))
        if coupling is None or coupling.state != "coupled":
            raise DataError(
                f"Customer {customer_no} is not coupled to a Dataverse account.",
                remedy="Couple it (python -m sync_core couple CUSTOMER --bc-id .. --crm-id ..) or create "
                f"its account (python -m sync_core create-in-dataverse CUSTOMER --bc-id {customer['id']}).",
            )
        row = next(iter(self.ctx.bc.list_rows(STATISTICS, eq("customerNo", customer_no))), None)
        return coupling, row

    # -- one customer -------------------------------------------------------------------------------

    def _customer(
        self, run: JobRun, coupling: Coupling, row: Mapping[str, Any] | None, report: StatisticsReport
    ) -> None:
        outcome: RecordOutcome
        try:
            outcome = self._upload(coupling, row)
        except NotFound as exc:
            self._failed(run, coupling, exc, skip=True)
            outcome = "failed"
        except SyncError as exc:
            report.unexpected += 1
            self._failed(run, coupling, exc, skip=False)
            outcome = "failed"
        report.counts[outcome] += 1
        self.ctx.stores.job_log.record_outcome(run.job_id, coupling.bc_id, outcome)

    def _upload(self, coupling: Coupling, row: Mapping[str, Any] | None) -> RecordOutcome:
        if row is None:
            raise NotFound(f"Customer {coupling.bc_id} was not found.", field="customerNo")
        dv = self.ctx.dataverse
        account = dv.get("accounts", coupling.crm_id, (f"_{LINK}_value",))
        if account is None:
            raise NotFound(f"Account {coupling.crm_id} was not found.", field="accountid")
        desired = statistics_values(row, self._lcy_currency())
        linked = str(account.fields.get(f"_{LINK}_value") or "")
        row_id = linked or str(uuid.uuid5(ROW_IDS, f"{coupling.bc_id}/{coupling.crm_id}"))
        existing = dv.get(ROWS, row_id) if linked else None  # not linked: a new row (or our own)
        outcome: RecordOutcome
        if existing is None:
            outcome = "inserted"
            self._create(row_id, desired)
        else:
            changes = changed(desired, existing.fields)
            outcome = "modified" if changes else "unchanged"
            if changes:
                dv.update(ROWS, row_id, write_body(changes), existing.etag or "*")
        if linked != row_id:
            self._link(coupling, account, row_id)
        mark = f"{coupling.crm_id}/{row_id}"
        if self._uploaded_marks().get(coupling.bc_id) != mark:
            self.steps.mark(UPLOADED_KEY, coupling.bc_id, mark)
        return outcome

    def _uploaded_marks(self) -> dict[str, str]:
        """BC's "Statistics Uploaded" of every customer: the account and row it was uploaded to."""
        if self._uploaded is None:
            self._uploaded = self.steps.steps(UPLOADED_KEY)
        return self._uploaded

    def _create(self, row_id: str, desired: Mapping[str, Any]) -> None:
        """A new row under the id derived from the customer and the account; a retry after a crash
        between the create and the link finds it there and writes the values over it."""
        try:
            self.ctx.dataverse.create(ROWS, write_body(desired), record_id=row_id)
        except AlreadyExistsError:
            self.ctx.dataverse.update(ROWS, row_id, write_body(desired), "*")

    def _link(self, coupling: Coupling, account: Record, row_id: str) -> None:
        """The account's lookup; the coupling's Dataverse stamp follows if the account was in sync."""
        body = {f"{LINK}@odata.bind": f"/{ROWS}({row_id})"}
        written = self.ctx.dataverse.update("accounts", account.id, body, account.etag or "*")
        store = self.ctx.stores.couplings
        for _ in range(3):
            current = store.get_by_bc(CUSTOMER_MAPPING, coupling.bc_id) or coupling
            last = current.crm_modified_on
            if last is None or account.modified_on > last + SAME_TIMESTAMP:
                return  # changed in Dataverse since the last sync: the mapping job should see it
            try:
                store.save(replace(current, crm_modified_on=max(last, written.modified_on)))
                return
            except ConflictError:
                continue

    def _lcy_currency(self) -> str | None:
        if self._lcy is None:
            self._lcy = LookupResolver(self.ctx).lcy_currency() or ""
        return self._lcy or None

    def _failed(self, run: JobRun, coupling: Coupling, exc: SyncError, *, skip: bool) -> None:
        if skip:
            status = DirectionStatus("failure", exc.message, run.job_id)
            # changed or removed meanwhile: the next run looks again
            with contextlib.suppress(ConflictError, NotFoundError):
                self.ctx.stores.couplings.save(
                    replace(coupling.with_status("to-dataverse", status), skipped=True)
                )
        self.ctx.stores.sync_errors.add(
            SyncErrorEntry(
                mapping=CUSTOMER_MAPPING,
                direction="to-dataverse",
                source_id=coupling.bc_id,
                message=f"Customer statistics: {exc.message}",
                occurred_at=self.ctx.clock(),
                job_id=run.job_id,
                destination_id=coupling.crm_id,
                field=getattr(exc, "field", "") or "",
                remedy=exc.remedy or _remedy(skip, coupling),
            )
        )
        ref = RecordRef(
            CUSTOMER_MAPPING, "to-dataverse", coupling.bc_id, run.job_id, "statistics", coupling.crm_id
        )
        log_record_failed(log, ref, exc, skipped=skip)


def _remedy(skipped: bool, coupling: Coupling) -> str:
    if skipped:
        return (
            "The coupled record is gone: uncouple it (python -m sync_core uncouple CUSTOMER --bc-id "
            f"{coupling.bc_id}) or, once it is back, restore it (python -m sync_core restore "
            f"CUSTOMER --bc-id {coupling.bc_id})."
        )
    return "Fix the cause; the next statistics run (python -m sync_core statistics) tries again."
