"""``merge-pipeline db``: where the warehouse is, a psql shell on it, the embedded server's life.

A command that needs the embedded PostgreSQL starts it and stops it when it exits; ``db start``
keeps one running across commands (until ``db stop`` or ``make clean``). ``db url`` prints the
URL as libpq reads it (``psql`` refuses SQLAlchemy's ``+psycopg2`` suffix); ``db shell`` runs
``psql`` with any password in ``PGPASSWORD`` rather than on its command line.
"""

import os
import shutil
from pathlib import Path

import click
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from merge_pipeline.settings import (
    ENV_PREFIX,
    PostgresUrl,
    SettingsError,
    describe_validation_error,
    env_files,
)
from merge_pipeline.warehouse.server import (
    WAREHOUSE_DATABASE,
    EmbeddedPostgres,
    embedded_running,
    ensure_database,
    libpq_url,
    normalise_url,
    stop_embedded,
    with_database,
    without_password,
)


class WarehouseLocation(BaseSettings):
    """Just the two settings that locate the warehouse: no API key is needed to query it."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: PostgresUrl = Field(default=None)
    data_dir: Path = Field(default=Path(".data"))


def _location() -> WarehouseLocation:
    try:
        return WarehouseLocation(_env_file=env_files())
    except ValidationError as error:
        raise click.ClickException(describe_validation_error(error)) from None
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


def _warehouse_url(location: WarehouseLocation) -> URL:
    """The warehouse URL; the embedded server must already run (this command won't keep one)."""
    if location.database_url:
        return normalise_url(location.database_url.get_secret_value())
    if not embedded_running(location.data_dir):
        raise click.ClickException(
            f"the embedded PostgreSQL of {location.data_dir.resolve()} is not running: start it "
            "with `merge-pipeline db start` (or `make demo`), or set MERGE_PIPELINE_DATABASE_URL"
        )
    server = EmbeddedPostgres(location.data_dir)
    try:
        return with_database(server.start(), WAREHOUSE_DATABASE)
    finally:
        server.stop()  # it was running already, so this only lets go of it


@click.group()
def db() -> None:
    """The warehouse database: its URL, a psql shell, the embedded server."""


@db.command("url")
@click.option("--show-password", is_flag=True, help="Include the password (if there is one).")
def db_url(show_password: bool) -> None:
    """Print the warehouse URL as psql and other libpq programs accept it."""
    click.echo(libpq_url(_warehouse_url(_location()), hide_password=not show_password))


@db.command("shell")
def db_shell() -> None:
    """Open psql on the warehouse (a password goes through PGPASSWORD, not the command line)."""
    psql = shutil.which("psql")
    if psql is None:
        raise click.ClickException(
            "psql is not installed; `merge-pipeline db url` prints a URL for any SQL client"
        )
    url = _warehouse_url(_location())
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    os.execve(psql, [psql, libpq_url(without_password(url))], env)  # noqa: S606


@db.command("start")
def db_start() -> None:
    """Start the embedded PostgreSQL and leave it running (until `db stop` or `make clean`)."""
    location = _location()
    if location.database_url:
        raise click.ClickException(
            "MERGE_PIPELINE_DATABASE_URL is set, so the embedded PostgreSQL is not used"
        )
    was_running = embedded_running(location.data_dir)
    url = ensure_database(
        EmbeddedPostgres(location.data_dir, persistent=True).start(), WAREHOUSE_DATABASE
    )
    state = "was already running" if was_running else "started"
    click.echo(f"embedded PostgreSQL {state}: psql '{libpq_url(url)}'")


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL of the data directory, if it runs."""
    location = _location()
    if stop_embedded(location.data_dir):
        click.echo(f"stopped the embedded PostgreSQL of {location.data_dir.resolve()}")
    else:
        click.echo(f"no embedded PostgreSQL is running on {location.data_dir.resolve()}")
