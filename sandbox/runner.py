"""Local runner for a v2-model function app, for machines without Azure Functions Core Tools.

It serves what the Functions host would, found by introspecting ``app.get_functions()``:
timers on their NCRONTAB schedules, queue triggers with host.json retry/poison semantics, and
HTTP triggers under ``/api/<route>``. Python API::

    runner = LocalRunner(function_app.app, host_json=Path("host.json"), environ={...})
    runner.fire_timer("mapping_timer")        # one run, real TimerRequest
    stats = runner.drain(timeout_s=60)        # process queues until empty
    runner.start(); ...; runner.stop()        # background: timers + queue polling + HTTP

``environ`` is merged into ``os.environ`` when the runner is built (function code reads app
settings from there, as under the worker) and the previous values are restored by ``stop()``;
a stopped runner is not restarted. CLI: ``python -m sandbox.runner --help``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import azure.functions as func

from sandbox.runner_functions import FunctionInfo, discover
from sandbox.runner_host import load_host_options, resolve_setting_refs
from sandbox.runner_http import HttpFrontend
from sandbox.runner_queues import Counters, DrainStats, QueueSender, QueueWorker
from sandbox.runner_timers import (
    TimerScheduler,
    fire,
    next_occurrence,
    schedule_of,
    schedule_zone,
)

logger = logging.getLogger(__name__)

__all__ = ["DrainStats", "FunctionInfo", "LocalRunner", "main"]

JOIN_S = 60.0  # how long stop() waits for a poller to finish its batch


class LocalRunner:
    """Runs the functions of one ``func.FunctionApp`` in-process."""

    def __init__(
        self,
        app: func.FunctionApp,
        *,
        host_json: Path | str | Mapping[str, Any],
        environ: Mapping[str, str] | None = None,
        function_key: str | None = None,
        http_port: int = 0,
    ) -> None:
        self.functions: dict[str, FunctionInfo] = discover(app)
        self.options = load_host_options(host_json)
        self._saved_env = {k: os.environ.get(k) for k in (environ or {})}
        os.environ.update(environ or {})
        self._function_key = function_key
        self._http_port = http_port
        self._counters = Counters()
        self._sender = QueueSender(self.options.queues)
        self._workers: list[QueueWorker] | None = None
        self._http: HttpFrontend | None = None
        self._scheduler: TimerScheduler | None = None
        self._stop = threading.Event()
        self._pollers: list[threading.Thread] = []
        self._last_fired: dict[str, datetime] = {}

    # -- discovery -------------------------------------------------------------------------
    def of_kind(self, kind: str) -> list[FunctionInfo]:
        return [f for f in self.functions.values() if f.kind == kind]

    def queue_names(self) -> list[str]:
        """The resolved queue names watched by queue-triggered functions."""
        return [resolve_setting_refs(str(f.trigger["queueName"])) for f in self.of_kind("queue")]

    @property
    def http_url(self) -> str:
        if self._http is None:
            raise RuntimeError("HTTP is not started; call start(http=True)")
        return f"http://127.0.0.1:{self._http.port}"

    # -- timers ----------------------------------------------------------------------------
    def fire_timer(self, name: str, past_due: bool = False) -> None:
        """Run a timer function now; its exception (if any) propagates to the caller."""
        info = self.functions.get(name)
        if info is None or info.kind != "timer":
            raise KeyError(f"no timer function named {name!r}")
        now = datetime.now(schedule_zone())
        next_due = next_occurrence(schedule_of(info), now)
        invocation = fire(info, past_due=past_due, last=self._last_fired.get(name), next_due=next_due)
        self._last_fired[name] = now
        self._sender.send(invocation)

    def _scheduled_fire(self, info: FunctionInfo, past_due: bool) -> None:
        try:
            self.fire_timer(info.name, past_due=past_due)
        except Exception as exc:
            logger.error("runner: timer %s failed: %s: %s", info.name, type(exc).__name__, exc)

    # -- queues ----------------------------------------------------------------------------
    def _queue_workers(self) -> list[QueueWorker]:
        if self._workers is None:
            self._workers = [
                QueueWorker(info, self.options.queues, self._counters, self._sender)
                for info in self.of_kind("queue")
            ]
        return self._workers

    def drain(self, timeout_s: float = 60.0, idle_s: float = 0.5) -> DrainStats:
        """Process queue messages until every watched queue stays empty for ``idle_s``.

        Messages waiting to be retried (invisible) count as not empty. When background polling
        runs, this only waits for quiescence. Returns the counts for this call only.
        """
        workers = self._queue_workers()
        before, _ = self._counters.snapshot()
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        timed_out = False
        while True:
            got = 0 if self._pollers else sum(w.poll_once() for w in workers)
            _, in_flight = self._counters.snapshot()
            busy = got or in_flight or any(w.pending() for w in workers)
            now = time.monotonic()
            quiet_since = None if busy else (quiet_since or now)
            if quiet_since is not None and now - quiet_since >= idle_s:
                break
            if now >= deadline:
                timed_out = True
                break
            if not got:
                time.sleep(0.1)
        after, _ = self._counters.snapshot()
        return DrainStats(
            processed=after.processed - before.processed,
            failed=after.failed - before.failed,
            poisoned=after.poisoned - before.poisoned,
            timed_out=timed_out,
        )

    def _log_poll_error(self, exc: Exception) -> None:
        logger.error("runner: queue polling error: %s: %s", type(exc).__name__, exc)

    # -- background ------------------------------------------------------------------------
    def start(self, http: bool = True, timers: bool = True, queues: bool = True) -> LocalRunner:
        if http and self._http is None:
            self._http = HttpFrontend(
                self.of_kind("http"),
                route_prefix=self.options.route_prefix,
                function_key=self._function_key,
                on_invoked=self._sender.send,
            )
            self._http.start(self._http_port)
            if self._function_key is None:
                logger.warning("runner: no function_key given; HTTP keys are not checked")
        if timers and self._scheduler is None:
            self._scheduler = TimerScheduler(self.of_kind("timer"), self._scheduled_fire)
            self._scheduler.start()
        if queues and not self._pollers:
            for worker in self._queue_workers():
                thread = threading.Thread(
                    target=worker.run,
                    args=(self._stop, self._log_poll_error),
                    name=f"poll-{worker.queue_name}",
                    daemon=True,
                )
                thread.start()
                self._pollers.append(thread)
        return self

    def stop(self) -> None:
        """Stop timers, polling and HTTP; wait for running handlers; restore the environment."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        for thread in self._pollers:
            thread.join(JOIN_S)
        if self._http is not None:
            self._http.stop()
            self._http = None
        for worker in self._workers or []:
            worker.close()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- CLI -----------------------------------------------------------------------------------
def _load_app(spec: str) -> func.FunctionApp:
    module_name, _, attr = spec.partition(":")
    app = getattr(importlib.import_module(module_name), attr or "app")
    if not isinstance(app, func.FunctionApp):
        raise SystemExit(f"{spec} is not a func.FunctionApp")
    return app


def _settings(path: Path) -> dict[str, str]:
    """local.settings.json ``Values`` not already set in the environment."""
    if not path.is_file():
        return {}
    values = json.loads(path.read_text(encoding="utf-8")).get("Values") or {}
    return {k: str(v) for k, v in values.items() if k not in os.environ}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sandbox.runner", description=__doc__.split("\n")[0])
    p.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
    p.add_argument("--host-json", default="host.json", type=Path)
    p.add_argument(
        "--settings",
        default="local.settings.json",
        type=Path,
        help="local.settings.json whose Values fill unset environment variables",
    )
    p.add_argument("--port", default=7071, type=int, help="HTTP port on 127.0.0.1")
    p.add_argument(
        "--function-key",
        default=os.environ.get("RUNNER_FUNCTION_KEY"),
        help="key required by FUNCTION/ADMIN routes (default $RUNNER_FUNCTION_KEY)",
    )
    p.add_argument(
        "--once",
        action="append",
        default=[],
        metavar="TIMER",
        help="fire this timer once (repeatable); then exit",
    )
    p.add_argument("--drain", action="store_true", help="drain the queues, then exit")
    p.add_argument("--timeout", default=300.0, type=float, help="drain timeout in seconds")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDK logs every request at INFO
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    runner = LocalRunner(
        _load_app(args.app),
        host_json=args.host_json,
        environ=_settings(args.settings),
        function_key=args.function_key,
        http_port=args.port,
    )
    with runner:
        if args.once or args.drain:
            return _run_once(runner, args.once, args.drain, args.timeout)
        runner.start()
        print(f"serving {sorted(runner.functions)} at {runner.http_url}; Ctrl-C to stop")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping")
    return 0


def _run_once(runner: LocalRunner, timers: list[str], drain: bool, timeout_s: float) -> int:
    failed_timers = []
    for name in timers:
        try:
            runner.fire_timer(name)
        except Exception as exc:
            logger.error("runner: timer %s failed: %s: %s", name, type(exc).__name__, exc)
            failed_timers.append(name)
    stats = runner.drain(timeout_s=timeout_s) if drain else DrainStats()
    print(
        f"fired={len(timers) - len(failed_timers)} timer_failures={len(failed_timers)} "
        f"processed={stats.processed} failed={stats.failed} poisoned={stats.poisoned} "
        f"timed_out={stats.timed_out}"
    )
    return 1 if failed_timers or stats.timed_out else 0


if __name__ == "__main__":
    sys.exit(main())
