"""What every benchmark needs: a throwaway PostgreSQL database, and the sandbox's accounts
stored in it as the link flow would have left them."""

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import URL, make_url

from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.server import EmbeddedPostgres, ensure_database, with_database
from merge_pipeline.warehouse.vault import TokenVault
from merge_sandbox.admin import AccountInfo


@contextmanager
def embedded_database(name: str) -> Iterator[sa.Engine]:
    """A migrated warehouse database on a private embedded server, removed afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="mpb-", dir="/tmp"))
    server = EmbeddedPostgres(data_dir)
    try:
        engine = sa.create_engine(ensure_database(server.start(), name))
        migrate(engine)
        yield engine
        engine.dispose()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def bench_database(name: str) -> Iterator[sa.Engine]:
    """A fresh migrated database on ``MERGE_PIPELINE_DATABASE_URL``'s server (dropped afterwards),
    or on a private embedded server when that is unset."""
    url = os.environ.get("MERGE_PIPELINE_DATABASE_URL")
    if not url:
        with embedded_database(name) as engine:
            yield engine
        return
    name = f"{name}_{os.getpid()}"
    engine = sa.create_engine(ensure_database(url, name))
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        admin = sa.create_engine(with_database(url, "postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def postgres_server() -> Iterator[URL]:
    """``MERGE_PIPELINE_DATABASE_URL``'s server, or a private embedded one (stopped afterwards),
    for benchmarks that make several databases (a warehouse, Dagster's storage)."""
    url = os.environ.get("MERGE_PIPELINE_DATABASE_URL")
    if url:
        yield make_url(url)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="mpb-", dir="/tmp"))
    server = EmbeddedPostgres(data_dir)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def store_tokens(engine: sa.Engine, accounts: Iterable[AccountInfo], vault: TokenVault) -> None:
    """Each sandbox account and its token (encrypted), as the "linked" webhook would store it."""
    with engine.begin() as connection:
        for info in accounts:
            account = LinkedAccount(id=info.id, category=info.category)
            save_account(connection, account, SecretStr(info.account_token), vault)
