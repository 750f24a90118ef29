"""The embedded PostgreSQL lives exactly as long as asked: a command stops what it started."""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from merge_pipeline.warehouse.server import embedded_running, stop_embedded
from merge_pipeline.warehouse.vault import generate_key
from merge_pipeline_tests.operator.helpers import clean_environment, run_cli


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A short data directory (unix socket path limit), its server stopped whatever happens."""
    with tempfile.TemporaryDirectory(prefix="mpo-", dir="/tmp") as path:
        yield Path(path)
        stop_embedded(Path(path))


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return clean_environment(
        MERGE_PIPELINE_DATA_DIR=str(data_dir),
        MERGE_PIPELINE_API_KEY="k",
        MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY=generate_key(),
    )


def test_a_command_that_starts_the_embedded_server_stops_it(
    data_dir: Path, env: dict[str, str]
) -> None:
    result = run_cli("accounts", "list", env=env, cwd=data_dir)
    assert (result.returncode, embedded_running(data_dir)) == (0, False)


def test_db_start_keeps_it_running_across_commands_until_db_stop(
    data_dir: Path, env: dict[str, str]
) -> None:
    assert run_cli("db", "start", env=env, cwd=data_dir).returncode == 0
    assert run_cli("accounts", "list", env=env, cwd=data_dir).returncode == 0
    assert embedded_running(data_dir)
    stopped = run_cli("db", "stop", env=env, cwd=data_dir)
    assert (stopped.stdout.startswith("stopped"), embedded_running(data_dir)) == (True, False)


def test_db_url_without_a_running_server_says_how_to_start_one(
    data_dir: Path, env: dict[str, str]
) -> None:
    result = run_cli("db", "url", env=env, cwd=data_dir)
    assert (result.returncode, "merge-pipeline db start" in result.stderr) == (1, True)
