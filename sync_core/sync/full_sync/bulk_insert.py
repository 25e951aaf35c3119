"""A full-sync chunk's uncoupled records inserted in Dataverse together.

For a mapping whose insert is "map, claim, create, couple" (to Dataverse; not an option mapping;
no match fields, document lines or dependents), the records of a chunk that were not coupled at
the scan are inserted together, each still with its own claim, outcome and error:

1. values: the record engine's ``RecordValues`` (lookups cached for the chunk) and the mapping's
   write rule steps before the insert (a fresh rule per record, as per message in the engine); a
   record that fails mapping fails alone (sync error with mapping, field, remedy); one whose
   mapping writes values after the insert goes to the per-record engine;
2. claims in entity-group transactions (``claim_many``); a record claimed or coupled meanwhile goes
   to the per-record engine, which reads its coupling and decides;
3. creates in Dataverse ``$batch`` requests of ``CREATE_BATCH`` (continue-on-error; each part
   ``return=representation``, so no read after the write): a refused create frees its claim and
   fails that record alone; an unknown answer (a throttled part, a batch that kept failing)
   keeps the claim and sends the record back to the queue on its own (``resume_claim`` finds the
   row by the claimed id or creates it); a create answered "exists" is a resent create when the
   row with the claimed id is there; then the write rule's step after the insert, per record;
4. the claims completed in transactions (``complete_claims``), the outcomes in transactions.

A crash anywhere leaves claims that the redelivered chunk (or the record's own message) completes:
never a second row (a claim's row id is derived from the job and the record, so a redelivered chunk
knows its own claims and creates, or finds, that same row). The records' outcomes are written
after their couplings, so a crash between the two counts those records ``unchanged`` on the
redelivery, not ``inserted``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from sync_core.errors import AlreadyExistsError, ConflictError, PermanentError, SyncError, TransientError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.mapping.rules_common import IgnoredRecord
from sync_core.mapping.transfer import after_insert_values, writable_values
from sync_core.state.ports import Coupling, OutcomeEntry, RecordOutcome
from sync_core.sync.context import SyncContext
from sync_core.sync.engine.bookkeeping import record_failure, success_coupling
from sync_core.sync.engine.child_lines import child_mappings
from sync_core.sync.engine.record import refusal
from sync_core.sync.engine.resync import dependents
from sync_core.sync.engine.rule_registry import WRITE_RULES
from sync_core.sync.engine.values import RecordValues
from sync_core.sync.engine.write_rules import WriteRule
from sync_core.sync.messages import ChunkMessage, RecordMessage
from sync_core.telemetry import RecordRef, error_code, log_record_failed, log_record_synchronized
from sync_core.vocabulary import TO_DATAVERSE, Direction, Record

log = logging.getLogger(__name__)

CLAIM_IDS = uuid.UUID("5d0c6f4e-2b1a-4c55-9a43-6b7f1c1e0b2d")  # namespace of the claims' row ids
CREATE_BATCH = 100  # creates per Dataverse $batch (Dataverse allows 1,000; one quota unit each)
THROTTLED_WAIT_S = 300.0  # how long a chunk waits out a throttled batch (the function may run 10 min)


def bulk_insert_allowed(ctx: SyncContext, mapping: IntegrationTableMapping, direction: Direction) -> bool:
    """Whether the engine's insert of an uncoupled record of ``mapping`` is map, claim, create, couple."""
    return (
        direction == TO_DATAVERSE
        and mapping.kind != "option"
        and not mapping.match_fields
        and not child_mappings(ctx.catalog, mapping)
        and not dependents(ctx, mapping.name)
        and refusal(ctx, mapping, direction) is None
    )


@dataclass
class BulkResult:
    """What the bulk insert settled (outcomes written), and what it hands back."""

    counts: dict[str, int] = field(default_factory=dict)
    to_engine: list[Record] = field(default_factory=list)  # for the per-record engine
    retry: list[RecordMessage] = field(default_factory=list)  # transient: sent again on their own
    resume: list[RecordMessage] = field(default_factory=list)  # claim kept: sent once it is stale

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


@dataclass(frozen=True)
class _Pending:
    source: Record
    body: dict
    rule: WriteRule | None = None  # the mapping's steps around the write, one per record
    claim: Coupling | None = None


class BulkInserter:
    def __init__(
        self,
        ctx: SyncContext,
        values: RecordValues,
        msg: ChunkMessage,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ctx = ctx
        self.sleep = sleep
        self.values = values
        self.msg = msg
        self.mapping = ctx.mapping(msg.mapping)
        self.result = BulkResult()
        self.outcomes: list[OutcomeEntry] = []

    def insert(self, sources: Sequence[Record]) -> BulkResult:
        pending = [p for p in (self._prepare(s) for s in sources) if p is not None]
        claimed = self._claim(pending)
        for start in range(0, len(claimed), CREATE_BATCH):
            self._create(claimed[start : start + CREATE_BATCH])
            self._flush()  # right after the group's couplings: a crash loses the fewest counts
        self._flush()
        return self.result

    def _flush(self) -> None:
        if self.outcomes:
            self.ctx.stores.job_log.record_outcomes(self.msg.job_id, self.outcomes)
            self.outcomes = []

    def _message(self, source_id: str) -> RecordMessage:
        return RecordMessage(self.mapping.name, TO_DATAVERSE, source_id, self.msg.job_id, "full-sync")

    # -- 1. values ------------------------------------------------------------------------------

    def _prepare(self, source: Record) -> _Pending | None:
        """The record's create body, as the engine's insert makes it (write rule steps included)."""
        mapping = self.mapping
        rule = WRITE_RULES[mapping.write_rule](mapping) if mapping.write_rule else None
        try:
            if rule is not None:  # BC's checks before an insert; what it refers to
                rule.prepare_insert(self.ctx, source, self.values.on_the_fly)
            desired = self.values.desired(mapping, TO_DATAVERSE, source, inserting=True)
            if after_insert_values(mapping, desired):
                self.result.to_engine.append(source)  # a create and a PATCH: the engine's
                return None
            body = self.values.write_body(
                mapping, TO_DATAVERSE, writable_values(mapping, desired, creating=True)
            )
            if rule is not None:
                body = rule.before_insert(self.ctx, mapping.crm_entity, body, source)
        except IgnoredRecord as exc:  # BC's post-filter: never synchronized, not an error
            self._outcome(source.id, "skipped", exc.message)
            return None
        except TransientError:
            self.result.retry.append(self._message(source.id))
            return None
        except PermanentError as exc:
            self._failed(source.id, exc)
            return None
        return _Pending(source, body, rule)

    # -- 2. claims ------------------------------------------------------------------------------

    def _claim(self, pending: list[_Pending]) -> list[_Pending]:
        if not pending:
            return []
        now = self.ctx.clock()
        claims = [
            Coupling(
                self.mapping.name, p.source.id, self._claim_id(p.source.id), state="claimed", claimed_at=now
            )
            for p in pending
        ]
        answers = self.ctx.stores.couplings.claim_many(claims)
        claimed: list[_Pending] = []
        for p, claim, answer in zip(pending, claims, answers, strict=True):
            mine = self._our_claim(claim) if isinstance(answer, AlreadyExistsError) else answer
            if mine is None:  # claimed or coupled meanwhile: let the engine decide
                self.result.to_engine.append(p.source)
            else:
                claimed.append(replace(p, claim=mine))
        return claimed

    def _claim_id(self, source_id: str) -> str:
        """The id the record's Dataverse row gets: derived from the job, the mapping and the
        record, so every pass of this chunk (a resent claim transaction, a redelivered chunk)
        claims and creates the same row, and no other job or worker does."""
        return str(uuid.uuid5(CLAIM_IDS, f"{self.msg.job_id}/{self.mapping.name}/{source_id}"))

    def _our_claim(self, claim: Coupling) -> Coupling | None:
        """The stored claim when it is this chunk's: a resent claim transaction answers 409 for its
        own rows, and a redelivered chunk finds the claims of its earlier pass. Their crm id is
        ``_claim_id``, so a claim row holding it is ours: its create is done (or done again:
        Dataverse answers "exists" for the same id, and the row is read)."""
        stored = self.ctx.stores.couplings.get_by_bc(claim.mapping, claim.bc_id)
        if stored is not None and stored.state == "claimed" and stored.crm_id == claim.crm_id:
            return stored
        return None

    # -- 3. creates, 4. couplings -----------------------------------------------------------------

    def _create(self, group: list[_Pending]) -> None:
        entity = self.mapping.crm_entity
        rows = [(_claim_of(p).crm_id, p.body) for p in group]
        try:
            answers = self._create_many(entity, rows)
        except TransientError as exc:  # unknown whether the batch ran: the claims stay
            log.warning("%s: a create batch of %d failed (%s); records sent again", entity, len(group), exc)
            self.result.resume += [self._message(p.source.id) for p in group]
            return
        created: list[tuple[_Pending, Record]] = []
        for p, answer in zip(group, answers, strict=True):
            row = self._answer(p, answer)
            row = self._after_write(p, row) if row is not None else None
            if row is not None:
                created.append((p, row))
        self._couple(created)

    def _create_many(self, entity: str, rows: list[tuple[str, dict]]) -> list[Record | SyncError]:
        """``create_many``, sent again while Dataverse throttles the whole batch (429: it did not
        run it) and says when, up to ``THROTTLED_WAIT_S``: at the quota, a chunk waits its turn
        instead of leaving its records to come back one by one minutes later."""
        waited = 0.0
        while True:
            try:
                return self.ctx.dataverse.create_many(entity, rows)
            except TransientError as exc:
                delay = getattr(exc, "retry_after", None)
                if exc.status != 429 or delay is None or waited + delay > THROTTLED_WAIT_S:
                    raise
                log.info("%s: create batch throttled; sent again in %.0f s", entity, delay)
                self.sleep(delay)
                waited += delay

    def _after_write(self, p: _Pending, row: Record) -> Record | None:
        """The write rule's step after the insert (the engine's, per record); on an error the
        claim stays, as the engine leaves it: the record's next synchronization completes it."""
        if p.rule is None:
            return row
        try:
            return p.rule.after_write(self.ctx, self.mapping.crm_entity, p.source, row, None)
        except TransientError:
            self.result.resume.append(self._message(p.source.id))
        except PermanentError as exc:
            self._failed(p.source.id, exc)
        return None

    def _answer(self, p: _Pending, answer: Record | SyncError) -> Record | None:
        claim = _claim_of(p)
        if isinstance(answer, Record):
            return answer
        if isinstance(answer, AlreadyExistsError):  # a resent create, or a unique key of another row
            existing = self.ctx.dataverse.get(self.mapping.crm_entity, claim.crm_id)
            if existing is not None:
                return existing
            self.ctx.stores.couplings.delete(claim)  # not ours: the engine decides on its own
            self.result.retry.append(self._message(p.source.id))
        elif isinstance(answer, PermanentError):  # refused: nothing was created, free the claim
            self.ctx.stores.couplings.delete(claim)
            self._failed(p.source.id, answer)
        else:  # throttled or unknown: the row may exist; the claim stays for resume_claim
            log.info("%s %s: %s; sent again on its own", self.mapping.name, p.source.id, error_code(answer))
            self.result.resume.append(self._message(p.source.id))
        return None

    def _couple(self, created: list[tuple[_Pending, Record]]) -> None:
        couplings = [
            success_coupling(_coupling_state(_claim_of(p)), self._message(p.source.id), p.source, row)
            for p, row in created
        ]
        answers = self.ctx.stores.couplings.complete_claims(couplings) if couplings else []
        for (p, row), answer in zip(created, answers, strict=True):
            if isinstance(answer, ConflictError):  # the claim changed meanwhile: let the engine decide
                self.result.retry.append(self._message(p.source.id))
                continue
            self._outcome(p.source.id, "inserted", destination_id=row.id)

    # -- outcomes -----------------------------------------------------------------------------------

    def _outcome(
        self, source_id: str, outcome: RecordOutcome, message: str = "", destination_id: str = ""
    ) -> None:
        self.outcomes.append(OutcomeEntry(source_id, outcome, message))
        self.result.add(outcome)
        ref = self._ref(source_id, destination_id)
        log_record_synchronized(log, ref, outcome, now=self.ctx.clock())

    def _failed(self, source_id: str, exc: PermanentError) -> None:
        started = time.monotonic()
        skipped = record_failure(self.ctx, self.mapping, self._message(source_id), exc)
        outcome: RecordOutcome = "skipped" if skipped else "failed"
        self.outcomes.append(OutcomeEntry(source_id, outcome, exc.message))
        self.result.add(outcome)
        duration = time.monotonic() - started
        log_record_failed(log, self._ref(source_id, ""), exc, skipped=skipped, duration_s=duration)

    def _ref(self, source_id: str, destination_id: str) -> RecordRef:
        msg = self.msg
        return RecordRef(self.mapping.name, TO_DATAVERSE, source_id, msg.job_id, "full-sync", destination_id)


def _claim_of(p: _Pending) -> Coupling:
    if p.claim is None:  # only claimed records are created
        raise AssertionError("a record is created only under its claim")
    return p.claim


def _coupling_state(claim: Coupling) -> Coupling:
    return replace(claim, state="coupled")
