"""The Dataverse emulator's asynchronous webhook delivery (api-facts §D.3).

One background thread posts the queued deliveries in commit order, so the user's request never
waits. Each delivery waits ``timeout_s`` (60 s, as Dataverse) for the answer; only the status code
counts. A 502 / 503 / 504 or a timeout gets exactly one more attempt; any other failure (another
non-2xx status, a refused connection) is recorded as failed. Every attempt is recorded:
``sequence, attempt, outcome (succeeded | retrying | failed), status, error, step, step_name, url,
message, entity, id, user, correlation_id, size_exceeded, at``. Proxies are never used.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.dataverse_webhook_payload import SIZE_EXCEEDED, Event, Organization, endpoint_url, now, request
from sandbox.dataverse_webhook_registry import Registration

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({502, 503, 504})
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Job:
    event: Event
    registration: Registration
    generation: int = 0


class DeliveryWorker:
    def __init__(self, organization: Callable[[], Organization]) -> None:
        self._organization = organization
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        self._log: list[dict[str, Any]] = []
        self._busy = self._paused = False
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()  # the running thread's own stop signal
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.timeout_s = DEFAULT_TIMEOUT_S
        self.retry_delay_s = 0.0

    # -- control ----------------------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._thread is not None and self._thread.is_alive() and not self._stop.is_set():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), daemon=True, name="dataverse-webhooks"
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker (a delivery under way ends with its request; queued ones wait)."""
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def put(self, jobs: list[Job]) -> None:
        with self._cond:
            self._queue.extend(Job(j.event, j.registration, self._generation) for j in jobs)
            self._cond.notify_all()

    def reset(self) -> None:
        """Forget queued deliveries and the record; defaults again (a delivery under way still
        finishes but is not recorded)."""
        with self._cond:
            self._queue.clear()
            self._log.clear()
            self._generation += 1
            self._paused = False
            self.timeout_s, self.retry_delay_s = DEFAULT_TIMEOUT_S, 0.0
            self._cond.notify_all()

    def set_paused(self, paused: bool) -> None:
        with self._cond:
            self._paused = paused
            self._cond.notify_all()

    def knobs(self) -> dict[str, Any]:
        with self._cond:
            return {"paused": self._paused, "timeout_s": self.timeout_s, "retry_delay_s": self.retry_delay_s,
                    "queued": len(self._queue), "busy": self._busy}  # fmt: skip

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued or under way (False after ``timeout`` seconds)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [dict(r) for r in self._log]

    def clear_deliveries(self) -> None:
        with self._cond:
            self._log.clear()

    # -- the worker -------------------------------------------------------------------------------

    def _run(self, stop: threading.Event) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: stop.is_set() or bool(self._queue and not self._paused))
                if stop.is_set():
                    return
                job = self._queue.popleft()
                self._busy = True
            try:
                self._deliver(job, stop)
            except Exception:  # a bug in the emulator: record it, keep delivering
                log.exception("webhook delivery failed")
                self._record(job, 1, None, "emulator error", "failed", False)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _deliver(self, job: Job, stop: threading.Event) -> None:
        body, headers = request(job.event, job.registration, self._organization())
        url = endpoint_url(job.registration.endpoint)
        exceeded = SIZE_EXCEEDED in headers
        for attempt in (1, 2):
            status, error = self._post(url, body, headers)
            retry = attempt == 1 and (status in RETRIED_STATUSES or error == "timeout")
            succeeded = status is not None and 200 <= status < 300
            outcome = "succeeded" if succeeded else "retrying" if retry else "failed"
            self._record(job, attempt, status, error, outcome, exceeded)
            if not retry:
                return
            if stop.wait(self.retry_delay_s):
                return

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(req, timeout=self.timeout_s) as response:
                response.read()
                return int(response.status), None
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code), None
        except TimeoutError:
            return None, "timeout"
        except urllib.error.URLError as exc:
            return None, "timeout" if isinstance(exc.reason, TimeoutError) else str(exc.reason)
        except OSError as exc:
            return None, str(exc)

    def _record(self, job: Job, attempt: int, status: int | None, error: str | None, outcome: str,
                exceeded: bool) -> None:  # fmt: skip
        event, step = job.event, job.registration.step
        entry = {
            "attempt": attempt, "outcome": outcome, "status": status, "error": error,
            "step": step["sdkmessageprocessingstepid"], "step_name": step.get("name"),
            "url": job.registration.endpoint.get("url"), "message": event.message,
            "entity": event.edef.logical, "id": event.row[event.edef.key], "user": event.user,
            "correlation_id": event.correlation_id, "size_exceeded": exceeded, "at": now().isoformat(),
        }  # fmt: skip
        with self._cond:
            if job.generation == self._generation:
                entry["sequence"] = len(self._log) + 1
                self._log.append(entry)
