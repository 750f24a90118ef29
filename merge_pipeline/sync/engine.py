"""One sync of one (linked account, Common Model) pair: cursor -> pages -> upserts -> cursor.

The rules that make it exactly-once:

* the pair's PostgreSQL advisory lock is held for the whole sync (no two syncs of a pair overlap,
  across processes and machines);
* pages are streamed and upserted one transaction per page (memory stays flat; a crash keeps
  what was written, and re-applied pages are no-ops because older versions never win);
* the cursor moves to the fetch's start *in the same transaction as the last page*, so a crash
  anywhere leaves the old cursor and the next run re-reads what it might have missed;
* models Merge cannot filter by ``modified_after`` are fully re-read (as is every incremental
  model once per sweep interval, see ``sweep``); rows a full listing does not return get
  ``_absent_since`` in that same last transaction, and only when a second listing confirms it,
  so one short listing or a record that moved while we paged is never taken for a deletion;
  ``remote_was_deleted`` only ever says what Merge said.
"""

import copy
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa

from merge_pipeline.catalog import Catalog, CommonModel, load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.merge.page import Page
from merge_pipeline.sync.prefetch import Prefetch
from merge_pipeline.sync.records import RecordShaper, ShapedPage
from merge_pipeline.sync.result import SyncResult
from merge_pipeline.sync.sweep import needs_full_listing
from merge_pipeline.sync.window import fetch_started_at, request_modified_after
from merge_pipeline.warehouse.conflicts import CONFLICT_RETRIES, is_transaction_conflict
from merge_pipeline.warehouse.cursors import read_cursor, write_cursor
from merge_pipeline.warehouse.history import (
    FAILED,
    SUCCEEDED,
    abandon_stale_runs,
    finish_sync_run,
    last_full_listing,
    start_sync_run,
)
from merge_pipeline.warehouse.locks import sync_lock
from merge_pipeline.warehouse.mirror_tables import MirrorTables, mirror_tables
from merge_pipeline.warehouse.upsert import (
    count_unseen,
    mark_absent,
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
    """How to sync: which relations to expand, the cursor overlap, a forced full fetch.

    ``deletion_sweep``: list an incremental model in full when its last full listing is older
    (None: never). ``max_absent_fraction``: a full listing that would mark more than this share
    of a table's present rows absent (with at least ``absence_guard_min_rows`` present) marks
    none and says so in the result, so one bad listing can never empty a mirror table.
    """

    expand: tuple[str, ...] = ()
    overlap: timedelta = timedelta(seconds=60)
    full: bool = False
    page_size: int | None = None
    deletion_sweep: timedelta | None = timedelta(days=1)
    max_absent_fraction: float = 0.5
    absence_guard_min_rows: int = 20


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

    #: set by :meth:`run` once the stored state is read: False = this sync lists every record
    _incremental: bool = True

    def _decide_listing(self, connection: sa.Connection, cursor: datetime | None) -> None:
        account_id = self._account.linked_account_id
        self._incremental = not needs_full_listing(
            supports_modified_after=self._model.supports_modified_after,
            forced=self._options.full,
            has_cursor=cursor is not None,
            last_full_listing=last_full_listing(connection, account_id, self._model.model_id),
            now=datetime.now(UTC),
            sweep_interval=self._options.deletion_sweep,
        )

    def run(self) -> SyncResult:
        """Sync the pair; raises the Merge or database error after recording the failure."""
        account_id = self._account.linked_account_id
        self._started = time.perf_counter()
        # the client may serve several syncs: report this sync's share of its counters
        self._stats_before = self._client.stats.snapshot()
        with self._engine.connect() as connection:
            lock_started = time.perf_counter()
            with sync_lock(connection, account_id, self._model.model_id):
                lock_wait = time.perf_counter() - lock_started
                abandon_stale_runs(connection, account_id, self._model.model_id)
                cursor = read_cursor(connection, account_id, self._model.model_id)
                self._decide_listing(connection, cursor)
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
                    full_fetch=not self._incremental,
                    cursor_before=cursor,
                    lock_wait_s=lock_wait,
                )
                try:
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
                        error=f"{type(error).__name__}: {error}",
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
                table.c._absent_since.is_(None),  # a vanished parent's children 404
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
        self._fetch_start: datetime | None = None
        self._listing_started: datetime | None = None
        if not self._incremental:
            self._listing_started = start_full_fetch(connection)
            connection.commit()
        # A full listing that leaves rows out is repeated once before they are marked absent:
        # only rows both listings omit are absent (a short listing, or a record that moved
        # while we paged in a descending or unstable order, is in the second one).
        for confirming in (False, True):
            pages = Prefetch(self._pages(modified_after, parents))
            with pages:
                done = self._store_pages(
                    connection, pages, local_start, result, history_id, confirming
                )
            if done:
                return

    def _store_pages(
        self,
        connection: sa.Connection,
        pages: Iterable[Page],
        local_start: datetime,
        result: SyncResult,
        history_id: int,
        confirming: bool,
    ) -> bool:
        """Store one listing; True when the sync finished with it (False: confirm first)."""
        table = self._tables[self._model]
        for page, is_last in _with_last(pages):
            if self._fetch_start is None:
                self._fetch_start = fetch_started_at(
                    page.server_date, timedelta(seconds=page.elapsed), local_start
                )
            shaped = self._shaper.shape_page(page.results)

            def store(shaped: ShapedPage = shaped, is_last: bool = is_last) -> bool:
                self._store_page(connection, shaped, result)
                if not self._incremental:
                    remember_seen(connection, [row["id"] for row in shaped.rows])
                result.pages += 1
                return is_last and self._finish_if_settled(
                    connection, table, result, history_id, confirming
                )

            finished = self._commit(connection, result, store)
            if self._progress is not None:
                self._collect_stats(result)
                self._progress(result, page)
            if is_last:
                return finished
        # no page at all (e.g. a nested model whose parents have none)
        if self._fetch_start is None:
            self._fetch_start = fetch_started_at(None, timedelta(0), local_start)
        return self._commit(
            connection,
            result,
            lambda: self._finish_if_settled(connection, table, result, history_id, confirming),
        )

    def _commit(
        self, connection: sa.Connection, result: SyncResult, work: Callable[[], bool]
    ) -> bool:
        """Run one page's transaction; re-run it if PostgreSQL aborted it as a deadlock.

        A page is idempotent (older versions never win, ids seen are a set), so re-running it
        after a conflict is safe; the counters are restored so nothing is counted twice.
        """
        for attempt in range(CONFLICT_RETRIES + 1):
            saved = copy.deepcopy(vars(result))
            try:
                outcome = work()
                connection.commit()
                return outcome
            except sa.exc.DBAPIError as error:
                if attempt == CONFLICT_RETRIES or not is_transaction_conflict(error):
                    raise
                connection.rollback()
                vars(result).update(saved)
                result.transaction_conflicts += 1
                log.warning(
                    "%s for %s: page transaction aborted by a deadlock; re-running it",
                    self._model.model_id,
                    self._account.linked_account_id,
                )
        raise AssertionError("unreachable")  # the loop returns or raises

    def _finish_if_settled(
        self,
        connection: sa.Connection,
        table: sa.Table,
        result: SyncResult,
        history_id: int,
        confirming: bool,
    ) -> bool:
        """Finish now, unless a full listing left rows out and has not been confirmed yet."""
        if not self._incremental and not confirming:
            assert self._listing_started is not None
            unseen, _ = count_unseen(
                connection, table, self._account.linked_account_id, self._listing_started
            )
            if unseen:
                result.confirmation_listings += 1
                return False
        assert self._fetch_start is not None
        self._finish(connection, table, self._fetch_start, result, history_id)
        return True

    def _store_page(
        self, connection: sa.Connection, shaped: ShapedPage, result: SyncResult
    ) -> None:
        """Upsert a page and its expanded relations, tables in model-id order.

        One order for every sync means an expanding sync and the related model's own sync take
        their row locks in the same order, so they wait for each other instead of deadlocking.
        """
        main = self._model.model_id
        batches = [(m, list(rows.values()), True) for m, rows in shaped.related.items()]
        batches.append((main, shaped.rows, False))
        # expanded copies of the model itself go before its own rows, which win on a tie
        for model_id, rows, related in sorted(batches, key=lambda b: (b[0], not b[2])):
            counts = upsert_rows(connection, self._tables[model_id], rows, self.sync_run_id)
            if related:
                result.related_upserted[model_id] = (
                    result.related_upserted.get(model_id, 0) + counts.inserted + counts.updated
                )
                continue
            result.records_received += len(rows)
            result.records_inserted += counts.inserted
            result.records_updated += counts.updated
            result.records_unchanged += counts.unchanged
            result.records_deleted += counts.deleted
            result.records_returned += counts.returned

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
            self._mark_absent(connection, table, result)
        write_cursor(connection, account_id, self._model.model_id, fetch_start, self.sync_run_id)
        result.cursor_after = fetch_start
        self._collect_stats(result)
        finish_sync_run(
            connection,
            history_id,
            status=SUCCEEDED,
            cursor_after=fetch_start,
            stats=result.as_dict(),
        )

    def _mark_absent(self, connection: sa.Connection, table: sa.Table, result: SyncResult) -> None:
        """Stamp ``_absent_since`` on rows no listing returned, unless that is a mass deletion."""
        account_id = self._account.linked_account_id
        assert self._listing_started is not None
        unseen, present = count_unseen(connection, table, account_id, self._listing_started)
        options = self._options
        if (
            unseen
            and present >= options.absence_guard_min_rows
            and unseen > options.max_absent_fraction * present
        ):
            result.absence_refused = unseen
            log.warning(
                "%s for %s: the listings left out %d of %d rows; none marked absent (more "
                "than %.0f%% looks like a broken listing, not deletions)",
                self._model.model_id,
                account_id,
                unseen,
                present,
                100 * options.max_absent_fraction,
            )
            return
        result.records_marked_absent = mark_absent(
            connection, table, account_id, self._listing_started
        )

    def _collect_stats(self, result: SyncResult) -> None:
        """This sync's share of the client's traffic counters (SyncResult mirrors CallStats)."""
        for name, value in self._client.stats.snapshot().items():
            setattr(result, name, value - self._stats_before[name])
        result.duration_s = time.perf_counter() - self._started
