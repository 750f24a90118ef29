"""Dagster's home lives in the demo's data folder, with the repository's instance settings."""

from pathlib import Path

from merge_pipeline.demo import dagster_environment, dagster_home, dagster_process


def test_dagster_home_is_inside_the_data_folder_with_the_repositorys_dagster_yaml(
    tmp_path: Path,
) -> None:
    home = dagster_home(tmp_path / ".data")
    repository_yaml = Path(__file__).resolve().parents[2] / "dagster.yaml"
    assert (home.parent, (home / "dagster.yaml").read_text()) == (
        (tmp_path / ".data").resolve(),
        repository_yaml.read_text(),
    )


def test_dagster_dev_runs_in_its_home_so_no_second_dagster_yaml_is_in_sight(
    tmp_path: Path,
) -> None:
    home = dagster_home(tmp_path / ".data")
    process = dagster_process(3000, dagster_environment(home), home)
    assert (process.cwd, process.env["DAGSTER_HOME"]) == (home, str(home))
