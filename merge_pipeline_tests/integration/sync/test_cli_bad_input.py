"""``merge-pipeline sync`` given bad input: one clear line each, never a traceback or a secret."""

import subprocess

import pytest
from sqlalchemy.engine import URL

from merge_pipeline_tests.cli_process import run_cli
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.integration.sync.conftest import SCRIPTED_TOKEN, ScriptedHarness

EMPLOYEES, COMPANIES = "/hris/v1/employees", "/hris/v1/companies"
GOOD = {"id": "e1", "modified_at": "2026-01-01T00:00:00Z", "remote_was_deleted": False}
BAD = {"id": "e2", "modified_at": "2026-01-01T00:00:00Z", "start_date": 12}


_run = run_cli


@pytest.fixture
def environment(
    scripted: ScriptedHarness, database_url: URL, encryption_key: str
) -> dict[str, str]:
    return {
        "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": encryption_key,
        "MERGE_PIPELINE_BASE_URL": scripted.merge.base_url,
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "100000",
    }


def _lines(finished: subprocess.CompletedProcess[str], account: str) -> list[str]:
    return [line for line in finished.stdout.splitlines() if account in line]


def test_each_failure_is_one_line_and_quarantined_records_are_reported(
    scripted: ScriptedHarness, environment: dict[str, str]
) -> None:
    scripted.merge.page(EMPLOYEES, [GOOD, BAD])
    scripted.merge.page(COMPANIES, [], "A")
    scripted.merge.page(COMPANIES, [], "A", cursor="A")  # a cursor that repeats for ever
    account = scripted.new_account()
    finished = _run("sync", "--account", account, "--model", "hris.Employee",
                    "--model", "hris.Company", "--no-progress", **environment)  # fmt: skip
    assert [line.split(":")[0] for line in _lines(finished, account)] == [
        f"ok    {account} hris.Employee",
        f"WARN  {account} hris.Employee",
        f"FAIL  {account} hris.Company",
    ]
    assert (finished.returncode, "Traceback" in finished.stderr) == (1, False)


def test_api_key_with_a_newline_is_one_line_naming_the_setting(
    environment: dict[str, str],
) -> None:
    environment["MERGE_PIPELINE_API_KEY"] = SENTINEL_API_KEY + "\n"
    finished = _run("sync", "--all-accounts", **environment)
    assert finished.stderr.strip().splitlines() == [
        "Error: MERGE_PIPELINE_API_KEY has whitespace or control characters at either end "
        "(often a newline from a file or a Secret); remove them"
    ]
    assert SENTINEL_API_KEY not in finished.stdout + finished.stderr


def test_stored_token_with_a_newline_fails_its_account_in_one_line_without_the_token(
    scripted: ScriptedHarness, environment: dict[str, str]
) -> None:
    token = SCRIPTED_TOKEN + "\n"
    account = scripted.new_account(token=token)
    finished = _run("sync", "--account", account, "--model", "hris.Employee", "--no-progress",
                    **environment)  # fmt: skip
    [line] = _lines(finished, account)
    assert line.startswith(f"FAIL  {account} hris.Employee: the account token of linked account")
    assert SCRIPTED_TOKEN not in finished.stdout + finished.stderr
    assert "Traceback" not in finished.stderr
