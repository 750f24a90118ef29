"""Upsert strategies for pages of Merge records, against the ceiling of a bare COPY.

* ``copy_merge`` (what the engine uses): ``COPY`` the page into a staging table, then one
  ``INSERT ... SELECT ... ON CONFLICT DO UPDATE WHERE newer``;
* ``insert_on_conflict``: the same guarded upsert as an executemany ``INSERT ... VALUES``
  (SQLAlchemy batches it with insertmanyvalues);
* ceiling: the same CSV ``COPY``-ed into an unlogged table with no key and no conflict handling,
  the fastest way PostgreSQL takes these rows.

Run: ``python -m benchmarks.upsert [--records N] [--page-size P]``.
"""

import argparse
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from benchmarks.report import publish, ratio
from benchmarks.support import bench_database
from merge_pipeline.catalog import load_catalog
from merge_pipeline.sync.records import RecordShaper
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline.warehouse.upsert import copy_columns, encode_copy_csv, upsert_rows

MODEL_ID = "hris.Employee"
Pages = list[list[dict[str, Any]]]


def fake_employees(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Employee records shaped like Merge's, without the sandbox (this measures SQL only)."""
    rng = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128))),
            "remote_id": str(i),
            "created_at": (base + timedelta(seconds=i)).isoformat(),
            "modified_at": (base + timedelta(seconds=i)).isoformat(),
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "work_email": f"person{i}@example.com",
            "employment_status": rng.choice(["ACTIVE", "PENDING", "INACTIVE"]),
            "groups": [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(2)],
            "custom_fields": {"shirt": rng.choice("SML")},
            "remote_was_deleted": False,
        }
        for i in range(count)
    ]


def copy_merge(engine: sa.Engine, table: sa.Table, pages: Pages) -> None:
    with engine.connect() as connection:
        for page in pages:
            upsert_rows(connection, table, page, "bench")
            connection.commit()


def insert_on_conflict(engine: sa.Engine, table: sa.Table, pages: Pages) -> None:
    statement = insert(table)
    keys = {"linked_account_id", "id"}
    statement = statement.on_conflict_do_update(
        index_elements=["linked_account_id", "id"],
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys},
        where=sa.or_(
            table.c.modified_at.is_(None), statement.excluded.modified_at > table.c.modified_at
        ),
    )
    with engine.connect() as connection:
        for page in pages:
            connection.execute(statement, page)
            connection.commit()


def ceiling_copy(engine: sa.Engine, table: sa.Table, pages: Pages) -> None:
    columns = copy_columns(table)
    names = ", ".join(f'"{c.name}"' for c in columns)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            f'CREATE UNLOGGED TABLE bench_ceiling (LIKE "{table.schema}"."{table.name}" '
            "INCLUDING DEFAULTS)"
        )
        for page in pages:
            buffer = encode_copy_csv(columns, page)
            cursor.copy_expert(f"COPY bench_ceiling ({names}) FROM STDIN WITH (FORMAT csv)", buffer)
            raw.commit()
        cursor.execute("DROP TABLE bench_ceiling")
        raw.commit()
    finally:
        raw.close()


STRATEGIES: dict[str, Callable[[sa.Engine, sa.Table, Pages], None]] = {
    "ceiling: bare COPY": ceiling_copy,
    "copy_merge (engine)": copy_merge,
    "insert_on_conflict": insert_on_conflict,
}


def run(records: int, page_size: int) -> dict[str, float]:
    """Seconds per strategy, each into a fresh account so every row is a real insert."""
    model = load_catalog().model(MODEL_ID)
    table = mirror_tables()[model]
    source = fake_employees(records)
    seconds: dict[str, float] = {}
    with bench_database("bench_upsert") as engine:
        for label, strategy in STRATEGIES.items():
            account = f"bench-{uuid.uuid4()}"
            rows = RecordShaper(load_catalog(), model, account).shape_page(source).rows
            pages = [rows[i : i + page_size] for i in range(0, len(rows), page_size)]
            started = time.perf_counter()
            strategy(engine, table, pages)
            seconds[label] = time.perf_counter() - started
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Upsert strategies against a bare COPY.")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args(argv)
    seconds = run(args.records, args.page_size)
    ceiling = seconds["ceiling: bare COPY"]
    rows = [
        {
            "strategy": label,
            "rows/s": args.records / elapsed,
            "seconds": elapsed,
            "x ceiling time": ratio(elapsed, ceiling),
        }
        for label, elapsed in seconds.items()
    ]
    publish(
        "upsert",
        f"upsert of {args.records} {MODEL_ID} rows in pages of {args.page_size}",
        rows,
        ["strategy", "rows/s", "seconds", "x ceiling time"],
        parameters=vars(args),
        plot={"x": "strategy", "y": ["x ceiling time"], "ylabel": "time / the bare COPY's"},
    )


if __name__ == "__main__":
    main()
