"""The circuit breaker per base URL: pure transitions as a table, then the client over it."""

import httpx
import pytest

from merge_pipeline.merge import MergeRateLimited, MergeServerError, MergeUnreachable
from merge_pipeline.merge.circuit import (
    CLOSED,
    BreakerPolicy,
    BreakerState,
    Decision,
    after_connect_failure,
    after_success,
    decide,
)
from merge_pipeline_tests.unit.merge.conftest import Script, json_response, page_body

POLICY = BreakerPolicy(threshold=3, cooldown_s=60.0)


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [
        (CLOSED, 0.0, Decision.SEND),
        (BreakerState(failures=2, reason="refused"), 0.0, Decision.SEND),
        (BreakerState(failures=3, opened_at=100.0, reason="refused"), 100.0, Decision.REFUSE),
        (BreakerState(failures=3, opened_at=100.0, reason="refused"), 159.9, Decision.REFUSE),
        # after the cooldown one call may probe the host again (half open)
        (BreakerState(failures=3, opened_at=100.0, reason="refused"), 160.0, Decision.SEND),
    ],
)
def test_decide(state: BreakerState, now: float, expected: Decision) -> None:
    assert decide(state, now, POLICY) is expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (CLOSED, BreakerState(failures=1, reason="r")),
        (BreakerState(failures=1, reason="x"), BreakerState(failures=2, reason="r")),
        (BreakerState(failures=2, reason="x"), BreakerState(failures=3, opened_at=5.0, reason="r")),
        # a failed probe opens the circuit again from now
        (
            BreakerState(failures=3, opened_at=1.0, reason="x"),
            BreakerState(failures=4, opened_at=5.0, reason="r"),
        ),
    ],
)
def test_after_connect_failure(state: BreakerState, expected: BreakerState) -> None:
    assert after_connect_failure(state, 5.0, "r", POLICY) == expected


@pytest.mark.parametrize(
    "state",
    [CLOSED, BreakerState(failures=2, reason="x"), BreakerState(3, opened_at=1.0, reason="x")],
)
def test_any_answer_closes_the_circuit(state: BreakerState) -> None:
    assert after_success(state) == CLOSED


def test_refused_connections_stop_every_call_after_the_threshold(harness, account, employee):
    script = Script([httpx.ConnectError("[Errno 111] Connection refused")])
    with harness.client(script) as client:
        with pytest.raises(MergeUnreachable) as first:
            list(client.iter_pages(account, employee, modified_after=None))
        assert len(script.requests) == 3  # the threshold, not the 4 attempts of the policy
        # the next call (another account's, another model's) is refused without sending
        with pytest.raises(MergeUnreachable) as second:
            client.account_details(account, "hris")
    assert len(script.requests) == 3
    assert str(second.value) == str(first.value)
    assert str(first.value).startswith("Merge at merge.test is unreachable (ConnectError: ")


def test_dns_failures_count_as_unreachable(harness, account, employee):
    script = Script([httpx.ConnectError("[Errno -2] Name or service not known")])
    with harness.client(script) as client, pytest.raises(MergeUnreachable, match="not known"):
        list(client.iter_pages(account, employee, modified_after=None))


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (json_response({"detail": "slow"}, 429), MergeRateLimited),
        (json_response({"detail": "down"}, 503), MergeServerError),
    ],
)
def test_429_and_5xx_keep_their_own_backoff(harness, account, employee, reply, error):
    script = Script([reply])
    with harness.client(script) as client, pytest.raises(error):
        list(client.iter_pages(account, employee, modified_after=None))
    assert (len(script.requests), harness.breaker.state) == (4, CLOSED)


def test_an_answer_between_refusals_resets_the_count(harness, account, employee):
    refused = httpx.ConnectError("refused")
    ok = json_response(page_body([{"id": "1"}]))
    script = Script([refused, refused, ok, refused, refused, ok])
    with harness.client(script) as client:
        list(client.iter_pages(account, employee, modified_after=None))
        list(client.iter_pages(account, employee, modified_after=None))
    assert harness.breaker.state == CLOSED


def test_after_the_cooldown_a_probe_that_gets_through_closes_the_circuit(
    harness, account, employee
):
    refused = httpx.ConnectError("refused")
    script = Script([refused, refused, refused, json_response(page_body([{"id": "1"}]))])
    with harness.client(script) as client:
        with pytest.raises(MergeUnreachable):
            list(client.iter_pages(account, employee, modified_after=None))
        harness.clock.now += harness.breaker.policy.cooldown_s
        pages = list(client.iter_pages(account, employee, modified_after=None))
    assert (len(pages), harness.breaker.state) == (1, CLOSED)
