"""``merge-pipeline`` as operators run it: a real process, real settings, clear errors."""

import pytest
from sqlalchemy.engine import URL

from merge_pipeline_tests.cli_process import run_cli
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.integration.sync.conftest import Harness

_run = run_cli


@pytest.fixture
def environment(harness: Harness, database_url: URL, encryption_key: str) -> dict[str, str]:
    return {
        "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": encryption_key,
        "MERGE_PIPELINE_BASE_URL": str(harness.settings.base_url),
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "100000",
    }


def test_sync_command_mirrors_an_account_and_reports_it(
    harness: Harness, environment: dict[str, str]
) -> None:
    account = harness.account("crm", records=300)
    finished = _run("sync", "--account", account.id, "--no-progress", **environment)
    assert finished.returncode == 0, finished.stderr
    assert f"ok    {account.id} crm.Contact" in finished.stdout
    harness.assert_mirror_matches(account.id, "crm.Contact")
    assert SENTINEL_API_KEY not in finished.stdout + finished.stderr
    assert account.account_token not in finished.stdout + finished.stderr


def test_missing_settings_are_one_line_naming_them() -> None:
    finished = _run("sync", "--all-accounts")
    assert finished.returncode == 1
    assert "MERGE_PIPELINE_API_KEY is required but not set" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_unreachable_database_is_one_line(environment: dict[str, str]) -> None:
    environment["MERGE_PIPELINE_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:1/nowhere"
    finished = _run("sync", "--all-accounts", **environment)
    assert finished.returncode == 1
    assert "the warehouse database is unreachable" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_unknown_model_is_explained(environment: dict[str, str]) -> None:
    finished = _run("sync", "--all-accounts", "--model", "hris.Employe", **environment)
    assert finished.returncode == 2
    assert "Employe" in finished.stderr
    assert "Traceback" not in finished.stderr
