"""Injected misbehaviour (rate limits, 5xx bursts, slow or truncated responses, a revoked API
key) and the request counters tests assert API-call counts with.

Faults apply to the Merge API only, never to ``/_sandbox/``. Rate limits use real monotonic
time, because a client honours ``Retry-After`` by really waiting.
"""

import math
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any

#: Merge's published per-linked-account limits, requests per minute (CONTRACT §7).
PLAN_LIMITS = {"launch": 100, "professional": 400, "enterprise": 600}
_WINDOW_SECONDS = 60.0
#: Arrivals remembered per rate-limited account, for tests that check every window afterwards.
_ARRIVALS_KEPT = 10_000


@dataclass
class FaultRule:
    """Applies to matching requests while ``remaining`` (None = unlimited) lasts."""

    kind: str  # "error" | "slow" | "drop"
    account_id: str | None = None
    path_contains: str | None = None
    remaining: int | None = 1
    status: int = 500  # error
    seconds: float = 0.0  # slow
    fraction: float = 0.5  # drop: share of the body sent before the connection closes

    def matches(self, account_id: str | None, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.account_id is not None and self.account_id != account_id:
            return False
        return self.path_contains is None or self.path_contains in path


@dataclass
class Faults:
    """All live faults and counters of one sandbox."""

    rules: list[FaultRule] = field(default_factory=list)
    rate_limits: dict[str, int] = field(
        default_factory=dict
    )  # account id ("*" = all) -> calls per window
    rate_limit_window_s: float = _WINDOW_SECONDS  # Merge's minute; tests shorten it
    bad_api_key: bool = False
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    _windows: dict[str, deque[float]] = field(default_factory=dict)
    #: account id -> (monotonic arrival, path) of each call while the account is rate-limited
    arrivals: dict[str, deque[tuple[float, str]]] = field(default_factory=dict)

    def take(self, kind: str, account_id: str | None, path: str) -> FaultRule | None:
        """The first matching rule of ``kind``, consuming one of its uses."""
        for rule in self.rules:
            if rule.kind == kind and rule.matches(account_id, path):
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule
        return None

    def throttle_seconds(
        self, account_id: str, now: float | None = None, path: str = ""
    ) -> int | None:
        """Seconds until the account may call again, or None when this call is within limits."""
        limit = self.rate_limits.get(account_id, self.rate_limits.get("*"))
        if not limit:
            return None
        moment = time.monotonic() if now is None else now
        log = self.arrivals.setdefault(account_id, deque(maxlen=_ARRIVALS_KEPT))
        log.append((moment, path))
        span = self.rate_limit_window_s
        window = self._windows.setdefault(account_id, deque())
        while window and window[0] <= moment - span:
            window.popleft()
        if len(window) >= limit:
            return max(1, math.ceil(window[0] + span - moment))
        window.append(moment)
        return None

    def count(self, account_id: str | None, path: str) -> None:
        self.requests[(account_id or "-", path)] += 1

    def counters(self) -> list[dict[str, Any]]:
        return [
            {"account_id": account, "path": path, "count": count}
            for (account, path), count in sorted(self.requests.items())
        ]

    def clear(self) -> None:
        self.rules.clear()
        self.rate_limits.clear()
        self.bad_api_key = False
        self.rate_limit_window_s = _WINDOW_SECONDS
        self._windows.clear()
        self.arrivals.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "rules": [asdict(r) for r in self.rules],
            "rate_limits": dict(self.rate_limits),
            "rate_limit_window_seconds": self.rate_limit_window_s,
            "bad_api_key": self.bad_api_key,
        }
