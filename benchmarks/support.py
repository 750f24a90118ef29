"""What every benchmark needs: a throwaway embedded PostgreSQL database."""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.server import EmbeddedPostgres, ensure_database


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
