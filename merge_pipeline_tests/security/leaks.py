"""Searching text for secrets in every escaping a leak could take, and where to look.

A secret can leak raw, JSON- or repr-escaped (a log of a dict), percent-encoded (a URL), base64
(a Basic header, a serialized blob) or as hex (PostgreSQL's rendering of ``bytea``). Base64 of a
secret inside a longer text depends on where it starts, so each of the three alignments is
searched for.
"""

import base64
import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import sqlalchemy as sa

#: shorter forms would match by chance
_SHORTEST = 8


def forms(secret: str) -> dict[str, str]:
    """Each escaping of ``secret`` (and of its core, without surrounding whitespace)."""
    found: dict[str, str] = {}
    for value in dict.fromkeys([secret, secret.strip()]):
        raw = value.encode()
        found |= {
            "raw": value.strip(),
            "json": json.dumps(value)[1:-1],
            "repr": repr(value)[1:-1],
            "url": quote(value, safe=""),
            "url+": quote_plus(value),
            "hex": raw.hex(),
        }
        for offset in range(3):
            aligned = raw[offset:]
            usable = len(aligned) - len(aligned) % 3
            encoded = base64.b64encode(aligned[:usable]).decode()
            found[f"base64@{offset}"] = encoded
            found[f"base64url@{offset}"] = base64.urlsafe_b64encode(aligned[:usable]).decode()
    return {name: text for name, text in found.items() if len(text) >= _SHORTEST}


@dataclass
class Scan:
    """Texts searched so far, by source, and every (source, secret, form) found."""

    secrets: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)
    hits: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._forms = {name: forms(value) for name, value in self.secrets.items()}

    def search(self, source: str, text: str, count: int = 1) -> None:
        self.counts[source] = self.counts.get(source, 0) + count
        lowered = text.lower()
        for name, escapings in self._forms.items():
            for form, needle in escapings.items():
                # hex and percent-encodings may be printed in either case
                haystack = lowered if form in ("hex", "url", "url+") else text
                wanted = needle.lower() if form in ("hex", "url", "url+") else needle
                if wanted in haystack:
                    self.hits.append((source, name, form))


def database_rows(engine: sa.Engine) -> Iterator[tuple[str, str]]:
    """``(schema.table, row as text)`` for every row of every table of every user schema."""
    with engine.connect() as connection:
        tables = connection.execute(
            sa.text(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
                "('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg_toast%'"
            )
        ).all()
        for schema, table in tables:
            rows = connection.execute(sa.text(f'SELECT t::text FROM "{schema}"."{table}" AS t'))
            for (text,) in rows:
                yield f"{schema}.{table}", text


def sqlite_rows(path: Path) -> Iterator[tuple[str, str]]:
    """``(file:table, row as text)`` for every row of a SQLite file (Dagster's storages)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                yield f"{path.name}:{table}", repr(row)
    finally:
        connection.close()


def is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


class CommandLines:
    """Every process's command line (``/proc/*/cmdline``), sampled while the test runs."""

    def __init__(self, every_s: float = 0.02) -> None:
        self.seen: dict[tuple[int, str], None] = {}
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "CommandLines":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                raw = Path(entry.path, "cmdline").read_bytes()
            except OSError:
                continue  # gone, or not ours to read
            if raw:
                self.seen[(int(entry.name), raw.replace(b"\0", b" ").decode(errors="replace"))] = (
                    None
                )

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._every_s)


#: loggers of the sandbox, which plays Merge: what Merge's side logs is not ours to scan
_MERGES_SIDE = ("merge_sandbox", "uvicorn")


@contextlib.contextmanager
def capture_logs() -> Iterator[list[str]]:
    """Every record logged in this process at DEBUG and above, formatted with its exception."""
    records: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if not record.name.startswith(_MERGES_SIDE):
                records.append(self.format(record))

    handler = _Keep(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
