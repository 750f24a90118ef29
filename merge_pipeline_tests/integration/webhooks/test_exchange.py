"""The embedded Link flow: a public token, exchanged by endpoint or CLI, stores the account."""

import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from merge_pipeline.warehouse.accounts import account_token
from merge_pipeline_tests.conftest import SENTINEL_API_KEY, SENTINEL_SIGNING_KEY
from merge_pipeline_tests.integration.webhooks.conftest import (
    SENTINEL_RECEIVER_TOKEN,
    Stack,
    receiver_log,
    receiver_settings,
    running_receiver,
)


@pytest.fixture
def quiet(stack: Stack) -> Iterator[Stack]:
    """No webhooks from the sandbox: whatever gets stored, the exchange stored it."""
    url = stack.admin.webhook_settings()["url"]
    stack.admin.configure_webhooks(url=None)
    yield stack
    stack.admin.configure_webhooks(url=url)


def _exchange(
    stack: Stack, public_token: str, bearer: str = SENTINEL_RECEIVER_TOKEN
) -> httpx.Response:
    return httpx.post(
        f"{stack.receiver_url}/link/account-token",
        json={"public_token": public_token, "category": "hris"},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30,
    )


def _stored_token(stack: Stack, account_id: str) -> str:
    with stack.engine.connect() as connection:
        return account_token(connection, account_id, stack.vault).get_secret_value()


def test_exchange_endpoint_stores_the_account_token_encrypted(quiet: Stack) -> None:
    linked = quiet.link_account()
    response = _exchange(quiet, linked["public_token"])
    assert (response.json()["linked_account_id"], _stored_token(quiet, linked["account_id"])) == (
        linked["account_id"],
        quiet.sandbox_token(linked["account_id"]),
    )


def test_exchanged_account_keeps_its_end_user_for_relinking(quiet: Stack) -> None:
    linked = quiet.link_account()
    _exchange(quiet, linked["public_token"])
    (row,) = quiet.account_rows(linked["account_id"])
    sandbox = next(a for a in quiet.admin.accounts() if a.id == linked["account_id"])
    assert (row["end_user_origin_id"], row["integration_slug"]) == (
        sandbox.end_user_origin_id,
        sandbox.integration,
    )


def test_exchange_endpoint_refuses_a_wrong_bearer_and_stores_nothing(quiet: Stack) -> None:
    linked = quiet.link_account()
    response = _exchange(quiet, linked["public_token"], bearer="not-the-secret")
    assert (response.status_code, quiet.account_rows(linked["account_id"])) == (401, [])


def test_unknown_public_token_is_a_clear_404(quiet: Stack) -> None:
    response = _exchange(quiet, "public-token-nobody-issued")
    assert (response.status_code, response.json()["detail"]) == (
        404,
        "Merge does not know this public token (expired or mistyped?)",
    )


def test_exchange_endpoint_is_off_without_a_receiver_token(
    stack: Stack, database_url: URL, encryption_key: str
) -> None:
    settings = receiver_settings(
        database_url, encryption_key, stack.sandbox.base_url, receiver_token=None
    )
    with running_receiver(settings, stack.engine) as url:
        response = httpx.post(
            f"{url}/link/account-token",
            json={"public_token": "p", "category": "hris"},
            headers={"Authorization": "Bearer guessed"},
            timeout=10,
        )
    assert response.status_code == 403


def test_exchange_secrets_stay_out_of_logs_and_answers(
    quiet: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    linked = quiet.link_account()
    answers = [
        _exchange(quiet, linked["public_token"]).text,
        _exchange(quiet, linked["public_token"], bearer="wrong").text,
        _exchange(quiet, "public-token-nobody-issued").text,
    ]
    secrets = (
        SENTINEL_API_KEY,
        SENTINEL_SIGNING_KEY,
        SENTINEL_RECEIVER_TOKEN,
        linked["public_token"],
        quiet.sandbox_token(linked["account_id"]),
    )
    seen = receiver_log(caplog) + "".join(answers)
    assert [s for s in secrets if s in seen] == []


# -- the CLI, as an operator runs it -------------------------------------------------------


def _cli(stack: Stack, database_url: URL, encryption_key: str, *args: str, stdin: str):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MERGE_PIPELINE_")}
    environment = {
        **clean,
        "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": encryption_key,
        "MERGE_PIPELINE_BASE_URL": stack.sandbox.base_url,
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
    }
    return subprocess.run(
        [sys.executable, "-m", "merge_pipeline.cli", "accounts", "exchange", *args],
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tempfile.gettempdir(),  # away from any developer's .env
    )


def test_cli_exchange_reads_the_public_token_from_stdin_and_stores_the_account(
    quiet: Stack, database_url: URL, encryption_key: str
) -> None:
    linked = quiet.link_account()
    finished = _cli(
        quiet,
        database_url,
        encryption_key,
        "--category",
        "hris",
        stdin=linked["public_token"] + "\n",
    )
    assert finished.returncode == 0, finished.stderr
    assert _stored_token(quiet, linked["account_id"]) == quiet.sandbox_token(linked["account_id"])


def test_cli_exchange_never_echoes_a_secret(
    quiet: Stack, database_url: URL, encryption_key: str
) -> None:
    linked = quiet.link_account()
    finished = _cli(
        quiet,
        database_url,
        encryption_key,
        "--category",
        "hris",
        stdin=linked["public_token"] + "\n",
    )
    secrets = (SENTINEL_API_KEY, linked["public_token"], quiet.sandbox_token(linked["account_id"]))
    assert [s for s in secrets if s in finished.stdout + finished.stderr] == []


def test_cli_exchange_of_an_unknown_token_is_one_line(
    quiet: Stack, database_url: URL, encryption_key: str, engine: sa.Engine
) -> None:
    finished = _cli(
        quiet, database_url, encryption_key, "--category", "hris", stdin="public-token-bogus\n"
    )
    assert (finished.returncode, "Traceback" in finished.stderr, finished.stderr.count("\n")) == (
        1,
        False,
        1,
    )
