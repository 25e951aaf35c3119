"""The BC emulator's outgoing webhook calls (api-facts §E.7): handshakes and notifications.

Handshake: ``POST <notificationUrl>?validationToken=<token>`` (``&`` when the URL has a query), no
body; it passes only on HTTP 200 with exactly the token as the body. Notifications: one background
thread waits ``delay_s`` after a subscription's first pending change (BC: 30 s), then posts
``{"value": [entries]}`` (``Content-Type: application/json``, no BOM), one POST per
notificationUrl carrying the entries of every due subscription with that URL (at most
``collection_threshold`` entries per POST; one subscription's entries are never split).
Answers: 2xx done; 408, 429, 5xx, a refused connection or a timeout -> retried after
``retry_delays_s[n-1]`` (the last value repeats) up to ``max_attempts`` attempts in all; any
other status -> no retry and the subscriptions in that POST are deleted. Subscriptions gone or
expired before an attempt drop out of it. The store lock is never held during a call. Calls the
emulator makes are not requests it serves: they are not counted. Every attempt is recorded in
:meth:`NotificationWorker.deliveries` (``sequence, url, status, error, attempt, outcome
(succeeded | retrying | failed | rejected), entries, at``), every handshake in
:meth:`NotificationWorker.handshakes`.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from sandbox.bc_subscription_changes import SUBSCRIPTIONS, ChangeJournal, entries, live_subscriptions
from sandbox.odata.engine import Store

log = logging.getLogger(__name__)
MAX_ANSWER = 64 * 1024


@dataclass
class SubscriptionKnobs:
    delay_s: float = 30.0  # BC waits 30 s after the first change
    collection_threshold: int = 1000  # more records than this in a window -> one collection entry
    expiry_s: float = 3 * 86400.0  # a subscription lives 3 days unless renewed
    retry_delays_s: list[float] = field(default_factory=lambda: [60.0, 300.0, 900.0, 3600.0])
    max_attempts: int = 40  # with the default delays about 36 h, as BC
    timeout_s: float = 10.0  # for handshakes and notifications
    paused: bool = False  # nothing is sent while paused (changes keep coming in)
    max_subscriptions: int = 200  # per environment (api-facts §E.6)


@dataclass
class Delivery:
    url: str
    entries: list[dict[str, Any]]
    generation: int
    attempt: int = 1
    due: float = 0.0


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class NotificationWorker:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.cond = threading.Condition()
        self.journal = ChangeJournal(store, self.cond)
        self.knobs = SubscriptionKnobs()
        self._retries: list[Delivery] = []
        self._log: list[dict[str, Any]] = []
        self._handshakes: list[dict[str, Any]] = []
        self._busy = False
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- control ----------------------------------------------------------------------------------

    def start(self) -> None:
        with self.cond:
            if self._thread is not None and self._thread.is_alive() and not self._stop.is_set():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), daemon=True, name="bc-notifications"
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (a call under way ends with its request; pending changes stay)."""
        with self.cond:
            self._stop.set()
            self.cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def reset(self) -> None:
        """Forget pending changes, retries and the records; default knobs (a call under way still
        ends but is neither recorded nor retried)."""
        with self.cond:
            self.journal.clear()
            self._retries.clear()
            self._log.clear()
            self._handshakes.clear()
            self._generation += 1
            self.knobs = SubscriptionKnobs()
            self.cond.notify_all()

    def set_knobs(self, **values: Any) -> dict[str, Any]:
        known = {f.name: f.type for f in fields(SubscriptionKnobs)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown subscription knobs: {', '.join(sorted(unknown))}")
        with self.cond:
            for name, value in values.items():
                if value is not None:
                    setattr(self.knobs, name, _typed(name, value))
            self.cond.notify_all()
        return self.knob_values()

    def knob_values(self) -> dict[str, Any]:
        with self.cond:
            pending = sum(len(items) for items in self.journal.pending.values())
            state = {"pending": pending, "retries": len(self._retries), "busy": self._busy}
            return {**asdict(self.knobs), **state}

    def wait_idle(self, timeout: float) -> bool:
        """True once no change is pending, no retry is scheduled and no call is under way."""
        with self.cond:
            return self.cond.wait_for(
                lambda: not self.journal.pending and not self._retries and not self._busy, timeout
            )

    def deliveries(self) -> list[dict[str, Any]]:
        with self.cond:
            return [dict(r) for r in self._log]

    def handshakes(self) -> list[dict[str, Any]]:
        with self.cond:
            return [dict(r) for r in self._handshakes]

    def clear_deliveries(self) -> None:
        with self.cond:
            self._log.clear()
            self._handshakes.clear()

    # -- handshake --------------------------------------------------------------------------------

    def handshake(self, url: str) -> tuple[bool, str]:
        """Call ``url`` with a new validation token; (passed, what was wrong otherwise)."""
        token = str(uuid.uuid4())
        target = f"{url}{'&' if urlsplit(url).query else '?'}validationToken={quote(token)}"
        status, body, error = self._post(target, b"", {})
        passed = status == 200 and body == token.encode()
        detail = error or (f"HTTP {status}" if status != 200 else "the body was not the validation token")
        with self.cond:
            self._handshakes.append({"url": url, "token": token, "status": status, "error": error,
                                     "passed": passed, "at": now_iso()})  # fmt: skip
        return passed, "" if passed else detail

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, bytes, str | None]:
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with self.cond:
            timeout = self.knobs.timeout_s
        try:
            with self._opener.open(req, timeout=timeout) as response:
                return int(response.status), response.read(MAX_ANSWER), None
        except urllib.error.HTTPError as exc:
            answer = exc.read(MAX_ANSWER)
            exc.close()
            return int(exc.code), answer, None
        except TimeoutError:
            return None, b"", "timeout"
        except urllib.error.URLError as exc:
            return None, b"", "timeout" if isinstance(exc.reason, TimeoutError) else str(exc.reason)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return None, b"", str(exc)

    # -- the thread -------------------------------------------------------------------------------

    def _run(self, stop: threading.Event) -> None:
        while True:
            with self.cond:
                while not stop.is_set():
                    wait = self._wait_s(time.monotonic())
                    if wait is not None and wait <= 0:
                        break
                    self.cond.wait(wait)
                if stop.is_set():
                    return
                self._busy = True
            try:
                for delivery in self._take():
                    if stop.is_set():
                        break
                    self._deliver(delivery)
            except Exception:  # a bug in the emulator: log it, keep delivering
                log.exception("BC webhook notification failed")
            finally:
                with self.cond:
                    self._busy = False
                    self.cond.notify_all()

    def _wait_s(self, now: float) -> float | None:
        """Seconds until something is due (None: nothing is, or paused); under ``cond``."""
        if self.knobs.paused:
            return None
        times = [items[0].at + self.knobs.delay_s for items in self.journal.pending.values() if items]
        times += [r.due for r in self._retries]
        return min(times) - now if times else None

    def _take(self) -> list[Delivery]:
        """The due windows (grouped by notificationUrl) and retries."""
        with self.store.lock:
            subs = {sid: dict(row) for sid, row in live_subscriptions(self.store).items()}
            with self.cond:
                now, knobs, generation = time.monotonic(), self.knobs, self._generation
                pending = self.journal.pending
                due = [sid for sid, items in pending.items() if items[0].at + knobs.delay_s <= now]
                by_url: dict[str, list[list[dict[str, Any]]]] = {}
                for sid in due:
                    changes, sub = self.journal.pending.pop(sid), subs.get(sid)
                    if sub is not None:
                        found = entries(sub, changes, knobs.collection_threshold)
                        by_url.setdefault(sub["notificationUrl"], []).append(found)
                retries = [r for r in self._retries if r.due <= now]
                self._retries = [r for r in self._retries if r.due > now]
        limit = max(1, knobs.collection_threshold)
        out = [
            Delivery(url, chunk, generation)
            for url, groups in by_url.items()
            for chunk in _chunks(groups, limit)
        ]
        for retry in retries:
            retry.entries = [e for e in retry.entries if e["subscriptionId"] in subs]
            if retry.entries:
                out.append(retry)
        return out

    def _deliver(self, delivery: Delivery) -> None:
        body = json.dumps({"value": delivery.entries}).encode()
        status, _, error = self._post(delivery.url, body, {"Content-Type": "application/json"})
        retryable = status is None or status in (408, 429) or status >= 500
        with self.cond:
            if delivery.generation != self._generation:
                return
            if status is not None and 200 <= status < 300:
                outcome = "succeeded"
            elif retryable and delivery.attempt < self.knobs.max_attempts:
                outcome = "retrying"
                self._retries.append(self._retry(delivery))
            else:
                outcome = "failed" if retryable else "rejected"
            self._log.append({"sequence": len(self._log) + 1, "url": delivery.url, "status": status,
                              "error": error, "attempt": delivery.attempt, "outcome": outcome,
                              "entries": delivery.entries, "at": now_iso()})  # fmt: skip
        if outcome == "rejected":
            self._drop({e["subscriptionId"] for e in delivery.entries})

    def _retry(self, delivery: Delivery) -> Delivery:
        delays = self.knobs.retry_delays_s or [0.0]
        wait = delays[min(delivery.attempt - 1, len(delays) - 1)]
        return Delivery(delivery.url, delivery.entries, delivery.generation, delivery.attempt + 1,
                        time.monotonic() + wait)  # fmt: skip

    def _drop(self, ids: set[str]) -> None:
        """BC deletes the subscriptions a notification was refused for (no retry)."""
        with self.store.lock:
            table = self.store.table(SUBSCRIPTIONS)
            for sid in ids:
                table.pop(sid, None)
        log.info("BC webhook subscriptions deleted after a refused notification: %s", sorted(ids))


def _chunks(groups: list[list[dict[str, Any]]], limit: int) -> list[list[dict[str, Any]]]:
    """The POST bodies of one URL: whole subscriptions' entries, at most ``limit`` per POST (one
    subscription has no more than that: more records make a collection)."""
    out: list[list[dict[str, Any]]] = []
    for group in (g for g in groups if g):
        if out and len(out[-1]) + len(group) <= limit:
            out[-1].extend(group)
        else:
            out.append(list(group))
    return out


def _typed(name: str, value: Any) -> Any:
    if name == "retry_delays_s":
        return [float(v) for v in value]
    if name in ("collection_threshold", "max_attempts", "max_subscriptions"):
        return int(value)
    if name == "paused":
        return bool(value)
    return float(value)
