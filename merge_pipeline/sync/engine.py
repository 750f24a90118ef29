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
* nested models are listed parent by parent, under the policy in ``nested_policy`` (every
  parent, or changed ones plus a periodic full re-list); each parent keeps its own window and
  last listing, recorded in that same last transaction, and only the children of the parents
  listed completely can be marked missing (a deleted parent's children stay as Merge listed
  them).
"""

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from merge_pipeline.catalog import Catalog, CommonModel, load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.merge.errors import MergeNotFound
from merge_pipeline.merge.page import Page
from merge_pipeline.settings import Settings
from merge_pipeline.sync.nested_policy import (
    DEFAULT_FULL_RELIST_EVERY,
    NestedPolicy,
    ParentPlan,
    ParentState,
    child_modified_after,
    plan_parents,
)
from merge_pipeline.sync.prefetch import Prefetch
from merge_pipeline.sync.records import RecordShaper, ShapedPage
from merge_pipeline.sync.result import SyncResult
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
from merge_pipeline.warehouse.mirror_tables import PARENT_ID, MirrorTables, mirror_tables
from merge_pipeline.warehouse.nested_listings import (
    children_of,
    last_full_relist,
    parent_listings,
    parent_states,
    record_full_relist,
    record_parent_listings,
    set_parent,
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
    """How to sync: which relations to expand, the cursor overlap, a forced full fetch, and
    which parents a nested model lists (``every-parent`` unless the caller chooses: settings
    give scheduled syncs their configured policy)."""

    expand: tuple[str, ...] = ()
    overlap: timedelta = timedelta(seconds=60)
    full: bool = False
    page_size: int | None = None
    nested_policy: NestedPolicy = NestedPolicy.EVERY_PARENT
    nested_full_relist_every: timedelta = DEFAULT_FULL_RELIST_EVERY

    @classmethod
    def from_settings(cls, settings: Settings, **changes: Any) -> "SyncOptions":
        """The configured overlap and nested policy (what scheduled syncs use), plus changes."""
        configured: dict[str, Any] = {
            "overlap": timedelta(seconds=settings.cursor_overlap_s),
            "nested_policy": settings.nested_policy,
            "nested_full_relist_every": timedelta(hours=settings.nested_full_relist_hours),
        }
        return cls(**(configured | changes))


@dataclass(frozen=True, slots=True)
class _Listing:
    """One stream of pages: the whole model, or the children of one parent."""

    parent: ParentState | None
    modified_after: datetime | None


@dataclass
class _ParentOutcomes:
    """The parents this sync listed completely, and those that answered 404."""

    listed: list[ParentState] = field(default_factory=list)
    not_found: list[ParentState] = field(default_factory=list)


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
        self._parent_plan: ParentPlan | None = None  # set when a nested model plans its parents
        self._planned_at = datetime.now(UTC)

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
            with sync_lock(connection, account_id, self._model.model_id):
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

    def _pages(self, listings: Iterable[_Listing]) -> Iterator[tuple[_Listing, Page | None]]:
        """Every page of every listing; ``None`` for a parent Merge no longer knows (404)."""
        for listing in listings:
            path_params = None
            if listing.parent is not None:
                path_params = {self._model.path_params[0].name: listing.parent.parent_id}
            try:
                for page in self._client.iter_pages(
                    self._account,
                    self._model,
                    modified_after=listing.modified_after,
                    expand=self._options.expand,
                    include_deleted_data=True,
                    page_size=self._options.page_size,
                    path_params=path_params,
                ):
                    yield listing, page
            except MergeNotFound:
                if listing.parent is None:
                    raise
                # a parent gone from Merge (e.g. deleted for good): its children stay as they
                # were listed, never inferred deleted; the listing does not count as complete
                yield listing, None

    def _plan_parents(self, connection: sa.Connection, result: SyncResult) -> list[_Listing]:
        """Which parents to list this time (the policy), each with its own window."""
        [param] = self._model.path_params  # every nested Merge path has exactly one parent
        parent = self._catalog.category(self._model.category).model(str(param.model))
        account_id = self._account.linked_account_id
        model_id = self._model.model_id
        parents = parent_states(connection, self._tables[parent], account_id)
        listings = parent_listings(connection, account_id, model_id)
        last_full = last_full_relist(connection, account_id, model_id)
        connection.commit()
        # our clock, on both sides of the comparison: it only schedules the next full re-list
        self._planned_at = datetime.now(UTC)
        self._parent_plan = plan_parents(
            self._options.nested_policy,
            parents,
            listings,
            last_full_relist=last_full,
            now=self._planned_at,
            full_relist_every=self._options.nested_full_relist_every,
            forced_full=self._options.full,
        )
        result.nested_policy = str(self._options.nested_policy)
        result.full_relist = self._parent_plan.full_relist
        result.parents_skipped = self._parent_plan.skipped
        windowed = self._model.supports_modified_after
        return [
            _Listing(
                p,
                child_modified_after(
                    listings.get(p.parent_id), self._options.overlap, full=self._options.full
                )
                if windowed
                else None,
            )
            for p in self._parent_plan.to_list
        ]

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
        if self._model.is_nested:
            result.requested_modified_after = None  # each parent has its own window
            listings = self._plan_parents(connection, result)
        else:
            result.full_relist = not self._incremental
            listings = [_Listing(None, modified_after)]
        pages = Prefetch(self._pages(listings))
        with pages:
            self._store_pages(connection, pages, local_start, result, history_id)

    def _store_pages(
        self,
        connection: sa.Connection,
        pages: Iterable[tuple[_Listing, Page | None]],
        local_start: datetime,
        result: SyncResult,
        history_id: int,
    ) -> None:
        fetch_start: datetime | None = None
        table = self._tables[self._model]
        parents = _ParentOutcomes()
        asked = False
        if not self._incremental:
            start_full_fetch(connection)
        for (listing, page), is_last in _with_last(pages):
            asked = True
            if page is None:
                if listing.parent is not None:  # only a parent's listing goes on after a 404
                    parents.not_found.append(listing.parent)
            else:
                if fetch_start is None:
                    fetch_start = fetch_started_at(
                        page.server_date, timedelta(seconds=page.elapsed), local_start
                    )
                shaped = self._shaper.shape_page(page.results)
                if listing.parent is not None:
                    self._store_children(connection, table, listing.parent, shaped, result)
                    if page.is_last:
                        parents.listed.append(listing.parent)
                else:
                    self._store_page(connection, shaped, result)
                if not self._incremental:
                    remember_seen(connection, [row["id"] for row in shaped.rows])
                result.pages += 1
            if is_last:
                self._finish(connection, table, fetch_start, parents, result, history_id)
            connection.commit()
            if self._progress is not None and page is not None:
                self._collect_stats(result)
                self._progress(result, page)
        if not asked:
            # nothing was asked (a nested model with no parent to list): no clock of Merge's
            # was read, so the cursor stays where it is
            self._finish(connection, table, None, parents, result, history_id)
            connection.commit()

    def _store_children(
        self,
        connection: sa.Connection,
        table: sa.Table,
        parent: ParentState,
        shaped: ShapedPage,
        result: SyncResult,
    ) -> None:
        """A page of one parent's children: stored with the parent they were listed under."""
        for row in shaped.rows:
            row[PARENT_ID] = parent.parent_id
        self._store_page(connection, shaped, result)
        set_parent(
            connection,
            table,
            self._account.linked_account_id,
            parent.parent_id,
            [row["id"] for row in shaped.rows],
        )

    def _store_page(
        self, connection: sa.Connection, shaped: ShapedPage, result: SyncResult
    ) -> None:
        for model_id, rows in shaped.related.items():
            counts = upsert_rows(
                connection, self._tables[model_id], list(rows.values()), self.sync_run_id
            )
            result.related_upserted[model_id] = (
                result.related_upserted.get(model_id, 0) + counts.inserted + counts.updated
            )
        counts = upsert_rows(connection, self._tables[self._model], shaped.rows, self.sync_run_id)
        result.records_received += len(shaped.rows)
        result.records_inserted += counts.inserted
        result.records_updated += counts.updated
        result.records_unchanged += counts.unchanged
        result.records_deleted += shaped.deleted

    def _finish(
        self,
        connection: sa.Connection,
        table: sa.Table,
        fetch_start: datetime | None,
        parents: _ParentOutcomes,
        result: SyncResult,
        history_id: int,
    ) -> None:
        """The last transaction's extra work: missing rows, parent listings, the cursor, the
        history row. ``fetch_start`` is None when Merge was not asked anything."""
        account_id = self._account.linked_account_id
        if not self._incremental:
            result.records_marked_missing = self._mark_missing(connection, table, parents.listed)
        if self._model.is_nested:
            self._record_listings(connection, fetch_start, parents, result)
        if fetch_start is not None:
            write_cursor(
                connection, account_id, self._model.model_id, fetch_start, self.sync_run_id
            )
        result.cursor_after = fetch_start or result.cursor_before
        self._collect_stats(result)
        finish_sync_run(
            connection,
            history_id,
            status=SUCCEEDED,
            cursor_after=result.cursor_after,
            stats=result.as_dict(),
        )

    def _mark_missing(
        self, connection: sa.Connection, table: sa.Table, completed: list[ParentState]
    ) -> int:
        """Rows the full fetch did not return; for a nested model only under parents listed
        completely, so children of parents not listed this time are never marked."""
        account_id = self._account.linked_account_id
        if not self._model.is_nested:
            return mark_missing_as_deleted(connection, table, account_id)
        if not completed:
            return 0
        scope = children_of(table, [parent.parent_id for parent in completed])
        return mark_missing_as_deleted(connection, table, account_id, scope)

    def _record_listings(
        self,
        connection: sa.Connection,
        fetch_start: datetime | None,
        parents: _ParentOutcomes,
        result: SyncResult,
    ) -> None:
        """Each parent listed completely, and the full re-list when every planned parent was.

        A parent the mirror has as deleted that answers 404 has had its last listing: it is
        recorded (its children untouched) so that it is not asked again. A live one that
        answers 404 is asked again next time (the parent's own sync will say what happened).
        """
        account_id = self._account.linked_account_id
        model_id = self._model.model_id
        result.parents_listed = len(parents.listed)
        result.parents_not_found = len(parents.not_found)
        if parents.not_found:
            log.warning(
                "%s for %s: %d parents answered 404; their children are left as they are",
                model_id,
                account_id,
                len(parents.not_found),
            )
        finished = parents.listed + [p for p in parents.not_found if p.deleted]
        # a window start only matters for listed parents, which imply a response and its clock
        listed_at = fetch_start or self._planned_at
        record_parent_listings(
            connection, account_id, model_id, finished, listed_at, self.sync_run_id
        )
        plan = self._parent_plan
        if plan is None:
            return
        if plan.full_relist and len(parents.listed) + len(parents.not_found) == len(plan.to_list):
            record_full_relist(connection, account_id, model_id, self._planned_at, self.sync_run_id)

    def _collect_stats(self, result: SyncResult) -> None:
        """This sync's share of the client's traffic counters (SyncResult mirrors CallStats)."""
        for name, value in self._client.stats.snapshot().items():
            setattr(result, name, value - self._stats_before[name])
        result.duration_s = time.perf_counter() - self._started
