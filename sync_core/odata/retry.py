"""HTTP retry policy: a few attempts within a bounded total time, honouring ``Retry-After``.

This is the first of the two retry layers (design rule 5); the queue's redelivery is the second.
The policy only computes delays; ``ODataClient`` runs the loop.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from sync_core.errors import TransientError

DEFAULT_RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the HTTP layer retries before giving up with ``TransientError``.

    ``max_attempts`` counts the first try. ``max_total_seconds`` caps the time spent waiting between
    attempts, measured from the first try. Without ``Retry-After`` the delay is exponential from
    ``base_delay`` (capped at ``max_delay``) with jitter.
    """

    max_attempts: int = 5
    max_total_seconds: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    retry_statuses: frozenset[int] = field(default=DEFAULT_RETRY_STATUSES)

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Exponential delay after failed attempt ``attempt`` (1-based), with 'equal jitter'."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(attempt - 1, 0)))
        return float(ceiling / 2 + rand() * ceiling / 2)

    def next_delay(
        self,
        attempt: int,
        *,
        retry_after: float | None,
        remaining: float,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` when no further attempt is allowed.

        ``attempt`` is the number of the attempt that just failed (1-based); ``remaining`` is what
        is left of ``max_total_seconds``. A ``Retry-After`` longer than the remaining budget means
        "stop now" (the caller raises with ``retry_after`` so the queue can wait instead).
        """
        if attempt >= self.max_attempts or remaining <= 0:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= remaining else None
        return min(self.backoff(attempt, rand), remaining)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: an integer (or decimal) number, or an HTTP-date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def with_retry_after(error: TransientError, retry_after: float | None) -> TransientError:
    """Attach ``retry_after`` (seconds or ``None``) to a transient error and return it."""
    error.retry_after = retry_after
    return error
