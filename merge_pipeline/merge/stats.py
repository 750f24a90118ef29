"""Counters of what a sync cost in API calls, so it can be reported and tuned."""

import threading
from dataclasses import dataclass, field, fields


@dataclass
class CallStats:
    """Thread-safe tallies of one sync's traffic with Merge; the client increments them.

    ``api_calls`` counts every request handed to the transport, retries included (also those that
    then failed in transit); ``retries`` counts repeats; ``rate_limited``, ``server_errors`` and
    ``transport_errors`` count failed attempts by cause, whether or not a retry then succeeded.
    """

    api_calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    bytes: int = 0
    rate_limit_wait_s: float = 0.0
    backoff_wait_s: float = 0.0
    cursor_cycles: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _add(self, name: str, amount: float) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def count_call(self) -> None:
        self._add("api_calls", 1)

    def count_retry(self, wait_s: float) -> None:
        with self._lock:
            self.retries += 1
            self.backoff_wait_s += wait_s

    def count_rate_limited(self) -> None:
        self._add("rate_limited", 1)

    def count_server_error(self) -> None:
        self._add("server_errors", 1)

    def count_transport_error(self) -> None:
        self._add("transport_errors", 1)

    def count_cursor_cycle(self) -> None:
        self._add("cursor_cycles", 1)

    def add_bytes(self, size: int) -> None:
        self._add("bytes", size)

    def add_rate_limit_wait(self, wait_s: float) -> None:
        if wait_s > 0:
            self._add("rate_limit_wait_s", wait_s)

    def snapshot(self) -> dict[str, int | float]:
        """A consistent copy of every counter, e.g. for Dagster result metadata."""
        with self._lock:
            return {
                f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")
            }
