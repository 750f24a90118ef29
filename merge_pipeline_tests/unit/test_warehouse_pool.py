"""The warehouse engine's pool has room for every sync a process runs at once."""

import pytest

from merge_pipeline.warehouse.database import pool_size_for


@pytest.mark.parametrize(
    ("concurrency", "expected"),
    [(1, 5), (2, 5), (4, 9), (10, 21), (64, 129)],  # never below SQLAlchemy's default of 5
)
def test_two_connections_per_concurrent_sync(concurrency: int, expected: int) -> None:
    assert pool_size_for(concurrency) == expected
