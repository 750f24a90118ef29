"""One sync of one (linked account, Common Model) pair: cursor -> pages -> upserts -> cursor.

The rules that make it exactly-once:

* the pair's PostgreSQL advisory lock is held for the whole sync (no two syncs of a pair overlap,
  across processes and machines);
* pages are streamed and upserted one transaction per page (memory stays flat; a crash keeps
  what was written, and re-applied pages are no-ops because older versions never win);
* the cursor moves to the fetch's start *in the same transaction as the last page*, so a crash
  anywhere leaves the old cursor and the next run re-reads what it might have missed;
* models Merge cannot filter by ``modified_after`` are fully re-read, and rows it no longer
  returns are marked deleted in that same last transaction;
* a record that cannot be mirrored is quarantined (kept whole with the reason) in its page's
  transaction while the rest of the page is stored; it is fetched again by id at the start of
  later syncs until it stores, and for a model without a retrieve-by-id endpoint the cursor does
  not move while such a record waits, so nothing is lost either way.
"""

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa
import sqlalchemy.exc

from merge_pipeline.catalog import Catalog, CommonModel, load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.merge.errors import MergeAuthError, MergeError, MergeNotFound
from merge_pipeline.merge.page import Page
from merge_pipeline.sync.failure import describe_failure
from merge_pipeline.sync.prefetch import Prefetch
from merge_pipeline.sync.records import RecordShaper, ShapedPage
from merge_pipeline.sync.result import SyncResult
from merge_pipeline.sync.storable import exact_json
from merge_pipeline.sync.window import fetch_started_at, request_modified_after
from merge_pipeline.warehouse.cursors import read_cursor, write_cursor
from merge_pipeline.warehouse.history import (
    FAILED,
    SUCCEEDED,
    abandon_stale_runs,
    finish_sync_run,
    start_sync_run,
)
from merge_pipeline.warehouse.locks import sync_lock
from merge_pipeline.warehouse.mirror_tables import RAW, RAW_EXACT, MirrorTables, mirror_tables
from merge_pipeline.warehouse.quarantine import (
    GONE,
    Quarantined,
    pending_count,
    pending_ids,
    quarantine,
    resolve,
)
from merge_pipeline.warehouse.upsert import (
    mark_missing_as_deleted,
    remember_seen,
    start_full_fetch,
    upsert_rows,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: called after each page is committed: (result so far, page) - for progress bars
ProgressCallback = Callable[[SyncResult, Page], None]


@dataclass(frozen=True)
class SyncOptions:
    """How to sync: which relations to expand, the cursor overlap, a forced full fetch."""

    expand: tuple[str, ...] = ()
    overlap: timedelta = timedelta(seconds=60)
    full: bool = False
    page_size: int | None = None
    lock_timeout_s: float = 1800.0
    #: quarantined records fetched again by id per sync (a bound on calls spent on them)
    quarantine_retries: int = 100


#: SQLSTATE classes of a database refusing a row's data (data exception, integrity, limits):
#: the page is then stored row by row and the refused rows are quarantined
_ROW_PROBLEM_CLASSES = ("22", "23", "54")


def _refused_row_data(error: sqlalchemy.exc.DBAPIError) -> bool:
    code = getattr(error.orig, "pgcode", None) or ""
    return code[:2] in _ROW_PROBLEM_CLASSES


def _with_last(items: Iterable[T]) -> Iterator[tuple[T, bool]]:
    """Yield each item with a flag saying whether it is the last (one item of lookahead)."""
    iterator = iter(items)
    try:
        previous = next(iterator)
    except StopIteration:
        return
    for item in iterator:
        yield previous, False
        previous = item
    yield previous, True


class ModelSync:
    """Syncs one model of one linked account; construct, then :meth:`run`."""

    def __init__(
        self,
        engine: sa.Engine,
        client: MergeClient,
        account: AccountCredentials,
        model: CommonModel,
        *,
        options: SyncOptions | None = None,
        sync_run_id: str | None = None,
        catalog: Catalog | None = None,
        tables: MirrorTables | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self._engine = engine
        self._client = client
        self._account = account
        self._model = model
        self._options = options or SyncOptions()
        self._catalog = catalog or load_catalog()
        self._tables = tables or mirror_tables()
        self._progress = progress
        self._shaper = RecordShaper(self._catalog, model, account.linked_account_id)
        self.sync_run_id = sync_run_id or f"adhoc-{uuid.uuid4()}"

    @property
    def _incremental(self) -> bool:
        return self._model.supports_modified_after and not self._options.full

    def run(self) -> SyncResult:
        """Sync the pair; raises the Merge or database error after recording the failure."""
        account_id = self._account.linked_account_id
        self._started = time.perf_counter()
        # the client may serve several syncs: report this sync's share of its counters
        self._stats_before = self._client.stats.snapshot()
        with self._engine.connect() as connection:
            lock_started = time.perf_counter()
            with sync_lock(
                connection,
                account_id,
                self._model.model_id,
                timeout_s=self._options.lock_timeout_s,
            ):
                lock_wait = time.perf_counter() - lock_started
                abandon_stale_runs(connection, account_id, self._model.model_id)
                cursor = read_cursor(connection, account_id, self._model.model_id)
                history_id = start_sync_run(
                    connection,
                    sync_run_id=self.sync_run_id,
                    linked_account_id=account_id,
                    model_id=self._model.model_id,
                    cursor_before=cursor,
                )
                connection.commit()
                result = SyncResult(
                    linked_account_id=account_id,
                    model_id=self._model.model_id,
                    sync_run_id=self.sync_run_id,
                    full_fetch=cursor is None or not self._incremental,
                    cursor_before=cursor,
                    lock_wait_s=lock_wait,
                )
                try:
                    self._retry_quarantined(connection, result)
                    self._fetch_and_store(connection, cursor, result, history_id)
                except BaseException as error:
                    connection.rollback()
                    self._collect_stats(result)
                    finish_sync_run(
                        connection,
                        history_id,
                        status=FAILED,
                        cursor_after=cursor,
                        stats=result.as_dict(),
                        error=describe_failure(error, self._secrets()),
                    )
                    connection.commit()
                    raise
        log.info(
            "synced %s for %s: %d received, %d inserted, %d updated, %d calls in %.1fs",
            self._model.model_id,
            account_id,
            result.records_received,
            result.records_inserted,
            result.records_updated,
            result.api_calls,
            result.duration_s,
        )
        return result

    def _pages(
        self, modified_after: datetime | None, parents: list[dict[str, str]] | None
    ) -> Iterator[Page]:
        """Every page of the model; for nested paths, every page under every live parent."""
        for path_params in parents if parents is not None else [None]:
            yield from self._client.iter_pages(
                self._account,
                self._model,
                modified_after=modified_after,
                expand=self._options.expand,
                include_deleted_data=True,
                page_size=self._options.page_size,
                path_params=path_params,
            )

    def _parent_ids(self, connection: sa.Connection) -> list[dict[str, str]]:
        [param] = self._model.path_params  # every nested Merge path has exactly one parent
        parent = self._catalog.category(self._model.category).model(str(param.model))
        table = self._tables[parent]
        rows = connection.execute(
            sa.select(table.c.id)
            .where(
                table.c.linked_account_id == self._account.linked_account_id,
                table.c.remote_was_deleted.is_(False),
            )
            .order_by(table.c.id)
        )
        ids = [{param.name: row.id} for row in rows]
        connection.commit()
        return ids

    def _fetch_and_store(
        self,
        connection: sa.Connection,
        cursor: datetime | None,
        result: SyncResult,
        history_id: int,
    ) -> None:
        modified_after = (
            request_modified_after(cursor, self._options.overlap) if self._incremental else None
        )
        result.requested_modified_after = modified_after
        local_start = datetime.now(UTC)
        parents = self._parent_ids(connection) if self._model.is_nested else None
        pages = Prefetch(self._pages(modified_after, parents))
        with pages:
            self._store_pages(connection, pages, local_start, result, history_id)

    def _store_pages(
        self,
        connection: sa.Connection,
        pages: Iterable[Page],
        local_start: datetime,
        result: SyncResult,
        history_id: int,
    ) -> None:
        fetch_start: datetime | None = None
        table = self._tables[self._model]
        last_page: Page | None = None
        if not self._incremental:
            start_full_fetch(connection)
        for page, is_last in _with_last(pages):
            if fetch_start is None:
                fetch_start = fetch_started_at(
                    page.server_date, timedelta(seconds=page.elapsed), local_start
                )
            shaped = self._shaper.shape_page(page.results)
            listed = self._store_page(connection, shaped, result)
            if not self._incremental:
                # quarantined records were listed: a full refresh must not mark them missing
                remember_seen(connection, listed)
            result.pages += 1
            last_page = page
            if is_last:
                self._finish(connection, table, fetch_start, result, history_id)
            connection.commit()
            if self._progress is not None:
                self._collect_stats(result)
                self._progress(result, page)
        if last_page is None:  # no page at all (e.g. a nested model whose parents have none)
            self._finish(
                connection,
                table,
                fetch_started_at(None, timedelta(0), local_start),
                result,
                history_id,
            )
            connection.commit()

    def _secrets(self) -> list[str]:
        """Every secret this sync touches, for redacting text we did not write."""
        password = self._engine.url.password
        return [*self._client.secret_values(self._account), *([str(password)] if password else [])]

    @property
    def _retrievable(self) -> bool:
        """Whether a record of this model can be fetched by its id alone."""
        path = self._model.retrieve_path
        return path is not None and path.count("{") == 1

    def _retry_quarantined(self, connection: sa.Connection, result: SyncResult) -> None:
        """Fetch quarantined records of the pair again by id (bounded), storing those now fine."""
        if not self._retrievable:
            return
        account_id = self._account.linked_account_id
        ids = pending_ids(
            connection, account_id, self._model.model_id, self._options.quarantine_retries
        )
        connection.commit()
        for record_id in ids:
            try:
                record = self._client.retrieve(self._account, self._model, record_id)
            except MergeNotFound:
                result.quarantine_resolved += resolve(
                    connection, account_id, self._model.model_id, [record_id], GONE
                )
            except MergeAuthError:
                raise
            except MergeError as error:  # the record keeps waiting; the listing goes on
                log.warning("%s: quarantined record not fetched again: %s", account_id, error)
            else:
                self._store_page(connection, self._shaper.shape_page([record]), result)
            connection.commit()

    def _store_page(
        self, connection: sa.Connection, shaped: ShapedPage, result: SyncResult
    ) -> list[str]:
        """Upsert a shaped page, quarantining what cannot be stored; returns the ids listed."""
        try:
            self._upsert(connection, shaped, result)
        except sqlalchemy.exc.DBAPIError as error:
            if not _refused_row_data(error):
                raise
            log.warning(
                "%s for %s: the database refused a page (%s); storing it row by row",
                self._model.model_id,
                self._account.linked_account_id,
                describe_failure(error),
            )
            self._upsert_row_by_row(connection, shaped, result)
        account_id = self._account.linked_account_id
        quarantine(connection, account_id, shaped.quarantined, self.sync_run_id)
        own = [q for q in shaped.quarantined if q.model_id == self._model.model_id]
        result.records_quarantined += len(own)
        result.records_received += len(own)
        stored = [row["id"] for row in shaped.rows]
        result.quarantine_resolved += resolve(connection, account_id, self._model.model_id, stored)
        return stored + [q.record_id for q in own if q.record_id is not None]

    def _upsert(self, connection: sa.Connection, shaped: ShapedPage, result: SyncResult) -> None:
        """Upsert in a savepoint; ``result`` counts it only once the savepoint holds."""
        related: dict[str, int] = {}
        with connection.begin_nested():
            for model_id, rows in shaped.related.items():
                table = self._tables[model_id]
                done = upsert_rows(connection, table, list(rows.values()), self.sync_run_id)
                related[model_id] = done.inserted + done.updated
            table = self._tables[self._model]
            counts = upsert_rows(connection, table, shaped.rows, self.sync_run_id)
        for model_id, upserted in related.items():
            result.related_upserted[model_id] = result.related_upserted.get(model_id, 0) + upserted
        result.records_received += len(shaped.rows)
        result.records_inserted += counts.inserted
        result.records_updated += counts.updated
        result.records_unchanged += counts.unchanged
        result.records_deleted += shaped.deleted

    def _upsert_row_by_row(
        self, connection: sa.Connection, shaped: ShapedPage, result: SyncResult
    ) -> None:
        """The slow path for a page the database refused: each row alone, refused ones aside."""
        kept = ShapedPage(quarantined=shaped.quarantined)
        own = self._model.model_id
        pairs = [(m, row) for m, rows in shaped.related.items() for row in rows.values()]
        for model_id, row in [*pairs, *((own, row) for row in shaped.rows)]:
            single = ShapedPage()
            if model_id == own:
                single.rows.append(row)
                single.deleted = int(bool(row["remote_was_deleted"]))
            else:
                single.related[model_id][row["id"]] = row
            try:
                self._upsert(connection, single, result)
            except sqlalchemy.exc.DBAPIError as error:
                if not _refused_row_data(error):
                    raise
                kept.quarantined.append(
                    Quarantined(
                        model_id=model_id,
                        record_id=row["id"],
                        reason=f"the database refused it: {describe_failure(error)}",
                        raw_json=row.get(RAW_EXACT) or exact_json(row[RAW]),
                        modified_at=None,
                    )
                )
            else:
                if model_id == own:
                    kept.rows.append(row)
        shaped.rows[:] = kept.rows
        shaped.quarantined[:] = kept.quarantined

    def _finish(
        self,
        connection: sa.Connection,
        table: sa.Table,
        fetch_start: datetime,
        result: SyncResult,
        history_id: int,
    ) -> None:
        """The last transaction's extra work: missing rows, the cursor, the history row."""
        account_id = self._account.linked_account_id
        if not self._incremental:
            result.records_marked_missing = mark_missing_as_deleted(connection, table, account_id)
        result.quarantine_pending = pending_count(connection, account_id, self._model.model_id)
        cursor_after: datetime | None = fetch_start
        if result.quarantine_pending and not self._retrievable and self._incremental:
            # nothing can fetch the waiting records by id: re-list them from the old cursor
            cursor_after = result.cursor_before
            log.warning(
                "%s for %s: %d quarantined records wait; the cursor stays where it was",
                self._model.model_id,
                account_id,
                result.quarantine_pending,
            )
        else:
            write_cursor(
                connection, account_id, self._model.model_id, fetch_start, self.sync_run_id
            )
        result.cursor_after = cursor_after
        self._collect_stats(result)
        finish_sync_run(
            connection,
            history_id,
            status=SUCCEEDED,
            cursor_after=cursor_after,
            stats=result.as_dict(),
        )

    def _collect_stats(self, result: SyncResult) -> None:
        """This sync's share of the client's traffic counters (SyncResult mirrors CallStats)."""
        for name, value in self._client.stats.snapshot().items():
            setattr(result, name, value - self._stats_before[name])
        result.duration_s = time.perf_counter() - self._started
