"""``merge-sandbox serve`` as a subprocess: fast start with a million records, clean stop."""

import os

import httpx
import pytest

from merge_sandbox.testing import sandbox_process


@pytest.mark.slow
def test_serve_starts_with_a_million_records_in_under_a_minute():
    with sandbox_process(accounts=10, records=1_000_000) as sb:
        assert sb.startup_seconds < 60
        assert sum(a.record_count for a in sb.accounts) == 1_000_000
        line = sb.process.stdout.readline().decode() if sb.process.stdout else ""
        assert sb.base_url in line and "accounts:" in line
        account = sb.accounts[0]
        headers = {
            "Authorization": f"Bearer {sb.api_key}",
            "X-Account-Token": account.account_token,
        }
        response = httpx.get(
            f"{sb.base_url}/hris/v1/employees", headers=headers, params={"page_size": 100}
        )
        assert response.status_code == 200 and len(response.json()["results"]) == 100
        pid = sb.process.pid
    assert sb.process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.slow
def test_killed_server_drops_clients_and_can_be_restarted_with_the_same_data():
    with sandbox_process(accounts=2, records=2_000, seed=5) as first:
        token = first.accounts[0].account_token
        headers = {"Authorization": f"Bearer {first.api_key}", "X-Account-Token": token}
        before = httpx.get(f"{first.base_url}/hris/v1/employees", headers=headers).json()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{first.base_url}/hris/v1/employees", headers=headers)
    with sandbox_process(accounts=2, records=2_000, seed=5) as second:
        assert second.accounts[0].account_token == token
        again = httpx.get(f"{second.base_url}/hris/v1/employees", headers=headers).json()
    assert [r["id"] for r in again["results"]] == [r["id"] for r in before["results"]]
