"""A circuit breaker per Merge base URL: when the host cannot be reached, stop calling it.

Retries are per call (``retry.py``): right for a 429 or a 5xx, which concern one account or one
request, but wrong when nothing listens at the base URL or its name does not resolve. Then every
(account, model) pair would retry on its own, and a sync of 76 pairs took 16 minutes to say they
all failed. A failure *to connect* (the request never reached Merge) is about the host, so it is
counted per base URL, shared by every client and thread of the process; after ``threshold`` of
them in a row, with no call getting through in between, the circuit opens: every call to that
URL fails at once with :class:`~merge_pipeline.merge.errors.MergeUnreachable` and is not retried.
After ``cooldown_s`` one call may probe again (half open); its success closes the circuit.

Hand-written rather than a library (pybreaker, circuitbreaker): they count every exception of
the wrapped function as a failure, while here only connect failures may count (a 429 or a 5xx
must keep its own backoff), and we want the transitions as pure functions to test them as a
table. The whole state is three fields.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum


class Decision(Enum):
    """What a call may do now."""

    SEND = "send"
    #: the circuit is open: fail without sending
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """How many connect failures in a row open the circuit, and how long it then stays open."""

    threshold: int = 3
    cooldown_s: float = 60.0


@dataclass(frozen=True, slots=True)
class BreakerState:
    """Connect failures in a row, when the circuit opened (None: closed) and the last reason."""

    failures: int = 0
    opened_at: float | None = None
    reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None


CLOSED = BreakerState()


def decide(state: BreakerState, now: float, policy: BreakerPolicy) -> Decision:
    """Whether a call may be sent: always while closed; once per cooldown while open."""
    if state.opened_at is None or now - state.opened_at >= policy.cooldown_s:
        return Decision.SEND
    return Decision.REFUSE


def after_success(state: BreakerState) -> BreakerState:
    """Any answer from the host (even a 429 or a 500) proves it reachable: close the circuit."""
    return CLOSED if state != CLOSED else state


def after_connect_failure(
    state: BreakerState, now: float, reason: str, policy: BreakerPolicy
) -> BreakerState:
    """One more failure to connect; the circuit opens (again) at ``threshold`` in a row."""
    failures = state.failures + 1
    if failures >= policy.threshold:
        return BreakerState(failures=failures, opened_at=now, reason=reason)
    return replace(state, failures=failures, reason=reason)


class CircuitBreaker:
    """The thread-safe holder of one base URL's :class:`BreakerState`."""

    def __init__(
        self,
        base_url: str,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    def allows(self) -> bool:
        """Whether a call may be sent now (False: the host was unreachable moments ago)."""
        with self._lock:
            return decide(self._state, self._clock(), self.policy) is Decision.SEND

    def record_success(self) -> None:
        with self._lock:
            self._state = after_success(self._state)

    def record_connect_failure(self, reason: str) -> bool:
        """Count a failure to connect; True when the circuit is now open."""
        with self._lock:
            self._state = after_connect_failure(self._state, self._clock(), reason, self.policy)
            return self._state.is_open


_registry: dict[str, CircuitBreaker] = {}
_registry_lock = threading.Lock()


def breaker_for(base_url: str) -> CircuitBreaker:
    """This process's breaker for ``base_url``, shared by every client that calls it."""
    with _registry_lock:
        breaker = _registry.get(base_url)
        if breaker is None:
            breaker = _registry[base_url] = CircuitBreaker(base_url)
        return breaker
