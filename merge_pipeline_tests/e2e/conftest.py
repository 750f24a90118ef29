"""Each end-to-end module gets a warehouse of its own: the daemon's sensors read every stored
account, so they must see only that module's accounts."""

import os
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.server import ensure_database
from merge_pipeline_tests.dagster_stack import drop_database


@pytest.fixture(scope="module")
def database_url(postgres_server: URL) -> Iterator[URL]:
    name = f"mp_e2e_{os.getpid()}_{secrets.token_hex(3)}"
    yield ensure_database(postgres_server, name)
    drop_database(postgres_server, name)


@pytest.fixture(scope="module")
def engine(database_url: URL) -> Iterator[sa.Engine]:
    warehouse = sa.create_engine(database_url)
    migrate(warehouse)
    yield warehouse
    warehouse.dispose()
