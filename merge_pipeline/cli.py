"""``merge-pipeline``: operator commands for people who are not in the Dagster UI."""

import sys
from pathlib import Path

import click

from merge_pipeline.settings import SettingsError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Mirror Merge.dev Common Models into PostgreSQL."""


@main.command("generate-key")
def generate_key_command() -> None:
    """Print a new key for MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY."""
    from merge_pipeline.warehouse.vault import generate_key

    click.echo(generate_key())


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path(".data"))
@click.option("--port", type=int, default=3000, show_default=True, help="Dagster UI port.")
def demo(data_dir: Path, port: int) -> None:
    """Run the whole stack locally; Ctrl-C stops everything it started."""
    from merge_pipeline.demo import run_demo

    sys.exit(run_demo(data_dir, port))


@main.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the warehouse schema (idempotent)."""
    from merge_pipeline.warehouse.database import warehouse_engine

    try:
        engine = warehouse_engine()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    engine.dispose()
    click.echo("warehouse schema is up to date")
