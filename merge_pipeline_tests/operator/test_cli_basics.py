"""Small things a newcomer tries first: --version, the models of a category, adding an account
with only the settings that needs."""

from importlib import metadata
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from merge_pipeline.catalog import load_catalog
from merge_pipeline.warehouse.accounts import deactivate_account, list_accounts
from merge_pipeline_tests.operator.helpers import clean_environment, run_cli


def test_version(tmp_path: Path) -> None:
    finished = run_cli("--version", env=clean_environment(), cwd=tmp_path)
    assert finished.returncode == 0
    assert (
        finished.stdout.strip() == f"merge-pipeline, version {metadata.version('merge-pipeline')}"
    )


def test_models_of_a_category(tmp_path: Path) -> None:
    finished = run_cli("models", "hris", env=clean_environment(), cwd=tmp_path)
    listed = [line.split("\t")[0] for line in finished.stdout.splitlines()]
    assert listed == [model.model_id for model in load_catalog().category("hris")]


def test_an_unknown_category_is_one_line_naming_the_known_ones(tmp_path: Path) -> None:
    finished = run_cli("models", "hr", env=clean_environment(), cwd=tmp_path)
    assert finished.returncode == 2
    assert "unknown category 'hr' (known: accounting, ats," in finished.stderr


def test_accounts_add_and_list_need_no_api_key(
    engine: sa.Engine, database_url: URL, encryption_key: str, tmp_path: Path
) -> None:
    env = clean_environment(
        MERGE_PIPELINE_DATABASE_URL=database_url.render_as_string(hide_password=False),
        MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY=encryption_key,
    )
    added = run_cli(
        "accounts",
        "add",
        "--id",
        "cli-basics-1",
        "--category",
        "hris",
        "--token-stdin",
        env=env,
        cwd=tmp_path,
        input_text="a-token\n",
    )
    assert (added.returncode, added.stdout.strip()) == (
        0,
        "stored linked account cli-basics-1 (hris)",
    )
    del env["MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY"]  # listing never decrypts
    listed = run_cli("accounts", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "cli-basics-1\thris" in listed.stdout
    with engine.begin() as connection:
        assert "cli-basics-1" in {account.id for account in list_accounts(connection)}
        deactivate_account(connection, "cli-basics-1")  # the session database is shared


def test_accounts_add_still_needs_the_encryption_key(database_url: URL, tmp_path: Path) -> None:
    env = clean_environment(
        MERGE_PIPELINE_DATABASE_URL=database_url.render_as_string(hide_password=False)
    )
    added = run_cli(
        "accounts",
        "add",
        "--id",
        "cli-basics-2",
        "--category",
        "hris",
        "--token-stdin",
        env=env,
        cwd=tmp_path,
        input_text="a-token\n",
    )
    assert added.returncode == 1
    assert added.stderr.strip() == (
        "Error: MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY is required but not set"
    )
