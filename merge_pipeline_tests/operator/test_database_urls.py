"""Database URLs: every PostgreSQL spelling works, anything else is one line without secrets."""

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from merge_pipeline.warehouse.server import DatabaseUrlError, libpq_url, normalise_url
from merge_pipeline.warehouse.vault import generate_key
from merge_pipeline_tests.operator.helpers import clean_environment, run_cli


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@db.example.com:5432/mirror",
        "postgresql://u:p@db.example.com:5432/mirror",
        "postgresql+psycopg://u:p@db.example.com:5432/mirror",
        "postgres+asyncpg://u:p@db.example.com:5432/mirror",
    ],
)
def test_every_postgresql_spelling_becomes_the_psycopg2_url(url: str) -> None:
    assert normalise_url(url).render_as_string(hide_password=False) == (
        "postgresql+psycopg2://u:p@db.example.com:5432/mirror"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not-a-url", "is not a URL"),
        ("mysql://root:hunter2secret@db/app", "is a 'mysql' URL, not PostgreSQL"),
    ],
)
def test_a_url_that_is_not_postgresql_is_refused_in_one_line(url: str, expected: str) -> None:
    with pytest.raises(DatabaseUrlError, match=expected):
        normalise_url(url)


@pytest.mark.parametrize("url", ["not-a-url", "mysql://root:hunter2secret@db/app"])
def test_the_cli_says_what_is_wrong_with_the_url_in_one_line(url: str, tmp_path: Path) -> None:
    env = clean_environment(
        MERGE_PIPELINE_DATABASE_URL=url,
        MERGE_PIPELINE_API_KEY="k",
        MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY=generate_key(),
    )
    result = run_cli("accounts", "list", env=env, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert (result.returncode, len(lines), "hunter2secret" in result.stderr) == (1, 1, False)
    assert lines[0].startswith("Error: MERGE_PIPELINE_DATABASE_URL ")


def test_db_url_prints_a_url_psql_accepts(postgres_server: URL, tmp_path: Path) -> None:
    hosted = postgres_server.set(drivername="postgres").render_as_string(hide_password=False)
    env = clean_environment(MERGE_PIPELINE_DATABASE_URL=hosted)
    printed = run_cli("db", "url", "--show-password", env=env, cwd=tmp_path).stdout.strip()
    assert printed == libpq_url(postgres_server, hide_password=False)
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    answer = subprocess.run(
        [psql, printed, "-tAc", "SELECT 41 + 1"], capture_output=True, text=True, check=True
    )
    assert answer.stdout.strip() == "42"


def test_the_embedded_servers_empty_password_is_left_out_of_the_psql_url() -> None:
    embedded = "postgresql://postgres:@/merge_pipeline?host=/srv/repo/.data/pg"
    assert (
        libpq_url(embedded)
        == "postgresql://postgres@/merge_pipeline?host=%2Fsrv%2Frepo%2F.data%2Fpg"
    )
