"""No secret on a command line: the demo's children and the CLI take theirs from the environment
or a file, because every user of the machine can read every process's arguments.

The demo's sandbox and webhook receiver run here as the demo starts them, the receiver
registered with the sandbox, so the same stack also shows a sandbox webhook landing in the
receiver's inbox.
"""

import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from merge_pipeline.demo import (
    WEBHOOK_PATH,
    dagster_process,
    receiver_process,
    register_receiver,
    sandbox_process,
)
from merge_pipeline.demo_accounts import create_special_accounts
from merge_pipeline.processes import port_is_free
from merge_pipeline.warehouse.pipeline_tables import webhook_inbox
from merge_pipeline.warehouse.vault import generate_key
from merge_pipeline_tests.operator.helpers import clean_environment, every_command_line, run_cli

#: fresh values, so no other program on the machine can show them by chance
API_KEY = f"sk-operator-{secrets.token_hex(12)}"
SECRETS = {
    "MERGE_PIPELINE_API_KEY": API_KEY,
    "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY": f"whsec-operator-{secrets.token_hex(12)}",
    "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": generate_key(),
}


def _free_port(start: int) -> int:
    port = start + os.getpid() % 1000
    while not port_is_free(port):
        port += 1
    return port


@dataclass(frozen=True)
class DemoStack:
    sandbox_root: str
    accounts: dict[str, Any]
    receiver_url: str


@pytest.fixture(scope="module")
def demo_stack(
    tmp_path_factory: pytest.TempPathFactory, database_url: URL, engine: sa.Engine
) -> Iterator[DemoStack]:
    """The sandbox and the receiver exactly as the demo starts them (argv and environment),
    ready to answer, the receiver registered with the sandbox as the demo does it."""
    folder = tmp_path_factory.mktemp("demo")
    port, receiver_port = _free_port(18765), _free_port(28010)
    accounts_file = folder / "accounts.json"
    sandbox = sandbox_process(port, accounts_file, SECRETS)
    root = f"http://127.0.0.1:{port}"
    env = SECRETS | {
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "MERGE_PIPELINE_BASE_URL": f"{root}/api",
    }
    receiver = receiver_process(receiver_port, env, folder / "receiver.log")
    try:
        sandbox.start()
        receiver.start()
        sandbox.wait_ready()
        receiver.wait_ready()
        receiver_url = f"http://127.0.0.1:{receiver_port}{WEBHOOK_PATH}"
        register_receiver(root, receiver_url, SECRETS["MERGE_PIPELINE_WEBHOOK_SIGNING_KEY"])
        yield DemoStack(root, json.loads(accounts_file.read_text()), receiver_url)
    finally:
        receiver.stop()
        sandbox.stop()


def test_no_process_shows_a_secret_while_the_demo_sandbox_and_receiver_run(
    demo_stack: DemoStack,
) -> None:
    exposed = [line for line in every_command_line() for s in SECRETS.values() if s in line]
    assert exposed == []


def test_the_demo_sandbox_takes_its_api_key_from_the_environment(demo_stack: DemoStack) -> None:
    response = httpx.get(
        f"{demo_stack.sandbox_root}/api/hris/v1/employees",
        params={"page_size": 1},
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "X-Account-Token": demo_stack.accounts["accounts"][0]["account_token"],
        },
    )
    assert response.status_code == 200


def test_the_special_accounts_are_made_and_their_webhooks_land_in_the_inbox(
    demo_stack: DemoStack, engine: sa.Engine
) -> None:
    special = {s.key: summary for s, summary in create_special_accounts(demo_stack.sandbox_root)}
    statuses = {
        key: (summary["status"], {s["status"] for s in summary["sync_status"]})
        for key, summary in special.items()
    }
    assert statuses == {
        "failing-syncs": ("COMPLETE", {"FAILED"}),
        "disabled-model": ("COMPLETE", {"DONE", "DISABLED"}),
        "paused": ("IDLE", {"PAUSED"}),
        "relink-needed": ("RELINK_NEEDED", {"DONE"}),
    }
    # the relink-needed account's Issue.new webhook, signed by the sandbox, stored by the receiver
    issue_new = _delivered(demo_stack.sandbox_root, "Issue.new")
    digest = hashlib.sha256(issue_new["body"].encode()).hexdigest()
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(webhook_inbox.c.event, webhook_inbox.c.linked_account_id).where(
                webhook_inbox.c.body_sha256 == digest
            )
        ).all()
    assert [tuple(row) for row in stored] == [("Issue.new", special["relink-needed"]["id"])]


def _delivered(sandbox_root: str, event: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The sandbox's log entry of the first successful delivery of ``event`` (a 2xx answer
    comes only once the receiver has committed the event)."""
    deadline = time.monotonic() + timeout_s
    while True:
        log = httpx.get(f"{sandbox_root}/_sandbox/webhooks/deliveries").json()["deliveries"]
        found = [d for d in log if d["event"] == event and d["delivered"]]
        if found:
            return dict(found[0])
        failed = [d for d in log if d["event"] == event and d["status_code"]]
        assert not failed or failed[-1]["status_code"] < 400, failed[-1]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {event} delivered: {log}")
        time.sleep(0.1)


def test_dagster_is_started_with_no_secret_in_its_arguments() -> None:
    argv = " ".join(dagster_process(3000, SECRETS).argv)
    assert [s for s in SECRETS.values() if s in argv] == []


def test_the_cli_reads_the_demo_env_file_it_is_pointed_to(tmp_path: Path) -> None:
    env_file = tmp_path / "demo.env"
    env_file.write_text("MERGE_PIPELINE_DATABASE_URL=postgres://reader@db.example.com/mirror\n")
    env = clean_environment(MERGE_PIPELINE_ENV_FILE=str(env_file))
    printed = run_cli("db", "url", env=env, cwd=tmp_path).stdout.strip()
    assert printed == "postgresql://reader@db.example.com/mirror"
