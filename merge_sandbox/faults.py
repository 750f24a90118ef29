"""Injected misbehaviour (rate limits, 5xx bursts, slow or truncated responses, garbled answers,
a revoked API key) and the request counters tests assert API-call counts with.

Faults apply to the Merge API only, never to ``/_sandbox/``. Rate limits use real monotonic
time, because a client honours ``Retry-After`` by really waiting.
"""

import json
import math
import time
from collections import Counter, deque
from collections.abc import Callable
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

    kind: str  # "error" | "slow" | "drop" | "garble"
    account_id: str | None = None
    path_contains: str | None = None
    remaining: int | None = 1
    status: int = 500  # error
    seconds: float = 0.0  # slow
    fraction: float = 0.5  # drop: share of the body sent before the connection closes
    shape: str = "invalid_json"  # garble: one of GARBLES, what the 200 answer's body becomes
    after: int = 0  # matching requests let through untouched before the rule applies

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
                if rule.after > 0:  # this request passes; the rule waits for a later one
                    rule.after -= 1
                    continue
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


def _rewrite(body: bytes, change: Callable[[Any], Any]) -> bytes:
    try:
        return json.dumps(change(json.loads(body))).encode()
    except ValueError:  # not JSON to begin with: nothing to rewrite
        return body


def _set(key: str, value: Any) -> Callable[[Any], Any]:
    return lambda data: {**data, key: value} if isinstance(data, dict) else data


def _without(key: str) -> Callable[[Any], Any]:
    return lambda data: (
        {k: v for k, v in data.items() if k != key} if isinstance(data, dict) else data
    )


def _enormous(data: Any) -> Any:
    """The page with 2,000 more records than asked for (copies of its own, fresh ids), as a
    Merge that ignored ``page_size`` would send."""
    if not isinstance(data, dict) or not data.get("results"):
        return data
    extra = [
        {**record, "id": f"{record['id']}-copy-{n}"}
        for n in range(2_000 // len(data["results"]) + 1)
        for record in data["results"]
    ]
    return {**data, "results": data["results"] + extra[:2_000]}


def _records_as(change: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            return {**data, "results": [change(r) for r in data["results"]]}
        return data

    return apply


#: What a proxy, a bug or a new Merge release could turn a 200 answer into: shape -> rewrite of
#: the body the sandbox would have sent.
GARBLES: dict[str, Callable[[bytes], bytes]] = {
    "invalid_json": lambda body: body[: max(1, len(body) // 2)],
    "html": lambda body: b"<html><body>502 Bad Gateway</body></html>",
    "nul_bytes": lambda body: body.replace(b",", b",\x00", 1),
    "not_an_object": lambda body: b"[]",
    "results_missing": lambda body: _rewrite(body, _without("results")),
    "results_not_a_list": lambda body: _rewrite(body, _set("results", {"id": "not-a-list"})),
    "results_null": lambda body: _rewrite(body, _set("results", None)),
    "next_not_a_string": lambda body: _rewrite(body, _set("next", 12345)),
    "next_an_object": lambda body: _rewrite(body, _set("next", {"cursor": "x"})),
    "next_url_without_cursor": lambda body: _rewrite(
        body, _set("next", "https://api.merge.dev/api/hris/v1/employees?page_size=2")
    ),
    "duplicate_records": lambda body: _rewrite(
        body, lambda d: {**d, "results": d["results"] * 2} if isinstance(d, dict) else d
    ),
    "enormous_page": lambda body: _rewrite(body, _enormous),
    "records_not_objects": lambda body: _rewrite(body, _records_as(lambda r: "record")),
    "records_without_id": lambda body: _rewrite(
        body, _records_as(lambda r: {k: v for k, v in r.items() if k != "id"})
    ),
    "modified_at_wrong_type": lambda body: _rewrite(
        body, _records_as(lambda r: {**r, "modified_at": 1234})
    ),
    "remote_was_deleted_wrong_type": lambda body: _rewrite(
        body, _records_as(lambda r: {**r, "remote_was_deleted": "maybe"})
    ),
}
