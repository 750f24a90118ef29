"""No secret on a command line: the demo's children and the CLI take theirs from the environment
or a file, because every user of the machine can read every process's arguments."""

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from merge_pipeline.demo import dagster_process, sandbox_process
from merge_pipeline.processes import port_is_free
from merge_pipeline_tests.operator.helpers import clean_environment, every_command_line, run_cli

#: fresh values, so no other program on the machine can show them by chance
API_KEY = f"sk-operator-{secrets.token_hex(12)}"
SECRETS = {
    "MERGE_PIPELINE_API_KEY": API_KEY,
    "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY": f"whsec-operator-{secrets.token_hex(12)}",
    "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": f"fernet-operator-{secrets.token_hex(12)}",
}


def _free_port() -> int:
    port = 18765 + os.getpid() % 1000
    while not port_is_free(port):
        port += 1
    return port


@pytest.fixture
def demo_sandbox(tmp_path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The sandbox exactly as the demo starts it (argv and environment), ready to answer."""
    port = _free_port()
    accounts_file = tmp_path / "accounts.json"
    sandbox = sandbox_process(port, accounts_file, SECRETS)
    sandbox.start()
    try:
        sandbox.wait_ready()
        yield port, json.loads(accounts_file.read_text())
    finally:
        sandbox.stop()


def test_no_process_shows_a_secret_while_the_demo_sandbox_runs(
    demo_sandbox: tuple[int, dict[str, Any]],
) -> None:
    exposed = [line for line in every_command_line() for s in SECRETS.values() if s in line]
    assert exposed == []


def test_the_demo_sandbox_takes_its_api_key_from_the_environment(
    demo_sandbox: tuple[int, dict[str, Any]],
) -> None:
    port, document = demo_sandbox
    response = httpx.get(
        f"http://127.0.0.1:{port}/api/hris/v1/employees",
        params={"page_size": 1},
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "X-Account-Token": document["accounts"][0]["account_token"],
        },
    )
    assert response.status_code == 200


def test_dagster_is_started_with_no_secret_in_its_arguments() -> None:
    argv = " ".join(dagster_process(3000, SECRETS).argv)
    assert [s for s in SECRETS.values() if s in argv] == []


def test_the_cli_reads_the_demo_env_file_it_is_pointed_to(tmp_path: Path) -> None:
    env_file = tmp_path / "demo.env"
    env_file.write_text("MERGE_PIPELINE_DATABASE_URL=postgres://reader@db.example.com/mirror\n")
    env = clean_environment(MERGE_PIPELINE_ENV_FILE=str(env_file))
    printed = run_cli("db", "url", env=env, cwd=tmp_path).stdout.strip()
    assert printed == "postgresql://reader@db.example.com/mirror"
