"""What ``merge-pipeline sync`` prints, run as a process: a summary, one run id, no bar frames
off a terminal, one line when Merge cannot be reached, plain words for a wrong category."""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from merge_pipeline.warehouse.history import SUCCEEDED
from merge_pipeline.warehouse.pipeline_tables import sync_runs
from merge_pipeline.warehouse.vault import TokenVault
from merge_pipeline_tests.cli_process import run_cli
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.integration.sync.conftest import Harness
from merge_pipeline_tests.linking import link_sandbox_account
from merge_sandbox.testing import running_sandbox


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


@pytest.mark.parametrize("where", ["closed port", "unresolvable name"])
def test_an_unreachable_merge_is_one_line_naming_the_host(
    harness: Harness, environment: dict[str, str], closed_port: int, where: str
) -> None:
    accounts = [harness.account("hris", records=10).id, harness.account("ats", records=10).id]
    # .invalid never resolves (RFC 6761)
    host = f"127.0.0.1:{closed_port}" if where == "closed port" else "merge.invalid"
    environment["MERGE_PIPELINE_BASE_URL"] = f"http://{host}/api"
    named = [argument for account in accounts for argument in ("--account", account)]
    finished = run_cli("sync", *named, **environment)
    lines = finished.stderr.strip().splitlines()
    assert (finished.returncode, finished.stdout, len(lines)) == (1, "", 1), finished.stderr
    assert lines[0].startswith(f"Error: Merge at {host} is unreachable (ConnectError: ")
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


def test_a_sandbox_that_dies_mid_sync_is_blamed_not_the_database(
    engine: sa.Engine, vault: TokenVault, database_url: URL, encryption_key: str
) -> None:
    """The dead component is named: Merge (here the sandbox) stops answering, the warehouse is
    fine, and the sync says so instead of "the warehouse database is unreachable"."""
    with running_sandbox(accounts=0, records=0, api_key=SENTINEL_API_KEY, seed=61) as sandbox:
        account = link_sandbox_account(sandbox.admin, engine, vault, "hris", records=400)
        command = [sys.executable, "-m", "merge_pipeline.cli", "sync", "--account", account.id]
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MERGE_PIPELINE_")},
            "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
            "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": encryption_key,
            "MERGE_PIPELINE_BASE_URL": sandbox.base_url,
            "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
            # slow enough that the sandbox goes away while the sync is still listing
            "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "2",
            "MERGE_PIPELINE_RATE_LIMIT_WINDOW_S": "1",
            "MERGE_PIPELINE_PAGE_SIZE": "10",
        }
        syncing = subprocess.Popen(
            command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        _wait_for_a_finished_sync(engine, account.id)
    stdout, stderr = syncing.communicate(timeout=300)
    port = sandbox.base_url.split(":")[2].split("/")[0]
    assert syncing.returncode == 1
    assert f"Merge at 127.0.0.1:{port} is unreachable" in stderr, stderr
    assert "database" not in stderr
    assert stdout.startswith("ok    "), stdout  # what finished before is reported as done


def _wait_for_a_finished_sync(engine: sa.Engine, account_id: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            finished = connection.execute(
                sa.select(sa.func.count())
                .select_from(sync_runs)
                .where(sync_runs.c.linked_account_id == account_id, sync_runs.c.status == SUCCEEDED)
            ).scalar_one()
        if finished:
            return
        time.sleep(0.1)
    raise AssertionError("no sync of the account finished while the sandbox was up")
