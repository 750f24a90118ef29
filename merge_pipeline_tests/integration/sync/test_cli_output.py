"""What ``merge-pipeline sync`` prints, run as a process: a summary, one run id, no bar frames
off a terminal, one line when Merge cannot be reached, plain words for a wrong category."""

import re
import socket
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from merge_pipeline.warehouse.pipeline_tables import sync_runs
from merge_pipeline_tests.cli_process import run_cli
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.integration.sync.conftest import Harness


@pytest.fixture
def environment(harness: Harness, database_url: URL, encryption_key: str) -> dict[str, str]:
    return {
        "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": encryption_key,
        "MERGE_PIPELINE_BASE_URL": str(harness.settings.base_url),
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "100000",
    }


@pytest.fixture
def closed_port() -> Iterator[int]:
    """Bound by this test and never listened on: every connection to it is refused."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def test_a_sync_ends_with_a_summary_and_one_run_id_for_all_its_rows(
    harness: Harness, environment: dict[str, str]
) -> None:
    account = harness.account("crm", records=60)
    finished = run_cli("sync", "--account", account.id, "--category", "crm", **environment)
    assert finished.returncode == 0, finished.stderr
    # stdout and stderr are pipes here: no progress-bar frame, not even without --no-progress
    assert "\r" not in finished.stdout + finished.stderr
    assert "records/s" not in finished.stderr
    assert " 1 calls" not in finished.stdout
    last = finished.stdout.strip().splitlines()[-1]
    summary = re.fullmatch(
        r"1 account, (\d+) models \(\1 syncs\): [\d,]+ records, [\d,]+ calls, 0 failed in "
        r"[\d.]+s \(run (cli-[0-9a-f-]+)\)",
        last,
    )
    assert summary is not None, last
    models, run_id = int(summary.group(1)), summary.group(2)
    with harness.engine.connect() as connection:
        rows = connection.execute(
            sa.select(sync_runs.c.model_id).where(sync_runs.c.sync_run_id == run_id)
        ).all()
    assert len(rows) == models


def test_an_unreachable_merge_is_one_line_naming_the_host(
    harness: Harness, environment: dict[str, str], closed_port: int
) -> None:
    accounts = [harness.account("hris", records=10).id, harness.account("ats", records=10).id]
    environment["MERGE_PIPELINE_BASE_URL"] = f"http://127.0.0.1:{closed_port}/api"
    named = [argument for account in accounts for argument in ("--account", account)]
    finished = run_cli("sync", *named, **environment)
    lines = finished.stderr.strip().splitlines()
    assert (finished.returncode, finished.stdout, len(lines)) == (1, "", 1), finished.stderr
    assert lines[0].startswith(
        f"Error: Merge at 127.0.0.1:{closed_port} is unreachable (ConnectError: "
    )
    # every pair of both accounts is reported not done (the same reason): none retried on its own
    assert re.search(r"\((\d+) of \1 syncs not done, after [\d.]+s\)$", lines[0]), lines[0]


def test_a_model_of_another_category_says_what_the_account_is(
    harness: Harness, environment: dict[str, str]
) -> None:
    account = harness.account("hris", records=10)
    finished = run_cli("sync", "--account", account.id, "--model", "ats.Candidate", **environment)
    assert finished.returncode == 2
    assert (
        f"Error: nothing to sync: linked account {account.id} is HRIS, but ats.Candidate "
        "belongs to ATS (list the models there are: merge-pipeline models hris)"
    ) in finished.stderr
