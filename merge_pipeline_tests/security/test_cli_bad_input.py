"""The newer commands given bad input (``receiver``, ``accounts relink|exchange|rotate-key``,
``models``, ``db``): one clear line saying what is wrong, never a traceback, never a secret.

(``sync``'s own bad input is in ``integration/sync/test_cli_bad_input.py``.)
"""

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from merge_pipeline.warehouse.vault import generate_key
from merge_pipeline_tests.cli_process import run_cli
from merge_pipeline_tests.conftest import SENTINEL_API_KEY, SENTINEL_SIGNING_KEY

DB_PASSWORD = "pw-SENTINEL-cli-5e2f"
UNREACHABLE = f"postgresql://mp:{DB_PASSWORD}@127.0.0.1:1/mirror"


@pytest.fixture
def environment(database_url: URL) -> dict[str, str]:
    return {
        "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": generate_key(),
        "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY": SENTINEL_SIGNING_KEY,
        "MERGE_PIPELINE_BASE_URL": "http://127.0.0.1:9/api",
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
    }


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


#: (arguments, settings changed (None: removed), the error line or its start)
CASES: list[tuple[list[str], dict[str, str | None], str]] = [
    (["receiver"], {"MERGE_PIPELINE_WEBHOOK_SIGNING_KEY": None},
     "Error: MERGE_PIPELINE_WEBHOOK_SIGNING_KEY is required by the webhook receiver"),
    (["receiver", "--port", "99999"], {},
     "Error: Invalid value for '--port': 99999 is not in the range 0<=x<=65535."),
    (["receiver", "--port", "eighty"], {},
     "Error: Invalid value for '--port': 'eighty' is not a valid integer"),
    (["receiver"], {"MERGE_PIPELINE_DATABASE_URL": UNREACHABLE},
     "Error: the warehouse database is unreachable (connection refused)"),
    (["receiver"], {"MERGE_PIPELINE_DATABASE_URL": f"mysql://u:{DB_PASSWORD}@h/d"},
     "Error: MERGE_PIPELINE_DATABASE_URL is a 'mysql' URL, not PostgreSQL"),
    (["receiver"], {"MERGE_PIPELINE_WEBHOOK_MAX_BODY_BYTES": "12"},
     "Error: MERGE_PIPELINE_WEBHOOK_MAX_BODY_BYTES"),
    (["accounts", "relink", "acct-unknown"], {},
     "Error: relink not requested: no linked account 'acct-unknown' is stored"),
    (["accounts", "relink", "acct-x", "--expiry-mins", "5"], {},
     "Error: Invalid value for '--expiry-mins': 5 is not in the range 30<=x<=10080."),
    (["accounts", "relink"], {}, "Error: Missing argument 'ACCOUNT_ID'."),
    (["accounts", "relink", "acct-x"], {"MERGE_PIPELINE_RELINK_LINK_EXPIRY_MINS": "soon"},
     "Error: MERGE_PIPELINE_RELINK_LINK_EXPIRY_MINS"),
    (["accounts", "exchange", "--category", "nope"], {},
     "Error: Invalid value for --category: unknown category 'nope'"),
    (["accounts", "exchange", "--category", "hris"], {}, "Error: the public token is empty"),
    (["accounts", "exchange", "--category", "hris"], {"MERGE_PIPELINE_API_KEY": None},
     "Error: MERGE_PIPELINE_API_KEY"),
    (["accounts", "rotate-key"], {"MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": "short"},
     "Error: MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY"),
    (["accounts", "rotate-key"], {"MERGE_PIPELINE_DATABASE_URL": UNREACHABLE},
     "Error: the warehouse database is unreachable (connection refused)"),
    (["models", "nope"], {}, "Error: Invalid value: unknown category 'nope' (known: "),
    (["db", "nope"], {}, "Error: No such command 'nope'."),
    (["db", "url"], {"MERGE_PIPELINE_DATABASE_URL": f"mysql://u:{DB_PASSWORD}@h/d"},
     "Error: MERGE_PIPELINE_DATABASE_URL is a 'mysql' URL, not PostgreSQL"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "changes", "expected"), CASES,
                         ids=[" ".join(a) + " " + ",".join(c) for a, c, _ in CASES])  # fmt: skip
def test_each_bad_input_is_one_clear_line(
    environment: dict[str, str],
    args: list[str],
    changes: dict[str, str | None],
    expected: str,
) -> None:
    for name, value in changes.items():
        if value is None:
            environment.pop(name)
        else:
            environment[name] = value
    finished = run_cli(*args, **environment)
    errors = [line for line in finished.stderr.splitlines() if line.startswith("Error")]
    assert finished.returncode in (1, 2), finished.stderr
    assert len(errors) == 1 and errors[0].startswith(expected), finished.stderr
    assert "Traceback" not in finished.stderr
    if finished.returncode == 1:  # not a usage error: the error is all that is printed
        assert finished.stderr.strip().splitlines() == errors
    printed = finished.stdout + finished.stderr
    for secret in (SENTINEL_API_KEY, SENTINEL_SIGNING_KEY, DB_PASSWORD):
        assert secret not in printed


def test_a_receiver_port_already_taken_is_one_line(
    environment: dict[str, str], taken_port: int
) -> None:
    finished = run_cli("receiver", "--port", str(taken_port), **environment)
    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines()[-1] == (
        f"Error: cannot listen on 127.0.0.1:{taken_port}: Address already in use"
    )
    assert "Traceback" not in finished.stderr
