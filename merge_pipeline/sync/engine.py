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
  ``remote_was_deleted`` only ever says what Merge said;
* nested models are listed parent by parent, under the policy in ``nested_policy`` (every
  parent, or changed ones plus a periodic full re-list); each parent keeps its own window and
  last listing, recorded in that same last transaction, and only the children of the parents
  listed completely can be marked absent (a deleted or absent parent's children stay as Merge
  last listed them); a confirmation listing re-lists only the parents with children left out;
* a record that cannot be mirrored is quarantined (kept whole with the reason) in its page's
  transaction while the rest of the page is stored; it is fetched again by id at the start of
  later syncs until it stores, and for a model without a retrieve-by-id endpoint the cursor does
  not move while such a record waits (nor after a fetch that quarantined a record without a
  usable id, which no id can fetch again), so nothing is lost either way.
"""

import contextlib
import copy
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
import sqlalchemy.exc

from merge_pipeline.catalog import Catalog, CommonModel, load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.merge.errors import MergeAuthError, MergeError, MergeNotFound
from merge_pipeline.merge.page import Page
from merge_pipeline.settings import Settings
from merge_pipeline.sync.failure import describe_failure
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
from merge_pipeline.sync.storable import exact_json
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
from merge_pipeline.warehouse.mirror_tables import (
    PARENT_ID,
    RAW,
    RAW_EXACT,
    MirrorTables,
    mirror_tables,
)
from merge_pipeline.warehouse.nested_listings import (
    children_of,
    last_full_relist,
    parent_listings,
    parent_states,
    record_full_relist,
    record_parent_listings,
    set_parent,
)
from merge_pipeline.warehouse.quarantine import (
    GONE,
    Quarantined,
    pending_count,
    pending_ids,
    quarantine,
    resolve,
)
from merge_pipeline.warehouse.upsert import (
    UpsertCounts,
    count_unseen,
    mark_absent,
    prepare_staging,
    release_staging,
    remember_seen,
    start_full_fetch,
    unseen_values,
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
    give scheduled syncs their configured policy).

    ``deletion_sweep``: list an incremental model in full when its last full listing is older
    (None: never). ``max_absent_fraction``: a full listing that would mark more than this share
    of the present rows it covered absent (with at least ``absence_guard_min_rows`` present)
    marks none and says so in the result, so one bad listing can never empty a mirror table.
    """

    expand: tuple[str, ...] = ()
    overlap: timedelta = timedelta(seconds=60)
    full: bool = False
    page_size: int | None = None
    lock_timeout_s: float = 1800.0
    #: quarantined records fetched again by id per sync (a bound on calls spent on them)
    quarantine_retries: int = 100

    deletion_sweep: timedelta | None = timedelta(days=1)
    max_absent_fraction: float = 0.5
    absence_guard_min_rows: int = 20
    nested_policy: NestedPolicy = NestedPolicy.EVERY_PARENT
    nested_full_relist_every: timedelta = DEFAULT_FULL_RELIST_EVERY

    @classmethod
    def from_settings(cls, settings: Settings, **changes: Any) -> "SyncOptions":
        """The configured overlap, deletion sweep and nested policy (what scheduled syncs and
        the CLI use), plus changes."""
        configured: dict[str, Any] = {
            "overlap": timedelta(seconds=settings.cursor_overlap_s),
            "deletion_sweep": (
                None
                if settings.deletion_sweep_s is None
                else timedelta(seconds=settings.deletion_sweep_s)
            ),
            "nested_policy": settings.nested_policy,
            "nested_full_relist_every": timedelta(hours=settings.nested_full_relist_hours),
            "lock_timeout_s": settings.lock_timeout_s,
        }
        return cls(**(configured | changes))


#: SQLSTATE classes of a database refusing a row's data (data exception, integrity, limits):
#: the page is then stored row by row and the refused rows are quarantined
_ROW_PROBLEM_CLASSES = ("22", "23", "54")


def _refused_row_data(error: sqlalchemy.exc.DBAPIError) -> bool:
    code = getattr(error.orig, "pgcode", None) or ""
    return code[:2] in _ROW_PROBLEM_CLASSES


@dataclass(frozen=True, slots=True)
class _Listing:
    """One stream of pages: the whole model, or the children of one parent."""

    parent: ParentState | None
    modified_after: datetime | None


@dataclass
class _ParentOutcomes:
    """The parents a listing listed completely, and those that answered 404 (no duplicates:
    a page transaction re-run after a deadlock, or a confirmation listing, may add one twice)."""

    listed: list[ParentState] = field(default_factory=list)
    not_found: list[ParentState] = field(default_factory=list)

    def add_listed(self, parent: ParentState) -> None:
        if parent not in self.listed:
            self.listed.append(parent)

    def add_not_found(self, parent: ParentState) -> None:
        if parent not in self.not_found:
            self.not_found.append(parent)

    def finished(self) -> list[ParentState]:
        """Parents whose listing is over: listed completely, or deleted and answering 404."""
        done = {p.parent_id: p for p in self.not_found if p.deleted}
        done.update((p.parent_id, p) for p in self.listed)
        return list(done.values())


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

    #: set by :meth:`run` once the stored state is read: False = this sync lists every record
    _incremental: bool = True
    #: whether stored records may resolve quarantine entries of the pair: some were pending
    #: when the sync began, or it quarantined one (a record of the model quarantined meanwhile
    #: by another model's sync that expands it is resolved by the pair's next sync, which
    #: fetches it by id, as when it is quarantined just after this sync stored it)
    _resolving: bool = True

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
            with sync_lock(
                connection,
                account_id,
                self._model.model_id,
                timeout_s=self._options.lock_timeout_s,
            ):
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
                # the model's own staging table outlives page transactions that roll back
                prepare_staging(connection, self._tables[self._model])
                self._resolving = pending_count(connection, account_id, self._model.model_id) > 0
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
                    release_staging(connection)
                    connection.commit()
                    raise
                release_staging(connection)
                connection.commit()
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
                    listings.get(p.parent_id), self._options.overlap, full=not self._incremental
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
        self._fetch_start: datetime | None = None
        self._listing_started: datetime | None = None
        self._parents = _ParentOutcomes()  # over the whole sync: what the listings record
        if not self._incremental:
            self._listing_started = start_full_fetch(connection)
            connection.commit()
        # A full listing that leaves rows out is repeated once before they are marked absent:
        # only rows both listings omit are absent (a short listing, or a record that moved
        # while we paged in a descending or unstable order, is in the second one). For a nested
        # model the second listing covers only the parents with children left out.
        for confirming in (False, True):
            pages = Prefetch(self._pages(listings))
            with pages:
                done = self._store_pages(
                    connection, pages, local_start, result, history_id, confirming
                )
            if done:
                return
            listings = self._confirmation_listings(connection, listings)

    def _store_pages(
        self,
        connection: sa.Connection,
        pages: Iterable[tuple[_Listing, Page | None]],
        local_start: datetime,
        result: SyncResult,
        history_id: int,
        confirming: bool,
    ) -> bool:
        """Store one listing; True when the sync finished with it (False: confirm first)."""
        table = self._tables[self._model]
        self._pass = _ParentOutcomes()  # this listing's: the scope of its absence check
        for (listing, page), is_last in _with_last(pages):
            shaped: ShapedPage | None = None
            if page is None:
                if listing.parent is not None:  # only a parent's listing goes on after a 404
                    self._parents.add_not_found(listing.parent)
                    self._pass.add_not_found(listing.parent)
            else:
                if self._fetch_start is None:
                    self._fetch_start = fetch_started_at(
                        page.server_date, timedelta(seconds=page.elapsed), local_start
                    )
                shaped = self._shaper.shape_page(page.results)

            def store(
                listing: _Listing = listing,
                page: Page | None = page,
                shaped: ShapedPage | None = shaped,
                is_last: bool = is_last,
            ) -> bool:
                if page is not None and shaped is not None:
                    self._store_listed_page(connection, table, listing, page, shaped, result)
                return is_last and self._finish_if_settled(
                    connection, table, result, history_id, confirming
                )

            finished = self._commit(connection, result, store)
            if self._progress is not None and page is not None:
                self._collect_stats(result)
                self._progress(result, page)
            if is_last:
                return finished
        # nothing was asked (a nested model with no parent to list): no clock of Merge's was
        # read, so the cursor stays where it is
        return self._commit(
            connection,
            result,
            lambda: self._finish_if_settled(connection, table, result, history_id, confirming),
        )

    def _store_listed_page(
        self,
        connection: sa.Connection,
        table: sa.Table,
        listing: _Listing,
        page: Page,
        shaped: ShapedPage,
        result: SyncResult,
    ) -> None:
        """One page's writes; a parent counts as listed once its last page is stored."""
        if listing.parent is not None:
            listed = self._store_children(connection, table, listing.parent, shaped, result)
            if page.is_last:
                self._parents.add_listed(listing.parent)
                self._pass.add_listed(listing.parent)
        else:
            listed = self._store_page(connection, shaped, result)
        if not self._incremental:
            # quarantined records were listed: a full listing must not mark them absent
            remember_seen(connection, listed)
        result.pages += 1

    def _commit(
        self, connection: sa.Connection, result: SyncResult, work: Callable[[], bool]
    ) -> bool:
        """Run one page's transaction; re-run it if PostgreSQL aborted it as a deadlock.

        A page is idempotent (older versions never win, ids seen are a set, parents listed
        are kept once), so re-running it after a conflict is safe; the counters are restored
        so nothing is counted twice.
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

    def _absence_scope(self, table: sa.Table) -> sa.ColumnElement[bool] | None:
        """The rows this listing covered: all of the account's, or for a nested model only the
        children of the parents it listed completely (others' children are never marked)."""
        if not self._model.is_nested:
            return None
        if not self._pass.listed:
            return sa.false()
        return children_of(table, [parent.parent_id for parent in self._pass.listed])

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
                connection,
                table,
                self._account.linked_account_id,
                self._listing_started,
                self._absence_scope(table),
            )
            if unseen:
                result.confirmation_listings += 1
                return False
        self._finish(connection, table, self._fetch_start, result, history_id)
        return True

    def _confirmation_listings(
        self, connection: sa.Connection, first: list[_Listing]
    ) -> list[_Listing]:
        """What the confirming listing lists: the same as the first for a flat model; for a
        nested one only the parents with children the first left out (whole, no window)."""
        if not self._model.is_nested:
            return first
        assert self._listing_started is not None
        table = self._tables[self._model]
        wanted = unseen_values(
            connection,
            table,
            PARENT_ID,
            self._account.linked_account_id,
            self._listing_started,
            self._absence_scope(table),
        )
        connection.commit()
        return [_Listing(p, None) for p in self._pass.listed if p.parent_id in wanted]

    def _store_children(
        self,
        connection: sa.Connection,
        table: sa.Table,
        parent: ParentState,
        shaped: ShapedPage,
        result: SyncResult,
    ) -> list[str]:
        """A page of one parent's children: stored with the parent they were listed under;
        returns the ids listed (quarantined ones too)."""
        for row in shaped.rows:
            row[PARENT_ID] = parent.parent_id
        listed = self._store_page(connection, shaped, result)
        set_parent(
            connection,
            table,
            self._account.linked_account_id,
            parent.parent_id,
            [row["id"] for row in shaped.rows],
        )
        return listed

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
        """Upsert a shaped page, quarantining what cannot be stored; returns the ids listed.

        When the page's upsert opens the transaction, a refused page rolls the transaction back
        (it held nothing else) instead of a savepoint, which saves two statements per page.
        """
        alone = not connection.in_transaction()
        try:
            self._upsert(connection, shaped, result, savepoint=not alone)
        except sqlalchemy.exc.DBAPIError as error:
            if not _refused_row_data(error):
                raise
            if alone:
                connection.rollback()
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
        result.quarantined_without_id += sum(1 for q in own if q.record_id is None)
        result.records_received += len(own)
        stored = [row["id"] for row in shaped.rows]
        self._resolving = self._resolving or bool(own)
        if self._resolving:
            result.quarantine_resolved += resolve(
                connection, account_id, self._model.model_id, stored
            )
        return stored + [q.record_id for q in own if q.record_id is not None]

    def _upsert(
        self,
        connection: sa.Connection,
        shaped: ShapedPage,
        result: SyncResult,
        *,
        savepoint: bool = True,
    ) -> None:
        """Upsert a page and its expanded relations (in a savepoint unless the caller rolls the
        whole transaction back on failure), tables in model-id order; ``result`` counts it only
        once the upserts hold.

        One order for every sync means an expanding sync and the related model's own sync take
        their row locks in the same order, so they wait for each other instead of deadlocking.
        """
        main = self._model.model_id
        batches = [(m, list(rows.values()), True) for m, rows in shaped.related.items()]
        batches.append((main, shaped.rows, False))
        done: list[tuple[str, list[dict[str, Any]], bool, UpsertCounts]] = []
        with connection.begin_nested() if savepoint else contextlib.nullcontext():
            # expanded copies of the model itself go before its own rows, which win on a tie
            for model_id, rows, related in sorted(batches, key=lambda b: (b[0], not b[2])):
                counts = upsert_rows(
                    connection,
                    self._tables[model_id],
                    rows,
                    self.sync_run_id,
                    staging_ready=model_id == main,
                )
                done.append((model_id, rows, related, counts))
        for model_id, rows, related, counts in done:
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
        fetch_start: datetime | None,
        result: SyncResult,
        history_id: int,
    ) -> None:
        """The last transaction's extra work: absent rows, parent listings, the cursor, the
        history row. ``fetch_start`` is None when Merge was not asked anything."""
        account_id = self._account.linked_account_id
        if not self._incremental:
            self._mark_absent(connection, table, result)
        if self._model.is_nested:
            self._record_listings(connection, fetch_start, result)
        result.quarantine_pending = pending_count(connection, account_id, self._model.model_id)
        cursor_after = fetch_start or result.cursor_before
        if self._incremental and result.quarantined_without_id:
            # records without a usable id were read this time: nothing can fetch them again
            # by id, so the next fetch re-reads this window rather than leave them behind
            cursor_after = result.cursor_before
            log.warning(
                "%s for %s: %d records without a usable id were quarantined; the cursor stays "
                "where it was",
                self._model.model_id,
                account_id,
                result.quarantined_without_id,
            )
        elif result.quarantine_pending and not self._retrievable and self._incremental:
            # nothing can fetch the waiting records by id: re-list them from the old cursor
            cursor_after = result.cursor_before
            log.warning(
                "%s for %s: %d quarantined records wait; the cursor stays where it was",
                self._model.model_id,
                account_id,
                result.quarantine_pending,
            )
        elif fetch_start is not None:
            write_cursor(
                connection, account_id, self._model.model_id, fetch_start, self.sync_run_id
            )
        result.cursor_after = cursor_after
        self._collect_stats(result)
        finish_sync_run(
            connection,
            history_id,
            status=SUCCEEDED,
            cursor_after=result.cursor_after,
            stats=result.as_dict(),
        )

    def _mark_absent(self, connection: sa.Connection, table: sa.Table, result: SyncResult) -> None:
        """Stamp ``_absent_since`` on rows no listing returned, unless that is a mass deletion.

        For a nested model only children of the parents the (last) listing listed completely.
        """
        account_id = self._account.linked_account_id
        assert self._listing_started is not None
        scope = self._absence_scope(table)
        unseen, present = count_unseen(connection, table, account_id, self._listing_started, scope)
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
            connection, table, account_id, self._listing_started, scope
        )

    def _record_listings(
        self, connection: sa.Connection, fetch_start: datetime | None, result: SyncResult
    ) -> None:
        """Each parent listed completely, and the full re-list when every planned parent was.

        A parent the mirror has as deleted (by Merge's flag or by absence) that answers 404
        has had its last listing: it is recorded (its children untouched) so that it is not
        asked again. A live one that answers 404 is asked again next time (the parent's own
        sync will say what happened).
        """
        account_id = self._account.linked_account_id
        model_id = self._model.model_id
        parents = self._parents
        result.parents_listed = len(parents.listed)
        result.parents_not_found = len(parents.not_found)
        if parents.not_found:
            log.warning(
                "%s for %s: %d parents answered 404; their children are left as they are",
                model_id,
                account_id,
                len(parents.not_found),
            )
        # a window start only matters for listed parents, which imply a response and its clock
        listed_at = fetch_start or self._planned_at
        record_parent_listings(
            connection, account_id, model_id, parents.finished(), listed_at, self.sync_run_id
        )
        plan = self._parent_plan
        if plan is None:
            return
        answered = {p.parent_id for p in parents.listed + parents.not_found}
        if plan.full_relist and answered >= {p.parent_id for p in plan.to_list}:
            record_full_relist(connection, account_id, model_id, self._planned_at, self.sync_run_id)

    def _collect_stats(self, result: SyncResult) -> None:
        """This sync's share of the client's traffic counters (SyncResult mirrors CallStats)."""
        for name, value in self._client.stats.snapshot().items():
            setattr(result, name, value - self._stats_before[name])
        result.duration_s = time.perf_counter() - self._started
