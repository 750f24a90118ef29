"""Injected faults: rate limits, 5xx bursts, slow and truncated responses, a revoked key."""

import time

import httpx
import pytest

from merge_pipeline_tests.sandbox.helpers import account_of, client


def test_rate_limit_gives_429_with_retry_after(fresh):
    account = account_of(fresh, "hris")
    fresh.admin.rate_limit(per_minute=3, account_id=account.id)
    with client(fresh, account) as api:
        statuses = [api.get("/hris/v1/employees").status_code for _ in range(3)]
        limited = api.get("/hris/v1/employees")
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    seconds = int(limited.headers["Retry-After"])
    assert 1 <= seconds <= 60
    assert limited.json() == {
        "detail": f"Request was throttled. Expected available in {seconds} seconds."
    }


def test_rate_limit_is_per_account(fresh):
    hris, ats = account_of(fresh, "hris"), account_of(fresh, "ats")
    fresh.admin.rate_limit(plan="launch", account_id=hris.id)
    fresh.admin.rate_limit(per_minute=1, account_id=ats.id)
    with client(fresh, ats) as api:
        assert api.get("/ats/v1/candidates").status_code == 200
        assert api.get("/ats/v1/candidates").status_code == 429
    with client(fresh, hris) as api:
        assert api.get("/hris/v1/employees").status_code == 200


def test_error_burst_returns_n_server_errors_then_recovers(fresh):
    account = account_of(fresh, "hris")
    fresh.admin.error_burst(2, status=503)
    fresh.admin.error_burst(1, status=502)
    with client(fresh, account) as api:
        responses = [api.get("/hris/v1/employees") for _ in range(4)]
    assert [r.status_code for r in responses] == [503, 503, 502, 200]
    assert all(isinstance(r.json()["detail"], str) for r in responses[:3])


def test_error_burst_can_target_a_path(fresh):
    fresh.admin.error_burst(1, status=500, path_contains="/employments")
    with client(fresh, account_of(fresh, "hris")) as api:
        assert api.get("/hris/v1/employees").status_code == 200
        assert api.get("/hris/v1/employments").status_code == 500
        assert api.get("/hris/v1/employments").status_code == 200


def test_slow_responses_are_delayed(fresh):
    fresh.admin.slow_responses(0.6, count=1)
    with client(fresh, account_of(fresh, "hris")) as api:
        started = time.monotonic()
        assert api.get("/hris/v1/employees").status_code == 200
        slow = time.monotonic() - started
        started = time.monotonic()
        api.get("/hris/v1/employees")
        fast = time.monotonic() - started
    assert slow >= 0.6 > fast


def test_slow_response_times_out_a_client(fresh):
    fresh.admin.slow_responses(1.5, count=1)
    with client(fresh, account_of(fresh, "hris")) as api, pytest.raises(httpx.ReadTimeout):
        api.get("/hris/v1/employees", timeout=0.3)


def test_dropped_connection_cuts_the_body(fresh):
    fresh.admin.drop_connections(count=1, fraction=0.3)
    with client(fresh, account_of(fresh, "hris")) as api:
        with pytest.raises(httpx.RemoteProtocolError):
            api.get("/hris/v1/employees")
        assert api.get("/hris/v1/employees").status_code == 200


def test_bad_api_key_mode_rejects_every_key(fresh):
    fresh.admin.bad_api_key(True)
    with client(fresh, account_of(fresh, "hris")) as api:
        response = api.get("/hris/v1/employees")
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid API key."}
        fresh.admin.bad_api_key(False)
        assert api.get("/hris/v1/employees").status_code == 200


def test_request_counters_per_account_and_path(fresh):
    account = account_of(fresh, "hris")
    fresh.admin.reset_request_counts()
    with client(fresh, account) as api:
        for _ in range(3):
            api.get("/hris/v1/employees")
        api.get("/hris/v1/sync-status")
    assert fresh.admin.count_requests(account.id) == 4
    assert fresh.admin.count_requests(account.id, "/hris/v1/employees") == 3
    assert fresh.admin.count_requests(path_contains="/sync-status") == 1


def test_error_texts_are_configurable(fresh):
    fresh.admin.set_error_texts(not_found="Nothing here.")
    with client(fresh, account_of(fresh, "hris")) as api:
        assert api.get("/hris/v1/employees/nope").json() == {"detail": "Nothing here."}


def test_clearing_faults_restores_normal_service(fresh):
    fresh.admin.error_burst(100)
    fresh.admin.rate_limit(per_minute=1)
    fresh.admin.clear_faults()
    with client(fresh, account_of(fresh, "hris")) as api:
        assert {api.get("/hris/v1/employees").status_code for _ in range(3)} == {200}


def test_injected_429_looks_like_a_throttle(fresh):
    fresh.admin.error_burst(1, status=429)
    with client(fresh, account_of(fresh, "hris")) as api:
        response = api.get("/hris/v1/employees")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json()["detail"].startswith("Request was throttled.")
