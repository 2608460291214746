"""The retry policy, in one place: what is retried, how long to wait, and when to give up."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from schemas.errors import RepecHarvestError, RetryBudgetExhausted

log = logging.getLogger(__name__)

T = TypeVar("T")

#: HTTP statuses that mean "try again later".
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

#: Called before each retry with (attempt, seconds to wait, error).
RetryHook = Callable[[int, float, RepecHarvestError], None]


def should_retry(error: BaseException) -> bool:
    """Transient errors (network, 408/429/5xx, not-OAI placeholder pages) are retried."""
    return isinstance(error, RepecHarvestError) and error.transient


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in either form: delta-seconds or an HTTP date. None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, ``Retry-After`` honoured up to a cap, and a
    budget of retries per run."""

    max_attempts: int = 5
    base_delay: float = 2.0
    max_delay: float = 120.0
    max_retry_after: float = 600.0
    budget: int = 200

    def __post_init__(self) -> None:
        self.spent = 0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def charge(self) -> None:
        """Spend one retry from the run's budget, or stop the run."""
        if self.spent >= self.budget:
            raise RetryBudgetExhausted(
                f"retry budget of {self.budget} spent; stopping, all committed pages are kept"
            )
        self.spent += 1


def call_with_retries(
    policy: RetryPolicy,
    attempt_once: Callable[[], T],
    sleep: Callable[[float], None] = time.sleep,
    on_retry: RetryHook | None = None,
) -> T:
    """Call ``attempt_once`` until it succeeds, retrying while its error is transient."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return attempt_once()
        except RepecHarvestError as error:
            if not should_retry(error) or attempt >= policy.max_attempts:
                raise
            pause = policy.delay(attempt, getattr(error, "retry_after", None))
            policy.charge()
            log.warning("%s; retry %d in %.1fs", error, attempt, pause)
            if on_retry:
                on_retry(attempt, pause, error)
            sleep(pause)
