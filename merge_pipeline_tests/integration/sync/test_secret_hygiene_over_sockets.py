"""Secrets stay secret through the real HTTP stack, not only through a mock transport.

The classic mistake: a key or token read from a file or a Kubernetes Secret ends with a newline.
Sent as a header, the HTTP library refuses it and quotes it, escaped, in its error; and a server
or proxy may echo credentials back in any escaping. Each test here goes through sockets, with
sentinel secrets, and searches exceptions (whole chain, ``repr``, ``str``, traceback), DEBUG logs
and ``sync_runs.error`` for any trace of them.
"""

import json
import logging
import traceback
from collections.abc import Callable
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from merge_pipeline.catalog import load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.merge.errors import MalformedCredential, MergeError
from merge_pipeline.merge.hygiene import redact
from merge_pipeline.warehouse.pipeline_tables import sync_runs
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.integration.sync.conftest import (
    FAST_RETRIES,
    SCRIPTED_TOKEN,
    Harness,
    ScriptedHarness,
)

EMPLOYEE = "hris.Employee"


def _everything_about(error: BaseException) -> str:
    chain: list[BaseException] = [error]
    while (cause := chain[-1].__cause__ or chain[-1].__context__) is not None:
        chain.append(cause)
    parts = [*traceback.format_exception(error)]
    for link in chain:
        parts += [str(link), repr(link), repr(vars(link))]
    return "\n".join(parts)


def _history_errors(harness: Harness, account_id: str) -> str:
    with harness.engine.connect() as connection:
        rows = connection.execute(
            sa.select(sync_runs.c.error, sync_runs.c.stats).where(
                sync_runs.c.linked_account_id == account_id
            )
        )
        return "\n".join(f"{row.error} {row.stats}" for row in rows)


def _fragments(secret: str) -> list[str]:
    """What a leak may look like: the core, escaped forms, and a long piece of it."""
    core = secret.strip()
    return [core, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret), core[3:15]]


def _assert_clean(text: str, secret: str) -> None:
    for fragment in _fragments(secret):
        assert fragment not in text


def test_api_key_with_a_trailing_newline_never_leaks(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = harness.account(records=50)
    key = SENTINEL_API_KEY + "\n"
    settings = harness.settings.model_copy(update={"api_key": SecretStr(key)})
    with pytest.raises(MergeError) as raised:
        harness.sync(account, EMPLOYEE, client=MergeClient(settings, retry_policy=FAST_RETRIES))
    history = _history_errors(harness, account.id)
    _assert_clean(_everything_about(raised.value) + caplog.text + history, key)
    assert "MERGE_PIPELINE_API_KEY" in history


def test_account_token_with_a_trailing_newline_never_leaks(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = harness.account(records=50)
    token = account.account_token + "\n"
    with pytest.raises(ValueError) as refused:  # validated where credentials are made
        AccountCredentials(account.id, SecretStr(token))
    credentials = AccountCredentials(account.id, SecretStr(account.account_token))
    object.__setattr__(credentials, "account_token", SecretStr(token))  # as if loaded unchecked
    with harness.client() as client, pytest.raises(MalformedCredential) as raised:
        list(client.iter_pages(credentials, load_catalog().model(EMPLOYEE), modified_after=None))
    rendered = _everything_about(refused.value) + _everything_about(raised.value) + caplog.text
    _assert_clean(rendered, token)
    assert f"account token of linked account {account.id}" in str(raised.value)


@pytest.mark.parametrize(
    "echo",
    [
        lambda value: json.dumps({"detail": f"ECHO {value!r}"}).encode(),
        lambda value: json.dumps({"detail": f"ECHO {quote(value)}"}).encode(),
        lambda value: json.dumps({"detail": f"ECHO {value[:19]}..."}).encode(),
        lambda value: f"<html>ECHO {value.encode()!r}</html>".encode(),
    ],
    ids=["repr", "percent-encoded", "truncated", "bytes-repr-html"],
)
def test_credentials_echoed_back_in_any_escaping_are_redacted(
    scripted: ScriptedHarness,
    caplog: pytest.LogCaptureFixture,
    echo: Callable[[str], bytes],
) -> None:
    caplog.set_level(logging.DEBUG)
    scripted.merge.answer = lambda path, headers: (
        400,
        echo(headers["Authorization"] + " " + headers["X-Account-Token"]),
    )
    account = scripted.new_account()
    with pytest.raises(MergeError) as raised:
        scripted.sync(account, EMPLOYEE)
    rendered = _everything_about(raised.value) + caplog.text + _history(scripted, account)
    _assert_clean(rendered, SENTINEL_API_KEY)
    _assert_clean(rendered, SCRIPTED_TOKEN)
    assert "ECHO" in str(raised.value)  # the echo did reach the message, redacted


def _history(scripted: ScriptedHarness, account_id: str) -> str:
    with scripted.engine.connect() as connection:
        return "\n".join(
            str(error)
            for error in connection.execute(
                sa.select(sync_runs.c.error).where(sync_runs.c.linked_account_id == account_id)
            ).scalars()
        )


def test_redaction_is_what_cleans_the_echo() -> None:
    """Guard for the test above: the echoed text really held the secret before redaction."""
    echoed = f"ECHO {('Bearer ' + SENTINEL_API_KEY)[:19]}..."
    assert SENTINEL_API_KEY[:12] in echoed
    assert SENTINEL_API_KEY[:12] not in redact(echoed, [SENTINEL_API_KEY])
