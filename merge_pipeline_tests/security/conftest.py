"""A database of its own, owned by a role with a password, for tests that scan or rewrite every
row (the session's database is shared with other tests' accounts)."""

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from merge_pipeline.processes import port_is_free
from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.server import with_database


@dataclass(frozen=True)
class OwnDatabase:
    url: URL  # with the role's password
    password: str
    engine: sa.Engine


@pytest.fixture(scope="module")
def own_database(postgres_server: URL) -> Iterator[OwnDatabase]:
    """A fresh, migrated database owned by a fresh login role with a sentinel password.

    The password is real on either server (embedded or external); whether the server checks it
    depends on its pg_hba, but the URL carrying it goes everywhere a URL goes, which is what
    the leak scan needs.
    """
    suffix = secrets.token_hex(4)
    role, name = f"mp_leak_{suffix}", f"mp_leak_{suffix}"
    password = f"pw-SENTINEL-{secrets.token_hex(10)}"
    admin = sa.create_engine(
        with_database(postgres_server, "postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
        connection.execute(sa.text(f'CREATE DATABASE "{name}" OWNER {role}'))
    url = with_database(postgres_server, name).set(username=role, password=password)
    engine = sa.create_engine(url)
    migrate(engine)
    try:
        yield OwnDatabase(url, password, engine)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def free_port(start: int) -> int:
    """A free port near ``start``, spread by process id (several sessions share the machine)."""
    port = start + os.getpid() % 1000
    while not port_is_free(port):
        port += 1
    return port
