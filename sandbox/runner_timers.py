"""Timer triggers: 6-field NCRONTAB schedules fired with a real ``TimerRequest``.

NCRONTAB is ``{second} {minute} {hour} {day} {month} {day-of-week}``; croniter 7 reads that
order with ``second_at_beginning=True``. Schedules are evaluated in UTC, or in the IANA zone named
by ``WEBSITE_TIME_ZONE`` when it names one. Not emulated: ``useMonitor`` (no schedule status is
persisted; ``Last`` is what this runner saw) and TimeSpan (``hh:mm:ss``) schedules.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from azure.functions.timer import TimerRequest
from croniter import croniter

from sandbox.runner_functions import FunctionInfo, Invocation, invoke
from sandbox.runner_host import resolve_setting_refs

logger = logging.getLogger(__name__)

PAST_DUE_TOLERANCE = timedelta(seconds=2)


def schedule_of(info: FunctionInfo, environ: Mapping[str, str] | None = None) -> str:
    """The function's NCRONTAB expression with ``%SETTING%`` references resolved."""
    expression = resolve_setting_refs(str(info.trigger["schedule"]), environ).strip()
    if len(expression.split()) != 6:
        raise ValueError(f"timer {info.name}: schedule {expression!r} is not a 6-field NCRONTAB expression")
    if not croniter.is_valid(expression, second_at_beginning=True):
        raise ValueError(f"timer {info.name}: invalid NCRONTAB expression {expression!r}")
    return expression


def schedule_zone(environ: Mapping[str, str] | None = None) -> tzinfo:
    env = os.environ if environ is None else environ
    name = env.get("WEBSITE_TIME_ZONE")
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("runner: WEBSITE_TIME_ZONE %r is not an IANA zone; using UTC", name)
        return ZoneInfo("UTC")


def next_occurrence(expression: str, after: datetime) -> datetime:
    return croniter(expression, after, second_at_beginning=True).get_next(datetime)


def fire(
    info: FunctionInfo,
    *,
    past_due: bool = False,
    last: datetime | None = None,
    next_due: datetime | None = None,
) -> Invocation:
    """Invoke a timer function once; exceptions propagate (timers are never retried)."""
    status = {
        "Last": (last or datetime.min.replace(tzinfo=UTC)).isoformat(),
        "Next": next_due.isoformat() if next_due else "",
        "LastUpdated": datetime.now(UTC).isoformat(),
    }
    request = TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})
    return invoke(info, request)


class TimerScheduler:
    """One thread per timer; a run that overruns its next occurrence skips it (like the host)."""

    def __init__(
        self,
        timers: list[FunctionInfo],
        on_fire: Callable[[FunctionInfo, bool], None],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._zone = schedule_zone(environ)
        self._plans = [(info, schedule_of(info, environ)) for info in timers]
        self._on_fire = on_fire
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for info, expression in self._plans:
            thread = threading.Thread(
                target=self._loop, args=(info, expression), name=f"timer-{info.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()

    def _loop(self, info: FunctionInfo, expression: str) -> None:
        if info.trigger.get("runOnStartup"):
            self._on_fire(info, False)
        due = next_occurrence(expression, datetime.now(self._zone))
        while not self._stop.wait(max(0.0, (due - datetime.now(self._zone)).total_seconds())):
            late = datetime.now(self._zone) - due > PAST_DUE_TOLERANCE
            self._on_fire(info, late)
            due = next_occurrence(expression, max(due, datetime.now(self._zone)))
