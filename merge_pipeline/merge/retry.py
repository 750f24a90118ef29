"""When and how long to wait before repeating a failed call to Merge.

Merge says GETs are always safe to retry, with a cap (CONTRACT.md §7). We retry 429, 500, 502,
503, 504, timeouts and dropped connections with exponential backoff plus jitter, waiting at least
what ``Retry-After`` asks. Other 4xx are permanent; retrying them would also count towards Merge's
per-IP limit on failing requests (more than 20 failures >= 400 in 10 s).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from merge_pipeline.merge.errors import MergeError
from merge_pipeline.settings import Settings

#: Statuses worth repeating a request for (429 and transient server failures).
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How persistent to be: attempts, backoff curve and a cap on the total time spent waiting."""

    max_retries: int = 6
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    jitter_s: float = 0.5
    max_total_wait_s: float = 300.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetryPolicy":
        return cls(max_retries=settings.max_retries)


class TransientFailure(Exception):
    """An attempt that failed in a way worth repeating; holds the error to raise if we give up."""

    def __init__(self, error: MergeError, *, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class wait_at_least_retry_after(wait_base):  # noqa: N801 - tenacity names its waits like this
    """The backoff, or what the failed attempt's ``Retry-After`` asked if that is longer."""

    def __init__(self, backoff: wait_base) -> None:
        self.backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = self.backoff(retry_state)
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        if isinstance(failure, TransientFailure) and failure.retry_after is not None:
            wait = max(wait, failure.retry_after)
        return wait


class stop_when_total_wait_exceeds(stop_base):  # noqa: N801 - tenacity's naming
    """Give up rather than wait more than ``max_wait_s`` in total (sleeps, not request time)."""

    def __init__(self, max_wait_s: float) -> None:
        self.max_wait_s = max_wait_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.idle_for + retry_state.upcoming_sleep > self.max_wait_s


def build_retrying(
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None],
    before_sleep: Callable[[RetryCallState], None],
) -> Retrying:
    """A tenacity controller retrying :class:`TransientFailure` under ``policy``.

    It re-raises the last :class:`TransientFailure` when it gives up (``reraise``): the caller
    unwraps it, so no tenacity ``RetryError`` (which holds every attempt) reaches a traceback.
    """
    backoff = wait_exponential(
        multiplier=policy.initial_backoff_s, max=policy.max_backoff_s
    ) + wait_random(0, policy.jitter_s)
    return Retrying(
        retry=retry_if_exception_type(TransientFailure),
        wait=wait_at_least_retry_after(backoff),
        stop=stop_after_attempt(policy.max_retries + 1)
        | stop_when_total_wait_exceeds(policy.max_total_wait_s),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
