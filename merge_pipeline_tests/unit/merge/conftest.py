"""Shared fakes for the Merge client tests: settings, a clock that only moves when slept on,
and a scripted ``httpx.MockTransport`` that records what was sent."""

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from merge_pipeline.catalog import CommonModel, load_catalog
from merge_pipeline.merge import (
    DEFAULT_AUTH_RULES,
    AccountCredentials,
    AuthRules,
    CallStats,
    MergeClient,
    RateLimiterRegistry,
    RetryPolicy,
)
from merge_pipeline.merge.circuit import CircuitBreaker
from merge_pipeline.settings import Settings

API_KEY = "sk-SENTINEL-KEY-123"
ACCOUNT_TOKEN = "tok-SENTINEL-456"
ACCOUNT_ID = "la-0001"
BASE_URL = "https://merge.test/api"
DATE = "Tue, 03 Mar 2026 10:20:30 GMT"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": SecretStr(API_KEY),
        "token_encryption_key": SecretStr(base64.urlsafe_b64encode(b"k" * 32).decode()),
        "base_url": BASE_URL,
        "max_retries": 3,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(
        status, content=orjson.dumps(body), headers={"Date": DATE, **(headers or {})}
    )


def page_body(results: list[dict[str, Any]], next_cursor: str | None = None) -> dict[str, Any]:
    return {"next": next_cursor, "previous": None, "results": results}


class FakeClock:
    """Monotonic time that advances only when someone sleeps; remembers every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Script:
    """Answers requests in order from ``replies`` (the last one repeats) and records them."""

    replies: list[Reply]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        reply = self.replies[min(len(self.requests) - 1, len(self.replies) - 1)]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)

    @property
    def params(self) -> list[dict[str, str]]:
        return [dict(r.url.params) for r in self.requests]


@dataclass
class Harness:
    clock: FakeClock
    registry: RateLimiterRegistry
    stats: CallStats
    #: this test's own circuit breaker (the process's one is shared by base URL)
    breaker: CircuitBreaker

    def client(
        self,
        script: Callable[[httpx.Request], httpx.Response],
        *,
        settings: Settings | None = None,
        policy: RetryPolicy | None = None,
        auth_rules: AuthRules = DEFAULT_AUTH_RULES,
    ) -> MergeClient:
        return MergeClient(
            settings or make_settings(),
            transport=httpx.MockTransport(script),
            stats=self.stats,
            rate_limiters=self.registry,
            retry_policy=policy
            or RetryPolicy(
                max_retries=3,
                initial_backoff_s=0.5,
                max_backoff_s=4.0,
                jitter_s=0.0,
                max_total_wait_s=60.0,
            ),
            auth_rules=auth_rules,
            sleep=self.clock.sleep,
            clock=self.clock.monotonic,
            breaker=self.breaker,
        )


@pytest.fixture
def harness() -> Harness:
    clock = FakeClock()
    registry = RateLimiterRegistry(clock=clock.monotonic, sleep=clock.sleep)
    breaker = CircuitBreaker("test", clock=clock.monotonic)
    return Harness(clock=clock, registry=registry, stats=CallStats(), breaker=breaker)


@pytest.fixture
def account() -> AccountCredentials:
    return AccountCredentials(ACCOUNT_ID, SecretStr(ACCOUNT_TOKEN))


@pytest.fixture
def employee() -> CommonModel:
    return load_catalog().model("hris.Employee")
