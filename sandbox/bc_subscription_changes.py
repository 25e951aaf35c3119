"""Changes of webhook-subscribed BC sets: from row writes to notification entries (api-facts §E.7).

The model's observer (:meth:`ChangeJournal.observe`) sees every stored write (``BcModel.put`` /
``remove``: API requests, the emulator's in-process methods, BC's back office such as posting).
For each live subscription whose set shows the row before or after the write, the record's change
is kept: ``created`` (shown now, not before), ``updated`` or ``deleted`` (shown before, not now).
A change of a line (a ``nav`` child of the set: sales lines, posted invoice lines, document
notes) is an ``updated`` of its document header, as BC does for document APIs.

Changes made inside a unit that is rolled back (atomic ``$batch``, a failed deep insert or
back-office step) are forgotten with it: :class:`SubscriptionStore` marks each snapshot with the
journal's position and truncates the journal when the snapshot is restored.

Coalescing, per window, subscription and record, change by change: created + updated = created,
created + deleted = nothing (the subscriber never saw the record), deleted + created = updated,
otherwise the later change wins; the entry's ``lastModifiedDateTime`` is the last change's. When
more distinct records than ``collection_threshold`` changed in the window, a single
``collection`` entry is sent whose resource filters on ``lastModifiedDateTime gt <window start>``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sandbox.bc_schema import COMPANION, V2, VIEWS, BcView
from sandbox.odata.engine import Store
from sandbox.odata.filter import parse_datetime

SUBSCRIPTIONS = "apiWebhookSubscription"  # the store table of subscription rows
# the sets of §E.7's list the emulator serves, and the companion's (bc-companion-api "subscriptions")
V2_WEBHOOK_SETS = frozenset({
    "accounts", "currencies", "customers", "items", "paymentTerms", "salesInvoices", "salesOrders",
    "salesQuotes", "shipmentMethods", "unitsOfMeasure", "vendors",
})  # fmt: skip
COMPANION_WEBHOOK_SETS = frozenset({
    "integrationCustomers", "integrationContacts", "integrationItems", "resources", "customerPriceGroups",
    "salesPrices", "opportunities", "postedSalesInvoices", "salesDocuments",
})  # fmt: skip
WEBHOOK_SETS = {V2: V2_WEBHOOK_SETS, COMPANION: COMPANION_WEBHOOK_SETS}
_MERGED = {
    ("created", "updated"): "created",
    ("created", "created"): "created",
    ("created", "deleted"): None,
    ("deleted", "created"): "updated",
    ("deleted", "updated"): "updated",
    ("updated", "created"): "updated",
}


@dataclass(frozen=True)
class Change:
    seq: int
    record: str
    kind: str  # created | updated | deleted
    stamp: str  # the record's lastModifiedDateTime (the time of deletion for a delete)
    at: float  # time.monotonic() when it was recorded


def live_subscriptions(store: Store) -> dict[str, dict[str, Any]]:
    """The subscription rows, after removing the expired ones (BC removes them; call with the
    store lock held)."""
    table = store.table(SUBSCRIPTIONS)
    now = time.time()
    for sid in [sid for sid, row in table.items() if row["__expires"] <= now]:
        del table[sid]
    return table


class ChangeJournal:
    """Pending changes per subscription id; guarded by ``cond`` (taken after the store lock)."""

    def __init__(self, store: Store, cond: threading.Condition) -> None:
        self.store = store
        self.cond = cond
        self.pending: dict[str, list[Change]] = {}
        self._seq = 0

    def mark(self) -> int:
        with self.cond:
            return self._seq

    def rollback(self, mark: int) -> None:
        """Forget the changes recorded after ``mark``."""
        with self.cond:
            for sid in list(self.pending):
                items = self.pending[sid]
                while items and items[-1].seq > mark:
                    items.pop()
                if not items:
                    del self.pending[sid]

    def clear(self) -> None:
        with self.cond:
            self.pending.clear()

    def observe(self, table: str, old: dict | None, new: dict | None) -> None:
        """The model's observer: ``table``'s row went from ``old`` to ``new`` (None = absent)."""
        with self.store.lock:
            subs = self.store.table(SUBSCRIPTIONS)
            if not subs:
                return
            now, stamp = time.time(), new["lastModifiedDateTime"] if new is not None else self.store.stamp()
            found = [
                (sid, change)
                for sid, sub in subs.items()
                if sub["__expires"] > now
                for change in _changes(self.store, sub, table, old, new)
            ]
            if not found:
                return
            with self.cond:
                at = time.monotonic()
                for sid, (record, kind) in found:
                    self._seq += 1
                    self.pending.setdefault(sid, []).append(Change(self._seq, record, kind, stamp, at))
                self.cond.notify_all()


def _changes(
    store: Store, sub: dict, table: str, old: dict | None, new: dict | None
) -> list[tuple[str, str]]:
    view, company = VIEWS[sub["__view"]], sub["__company"]
    if table == view.table:
        kind = _kind(view, company, old, new)
        row = new if new is not None else old
        return [(row["id"], kind)] if kind and row is not None else []
    for child, fk in view.nav.values():
        if VIEWS[child].table != table:
            continue
        row = new if new is not None else old
        parent = store.table(view.table).get((row or {}).get(fk) or "")
        if parent is not None and parent.get("__company") == company and view.shows(parent):
            return [(parent["id"], "updated")]
    return []


def _kind(view: BcView, company: str, old: dict | None, new: dict | None) -> str | None:
    before = old is not None and old.get("__company") == company and view.shows(old)
    after = new is not None and new.get("__company") == company and view.shows(new)
    if before and after:
        return "updated"
    return "created" if after else "deleted" if before else None


def coalesce(changes: list[Change]) -> list[tuple[str, str, str]]:
    """``(record, change type, lastModifiedDateTime)`` per record, in the order first changed."""
    merged: dict[str, tuple[str, str]] = {}
    for change in changes:
        previous = merged.get(change.record)
        kind: str | None = change.kind
        if previous is not None and (previous[0], change.kind) in _MERGED:
            kind = _MERGED[(previous[0], change.kind)]
        if kind is None:
            del merged[change.record]
        else:
            merged[change.record] = (kind, change.stamp)
    return [(record, kind, stamp) for record, (kind, stamp) in merged.items()]


def set_path(sub: dict) -> str:
    """``api/<api>/companies(<id>)/<set>``: the subscribed set as notifications name it."""
    return f"api/{sub['__api']}/companies({sub['__company']})/{sub['__view']}"


def entries(sub: dict, changes: list[Change], threshold: int) -> list[dict[str, Any]]:
    """The notification entries of one subscription's window."""
    merged = coalesce(changes)
    if not merged:
        return []
    common = {
        "subscriptionId": sub["subscriptionId"],
        "clientState": sub["clientState"],
        "expirationDateTime": sub["expirationDateTime"],
    }
    base = set_path(sub)
    if len(merged) > threshold:
        resource = f"{base}?$filter=lastModifiedDateTime%20gt%20{window_start(changes[0].stamp)}"
        last = max(stamp for _, _, stamp in merged)
        return [{**common, "resource": resource, "changeType": "collection", "lastModifiedDateTime": last}]
    return [
        {**common, "resource": f"{base}({record})", "changeType": kind, "lastModifiedDateTime": stamp}
        for record, kind, stamp in merged
    ]


def window_start(stamp: str) -> str:
    """A whole second strictly before ``stamp`` (the first change of the window), ISO with Z."""
    moment = parse_datetime(stamp) - timedelta(milliseconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Snapshot(dict):
    mark: int | None = None


class SubscriptionStore(Store):
    """A :class:`Store` whose restored snapshots also roll back the change journal."""

    def __init__(self) -> None:
        super().__init__()
        self.journal: ChangeJournal | None = None

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        with self.lock:
            snap = _Snapshot(super().snapshot())
            snap.mark = self.journal.mark() if self.journal is not None else None
            return snap

    def restore(self, snapshot: dict[str, dict[str, dict[str, Any]]]) -> None:
        with self.lock:
            super().restore(snapshot)
            mark = getattr(snapshot, "mark", None)
            if self.journal is not None and mark is not None:
                self.journal.rollback(mark)
