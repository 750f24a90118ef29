from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from merge_pipeline.merge import (
    MergeBadRequest,
    MergeNotFound,
    MergeRateLimited,
    MergeServerError,
    MergeTransportError,
    RetryPolicy,
)
from merge_pipeline.merge.retry import parse_retry_after
from merge_pipeline_tests.unit.merge.conftest import Script, json_response, page_body

OK = json_response(page_body([{"id": "1"}]))


def _detail(status: int, detail: str, **headers: str) -> httpx.Response:
    return json_response({"detail": detail}, status, headers)


class _BodyCutOff(httpx.SyncByteStream):
    """A body whose connection drops after the first chunk."""

    def __iter__(self) -> Iterator[bytes]:
        yield b'{"next": null, "results": [{"id": '
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def _list(client, account, employee):
    return list(client.iter_pages(account, employee, modified_after=None))


def test_429_is_retried_after_waiting_what_retry_after_asks(harness, account, employee):
    script = Script([_detail(429, "Rate limited", **{"Retry-After": "7"}), OK])
    with harness.client(script) as client:
        (page,) = _list(client, account, employee)
    assert page.results == [{"id": "1"}]
    assert len(script.requests) == 2
    assert harness.clock.sleeps == [7.0]


def test_retry_after_as_http_date_is_relative_to_the_server_date(harness, account, employee):
    script = Script(
        [_detail(429, "slow down", **{"Retry-After": "Tue, 03 Mar 2026 10:20:42 GMT"}), OK]
    )
    with harness.client(script) as client:
        _list(client, account, employee)
    assert harness.clock.sleeps == [12.0]


def test_backoff_wins_when_longer_than_retry_after(harness, account, employee):
    policy = RetryPolicy(max_retries=2, initial_backoff_s=5.0, jitter_s=0.0)
    script = Script([_detail(429, "x", **{"Retry-After": "1"}), OK])
    with harness.client(script, policy=policy) as client:
        _list(client, account, employee)
    assert harness.clock.sleeps == [5.0]


def test_5xx_is_retried_then_raises_server_error_with_path_and_detail(harness, account, employee):
    script = Script([_detail(503, "Service unavailable")])
    with harness.client(script) as client, pytest.raises(MergeServerError) as caught:
        _list(client, account, employee)
    assert len(script.requests) == 4  # max_retries=3
    assert harness.clock.sleeps == [0.5, 1.0, 2.0]
    message = str(caught.value)
    assert "GET /hris/v1/employees -> 503: Service unavailable" in message
    assert "after 4 attempts" in message
    assert caught.value.attempts == 4


def test_5xx_then_success_returns_the_page(harness, account, employee):
    script = Script([_detail(500, "boom"), _detail(502, "bad gateway"), OK])
    with harness.client(script) as client:
        (page,) = _list(client, account, employee)
    assert page.results == [{"id": "1"}]


def test_connection_dropped_mid_body_is_retried(harness, account, employee):
    script = Script([httpx.Response(200, stream=_BodyCutOff()), OK])
    with harness.client(script) as client:
        (page,) = _list(client, account, employee)
    assert page.results == [{"id": "1"}]
    assert len(script.requests) == 2


def test_truncated_json_body_is_retried(harness, account, employee):
    script = Script([httpx.Response(200, content=b'{"next": null, "resu'), OK])
    with harness.client(script) as client:
        (page,) = _list(client, account, employee)
    assert page.results == [{"id": "1"}]


def test_timeouts_exhaust_into_a_transport_error(harness, account, employee):
    script = Script([httpx.ReadTimeout("timed out")])
    with harness.client(script) as client, pytest.raises(MergeTransportError) as caught:
        _list(client, account, employee)
    assert len(script.requests) == 4
    assert "ReadTimeout" in str(caught.value)
    assert caught.value.status is None


@pytest.mark.parametrize(("status", "error"), [(400, MergeBadRequest), (404, MergeNotFound)])
def test_400_and_404_are_not_retried(harness, account, employee, status, error):
    script = Script([_detail(status, "Not supported by this integration.")])
    with harness.client(script) as client, pytest.raises(error) as caught:
        _list(client, account, employee)
    assert len(script.requests) == 1
    assert harness.clock.sleeps == []
    assert caught.value.detail == "Not supported by this integration."


def test_gives_up_when_retry_after_exceeds_the_total_wait_cap(harness, account, employee):
    script = Script([_detail(429, "later", **{"Retry-After": "3600"}), OK])
    with harness.client(script) as client, pytest.raises(MergeRateLimited) as caught:
        _list(client, account, employee)
    assert len(script.requests) == 1
    assert caught.value.retry_after == 3600.0


def test_post_is_not_retried_on_5xx_but_is_on_429(harness):
    created = json_response({"link_token": "lt"})
    script = Script([_detail(503, "down")])
    with harness.client(script) as client, pytest.raises(MergeServerError):
        client.create_link_token("hris", "o1", "Org", "a@b.c", ["hris"])
    assert len(script.requests) == 1

    script = Script([_detail(429, "slow", **{"Retry-After": "1"}), created])
    with harness.client(script) as client:
        assert (
            client.create_link_token("hris", "o1", "Org", "a@b.c", ["hris"])["link_token"] == "lt"
        )
    assert len(script.requests) == 2


def test_parse_retry_after_forms():
    now = datetime(2026, 3, 3, 10, 20, 30, tzinfo=UTC)
    assert parse_retry_after("12", now=now) == 12.0
    assert parse_retry_after("Tue, 03 Mar 2026 10:21:00 GMT", now=now) == 30.0
    assert parse_retry_after("Tue, 03 Mar 2026 10:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


def test_a_huge_retry_after_pauses_the_account_no_longer_than_the_wait_cap(
    harness, account, employee
):
    """A Retry-After of a day must not stall the account's later calls for a day."""
    script = Script([json_response({"detail": "slow"}, 429, {"Retry-After": "86400"})])
    with harness.client(script) as client, pytest.raises(MergeRateLimited):
        list(client.iter_pages(account, employee, modified_after=None))
    limiter = harness.registry.for_account(account.linked_account_id, 100)
    assert limiter.acquire() <= 60.0  # the harness policy's max_total_wait_s
