"""BC's "UpdateStatusOfPaidInvoices" (bc-integration §6.3): payment states of Dataverse invoices.

Part of the statistics job (timer ``customer_statistics``, command ``statistics``). The posted
invoices whose ``lastDetailedEntryNo`` is above the watermark (BC's CRM Synch Status "Last Update
Invoice Entry No.") may have changed: a payment, an unapplied payment, a cancellation. For each
one coupled to a Dataverse invoice that still exists, the invoice gets the state its ledger entry
says (``mapping.invoice_status``); a closed invoice (Paid, Canceled) is set Active / Billed first,
since Dataverse does not let a closed invoice change otherwise. Invoices not coupled are passed
over. The watermark moves to the highest entry seen only on the all-customers run and only when no
unexpected error occurred; the per-customer form (``customer_no``) never moves it. Idempotent:
a state is written only when it differs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync_core.errors import SyncError
from sync_core.mapping.invoice_status import current_state, describe, invoice_state, steps_to
from sync_core.state.ports import JobRun, RecordOutcome, SyncErrorEntry
from sync_core.sync.context import SyncContext
from sync_core.telemetry import RecordRef, log_record_failed
from sync_core.vocabulary import and_filters, eq

log = logging.getLogger(__name__)

INVOICE_MAPPING = "POSTEDSALESINV-INV"
INVOICES = "postedSalesInvoices"
STATUS_KEY = "bc:crmSynchStatus"  # BC's CRM Synch Status, kept in the document step store
INVOICE_ENTRY_STEP = "last-update-invoice-entry-no"
SELECT = ("id", "number", "sellToCustomerNo", "amountIncludingVat", "remainingAmount", "cancelled",
          "lastDetailedEntryNo")  # fmt: skip


@dataclass
class PaymentStatusReport:
    read: int = 0
    modified: int = 0
    unchanged: int = 0
    passed_over: int = 0
    failed: int = 0
    watermark_from: int = 0
    watermark_to: int = 0
    errors: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "read": self.read,
            "modified": self.modified,
            "unchanged": self.unchanged,
            "passed over": self.passed_over,
            "failed": self.failed,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "invoices read": self.read,
            "modified": self.modified,
            "unchanged": self.unchanged,
            "passed over": self.passed_over,
            "failed": self.failed,
            "last invoice entry no": f"{self.watermark_from} -> {self.watermark_to}",
        }


class PaymentStatusUpdate:
    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self.steps = ctx.stores.document_steps

    def watermark(self) -> int:
        return int(self.steps.steps(STATUS_KEY).get(INVOICE_ENTRY_STEP) or 0)

    def run(self, run: JobRun, customer_no: str | None = None) -> PaymentStatusReport:
        last = self.watermark()
        report = PaymentStatusReport(watermark_from=last, watermark_to=last)
        customer = eq("sellToCustomerNo", customer_no) if customer_no else None
        where = and_filters(f"lastDetailedEntryNo gt {last}", customer)
        highest = last
        for row in self.ctx.bc.list_rows(INVOICES, where, SELECT, orderby="lastDetailedEntryNo"):
            report.read += 1
            highest = max(highest, int(row.get("lastDetailedEntryNo") or 0))
            self._one(run, row, report)
        if customer_no is None and not report.failed and highest > last:
            self.steps.mark(STATUS_KEY, INVOICE_ENTRY_STEP, str(highest))
            report.watermark_to = highest
        return report

    def _one(self, run: JobRun, row: Mapping[str, Any], report: PaymentStatusReport) -> None:
        bc_id = str(row["id"])
        try:
            outcome = self._update(row)
        except SyncError as exc:  # an unexpected error: the watermark stays where it is
            report.failed += 1
            report.errors.append(exc.message)
            self._failed(run, bc_id, row, exc)
            return
        if outcome is None:
            report.passed_over += 1
            return
        setattr(report, outcome, getattr(report, outcome) + 1)
        self.ctx.stores.job_log.record_outcome(run.job_id, bc_id, outcome)

    def _update(self, row: Mapping[str, Any]) -> RecordOutcome | None:
        """``modified`` / ``unchanged``, or None when the invoice is not coupled or not in Dataverse."""
        coupling = self.ctx.stores.couplings.get_by_bc(INVOICE_MAPPING, str(row["id"]))
        if coupling is None or coupling.state != "coupled":
            return None
        invoice = self.ctx.dataverse.get("invoices", coupling.crm_id, ("statecode", "statuscode"))
        if invoice is None:
            return None
        target = invoice_state(row)
        steps = steps_to(current_state(invoice.fields), target)
        for state, status in steps:
            self.ctx.dataverse.update("invoices", invoice.id, {"statecode": state, "statuscode": status}, "*")
        if steps:
            log.info("invoice %s (BC %s): %s", invoice.id, row.get("number"), describe(target))
        return "modified" if steps else "unchanged"

    def _failed(self, run: JobRun, bc_id: str, row: Mapping[str, Any], exc: SyncError) -> None:
        self.ctx.stores.job_log.record_outcome(run.job_id, bc_id, "failed", exc.message)
        self.ctx.stores.sync_errors.add(
            SyncErrorEntry(
                mapping=INVOICE_MAPPING,
                direction="to-dataverse",
                source_id=bc_id,
                message=f"Payment status of posted invoice {row.get('number')}: {exc.message}",
                occurred_at=self.ctx.clock(),
                job_id=run.job_id,
                field="statecode",
                remedy=exc.remedy
                or "Fix the cause; the next statistics run (python -m sync_core "
                "statistics) tries again: the watermark did not move.",
            )
        )
        log_record_failed(
            log, RecordRef(INVOICE_MAPPING, "to-dataverse", bc_id, run.job_id, "statistics"), exc
        )
