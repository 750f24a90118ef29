"""Fixtures that start real parts: an embedded (or external) PostgreSQL and a fresh database.

Set ``MERGE_PIPELINE_DATABASE_URL`` to run the suite against an external server instead of the
embedded one; each session then works in its own throwaway database on that server.
"""

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import URL

from merge_pipeline.settings import Settings
from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.server import (
    EmbeddedPostgres,
    ensure_database,
    normalise_url,
    with_database,
)
from merge_pipeline.warehouse.vault import TokenVault, generate_key

EXTERNAL_URL_VARIABLE = "MERGE_PIPELINE_DATABASE_URL"
SENTINEL_API_KEY = "sk-SENTINEL-API-KEY-7f3a9c"
SENTINEL_SIGNING_KEY = "whsec-SENTINEL-SIGNING-KEY-2b8e41"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[URL]:
    """The PostgreSQL server of this test session (external if configured, else embedded)."""
    external = os.environ.get(EXTERNAL_URL_VARIABLE)
    if external:
        yield normalise_url(external)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="mpt-", dir="/tmp"))  # short: unix socket path limit
    server = EmbeddedPostgres(data_dir)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(postgres_server: URL) -> Iterator[URL]:
    """A database of its own for this session, dropped at the end."""
    name = f"mp_test_{os.getpid()}_{secrets.token_hex(3)}"
    url = ensure_database(postgres_server, name)
    yield url
    admin = sa.create_engine(
        with_database(postgres_server, "postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: URL) -> Iterator[sa.Engine]:
    """An engine on the session's database, with the whole warehouse schema migrated."""
    engine = sa.create_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def encryption_key() -> str:
    return generate_key()


@pytest.fixture
def vault(encryption_key: str) -> TokenVault:
    return TokenVault(SecretStr(encryption_key))


@pytest.fixture
def settings(database_url: URL, encryption_key: str) -> Settings:
    """Settings with sentinel secrets, so leak tests can search for them in any output."""
    return Settings(
        api_key=SecretStr(SENTINEL_API_KEY),
        token_encryption_key=SecretStr(encryption_key),
        webhook_signing_key=SecretStr(SENTINEL_SIGNING_KEY),
        database_url=database_url.render_as_string(hide_password=False),
        _env_file=None,
    )
