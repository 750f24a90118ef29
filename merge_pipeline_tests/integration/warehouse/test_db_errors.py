"""Real PostgreSQL errors say what they were: a lock timeout is not "unreachable"."""

import socket
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.engine import URL

from merge_pipeline.warehouse.db_errors import describe_database_error


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound by nobody else and listened on by nobody: connecting is refused."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, never listening: the kernel refuses connects
        yield holder.getsockname()[1]


def test_a_lock_timeout_says_so(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE IF NOT EXISTS db_errors_probe (id int)"))
    with engine.connect() as holder, engine.connect() as waiter:
        holder.execute(sa.text("LOCK TABLE db_errors_probe IN ACCESS EXCLUSIVE MODE"))
        waiter.execute(sa.text("SET lock_timeout = '50ms'"))
        with pytest.raises(sqlalchemy.exc.OperationalError) as raised:
            waiter.execute(sa.text("SELECT * FROM db_errors_probe"))
        holder.rollback()
    assert describe_database_error(raised.value) == (
        "a lock wait timed out (lock_timeout): another session holds the lock [SQLSTATE 55P03]"
    )


def test_a_refused_connection_says_unreachable(database_url: URL, closed_port: int) -> None:
    # over TCP, whatever the session's server (the embedded one's URL names a socket)
    tcp = database_url.set(host="127.0.0.1", port=closed_port, query={})
    nowhere = sa.create_engine(tcp)
    with pytest.raises(sqlalchemy.exc.OperationalError) as raised:
        nowhere.connect()
    nowhere.dispose()
    line = describe_database_error(raised.value)
    assert line.startswith("the warehouse database is unreachable (connection refused): ")
    assert str(closed_port) in line


def test_a_missing_database_is_named(database_url: URL) -> None:
    missing = sa.create_engine(database_url.set(database="mp_no_such_database"))
    with pytest.raises(sqlalchemy.exc.OperationalError) as raised:
        missing.connect()
    missing.dispose()
    assert describe_database_error(raised.value).startswith(
        "the database (or role) named in MERGE_PIPELINE_DATABASE_URL does not exist"
    )
