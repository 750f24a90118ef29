"""``merge-pipeline receiver`` as an operator runs it: its own process, stopped by SIGTERM."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import httpx
from sqlalchemy.engine import URL

from merge_pipeline_tests.conftest import SENTINEL_API_KEY, SENTINEL_SIGNING_KEY
from merge_pipeline_tests.integration.webhooks.conftest import Stack, linked_body
from merge_sandbox.webhooks import sign

_ANNOUNCED = re.compile(r"receiving Merge's webhooks at (http://\S+)")


def _environment(database_url: URL, encryption_key: str, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MERGE_PIPELINE_")}
    return {
        **clean,
        "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": encryption_key,
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
        **extra,
    }


def _start(environment: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "merge_pipeline.cli", "receiver", "--port", "0"],
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tempfile.gettempdir(),  # away from any developer's .env
    )


def _announced_url(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        if found := _ANNOUNCED.search(line):
            return found.group(1)
    raise RuntimeError("the receiver did not announce its URL")


def test_receiver_command_stores_a_signed_webhook_and_stops_cleanly_on_sigterm(
    stack: Stack, database_url: URL, encryption_key: str
) -> None:
    environment = _environment(
        database_url, encryption_key, MERGE_PIPELINE_WEBHOOK_SIGNING_KEY=SENTINEL_SIGNING_KEY
    )
    process = _start(environment)
    try:
        url = _announced_url(process)
        body = linked_body("acct-from-process", "tok-from-process")
        answer = httpx.post(
            url,
            content=body,
            headers={"X-Merge-Webhook-Signature": sign(body, SENTINEL_SIGNING_KEY)},
        )
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal so a supervisor sees why it ended.
    assert (answer.json(), process.returncode, len(stack.account_rows("acct-from-process"))) == (
        {"stored": True},
        -signal.SIGTERM,
        1,
    )
    assert "Traceback" not in errors


def test_receiver_command_without_a_signing_key_says_so_in_one_line(
    database_url: URL, encryption_key: str
) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "merge_pipeline.cli", "receiver", "--port", "0"],
        env=_environment(database_url, encryption_key),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    assert (finished.returncode, finished.stderr.strip()) == (
        1,
        "Error: MERGE_PIPELINE_WEBHOOK_SIGNING_KEY is required by the webhook receiver "
        "(Merge dashboard > Webhooks > Security)",
    )
