"""What Merge said about its syncs, which finished sync we reported, and which one got a run.

Each (account, model) row of ``merge_pipeline.merge_sync_status`` keeps three things:

* the last status observed (``status``, ``last_sync_*``, ``is_initial_sync``; ``observed_by``),
  never replaced by an older observation (a late webhook);
* the last *finished* sync reported by a webhook or the poll (``reported_sync_*``, and the
  ``synced_fields`` a webhook listed for it);
* the sync a run was requested for (``handled_sync_*``): set by a compare-and-set UPDATE, so of
  two sensors racing for the same sync exactly one gets the row back and requests the run.

The decisions are ``planning.merge_syncs``; this module only reads and writes.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from merge_pipeline.planning.merge_syncs import Action, Remembered, SyncReport, Verdict
from merge_pipeline.planning.sync_requests import PendingSync
from merge_pipeline.warehouse.pipeline_tables import linked_accounts
from merge_pipeline.warehouse.pipeline_tables import merge_sync_status as table

_KEY = (table.c.linked_account_id, table.c.model_id)


def remembered(connection: sa.Connection, account_id: str) -> dict[str, Remembered]:
    """Model id -> what is stored for it, for one account."""
    rows = connection.execute(
        sa.select(
            table.c.model_id,
            table.c.status,
            table.c.last_sync_finished,
            table.c.reported_sync_id,
            table.c.reported_sync_start,
            table.c.reported_sync_finished,
        ).where(table.c.linked_account_id == account_id)
    )
    return {row.model_id: Remembered(*row[1:]) for row in rows}


def apply_observation(
    connection: sa.Connection,
    account_id: str,
    report: SyncReport,
    verdict: Verdict,
    source: str,
) -> None:
    """Store the status (unless older than the stored one) and what the verdict remembers."""
    apply_observations(connection, account_id, [(report, verdict)], source)


def apply_observations(
    connection: sa.Connection,
    account_id: str,
    judged: Sequence[tuple[SyncReport, Verdict]],
    source: str,
) -> None:
    """``apply_observation`` for several models of one account: one statement for the statuses
    (a /sync-status answer holds every model), then what each verdict remembers."""
    # one row per model (an answer listing a model twice would abort the upsert): last wins;
    # in model order, the order every writer locks an account's rows in (no deadlock)
    latest = {report.model_id: (report, verdict) for report, verdict in judged}
    judged = [latest[model_id] for model_id in sorted(latest)]
    if not judged:
        return
    _record_statuses(connection, account_id, [report for report, _ in judged], source)
    for report, verdict in judged:
        _remember(connection, account_id, report, verdict, source)


def _remember(
    connection: sa.Connection,
    account_id: str,
    report: SyncReport,
    verdict: Verdict,
    source: str,
) -> None:
    where = (table.c.linked_account_id == account_id, table.c.model_id == report.model_id)
    if verdict.action is Action.FETCH:
        finished = sa.literal(report.last_sync_finished, sa.DateTime(timezone=True))
        newer = sa.or_(
            table.c.reported_sync_finished.is_(None),
            finished.is_(None),
            table.c.reported_sync_finished < finished,
        )
        connection.execute(
            sa.update(table)
            .where(*where, table.c.reported_sync_id.is_distinct_from(verdict.sync_id), newer)
            .values(
                reported_sync_id=verdict.sync_id,
                reported_sync_start=report.last_sync_start,
                reported_sync_finished=report.last_sync_finished,
                reported_at=sa.func.now(),
                reported_by=source,
                synced_fields=_fields(report),
            )
        )
    elif verdict.action is Action.REMEMBER_START:
        connection.execute(
            sa.update(table)
            .where(*where, table.c.reported_sync_id == verdict.sync_id)
            .values(reported_sync_start=report.last_sync_start)
        )
    if (
        verdict.action is not Action.FETCH
        and report.synced_fields is not None
        and report.last_sync_finished is not None
    ):
        # a webhook about the sync the poll reported first still brings its synced_fields
        connection.execute(
            sa.update(table)
            .where(*where, table.c.reported_sync_finished == report.last_sync_finished)
            .values(synced_fields=_fields(report))
        )


def _fields(report: SyncReport) -> list[str] | None:
    return list(report.synced_fields) if report.synced_fields is not None else None


def _record_statuses(
    connection: sa.Connection, account_id: str, reports: Sequence[SyncReport], source: str
) -> None:
    statement = insert(table).values(
        [
            {
                "linked_account_id": account_id,
                "model_id": report.model_id,
                "status": report.status,
                "last_sync_start": report.last_sync_start,
                "last_sync_finished": report.last_sync_finished,
                "last_sync_result": report.last_sync_result,
                "is_initial_sync": report.is_initial_sync,
                "observed_by": source,
            }
            for report in reports
        ]
    )
    new = statement.excluded
    keep = {  # an absent optional field keeps what an earlier report said
        name: sa.func.coalesce(new[name], table.c[name])
        for name in ("last_sync_start", "last_sync_finished", "last_sync_result", "is_initial_sync")
    }
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={
                "status": new.status,
                **keep,
                "observed_at": sa.func.now(),
                "observed_by": new.observed_by,
            },
            where=sa.or_(
                new.last_sync_finished.is_(None),
                table.c.last_sync_finished.is_(None),
                new.last_sync_finished >= table.c.last_sync_finished,
            ),
        )
    )


@dataclass(frozen=True, slots=True)
class AccountSyncState:
    """One account's pending syncs and every model's last status (for the wait-for-all mode)."""

    pending: list[PendingSync]
    statuses: dict[str, str]


def sync_states(connection: sa.Connection, accounts: dict[str, str]) -> dict[str, AccountSyncState]:
    """Account id -> its state, for the given ``{account id: category}``."""
    states = {account: AccountSyncState([], {}) for account in accounts}
    if not accounts:
        return states
    rows = connection.execute(
        sa.select(
            table.c.linked_account_id,
            table.c.model_id,
            table.c.status,
            table.c.reported_sync_id,
            table.c.reported_at,
            table.c.handled_sync_id,
        ).where(table.c.linked_account_id.in_(sorted(accounts)))
    )
    for row in rows:
        state = states[row.linked_account_id]
        state.statuses[row.model_id] = row.status
        if row.reported_sync_id is not None and row.reported_sync_id != row.handled_sync_id:
            category = accounts[row.linked_account_id]
            state.pending.append(
                PendingSync(
                    row.linked_account_id,
                    category,
                    row.model_id,
                    row.reported_sync_id,
                    row.reported_at,
                )
            )
    return states


def accounts_with_unrun_syncs(connection: sa.Connection) -> dict[str, str]:
    """Active accounts (id -> category) with a reported Merge sync no run was requested for yet:
    left by an earlier tick's run budget, or by a hold that has since been lifted."""
    query = (
        sa.select(linked_accounts.c.id, linked_accounts.c.category)
        .join(table, table.c.linked_account_id == linked_accounts.c.id)
        .where(
            linked_accounts.c.is_active,
            table.c.reported_sync_id.is_not(None),
            table.c.reported_sync_id.is_distinct_from(table.c.handled_sync_id),
        )
        .distinct()
    )
    return {row.id: row.category for row in connection.execute(query)}


def claim(
    connection: sa.Connection, syncs: Sequence[PendingSync], source: str, run_key: str
) -> list[PendingSync]:
    """Mark syncs handled, compare-and-set: returns only those this caller won."""
    won = []
    for sync in syncs:
        row = connection.execute(
            sa.update(table)
            .where(
                table.c.linked_account_id == sync.account_id,
                table.c.model_id == sync.model_id,
                table.c.reported_sync_id == sync.sync_id,
                table.c.handled_sync_id.is_distinct_from(sync.sync_id),
            )
            .values(
                handled_sync_id=sync.sync_id,
                handled_at=sa.func.now(),
                handled_by=source,
                handled_run_key=run_key,
            )
            .returning(table.c.model_id)
        ).first()
        if row is not None:
            won.append(sync)
    return won


def set_run_key(connection: sa.Connection, syncs: Sequence[PendingSync], run_key: str) -> None:
    """Record the run key of the run that was finally requested for claimed syncs."""
    for sync in syncs:
        connection.execute(
            sa.update(table)
            .where(
                table.c.linked_account_id == sync.account_id,
                table.c.model_id == sync.model_id,
                table.c.handled_sync_id == sync.sync_id,
            )
            .values(handled_run_key=run_key)
        )


@dataclass(frozen=True, slots=True)
class HandledSync:
    """The Merge sync the latest run of a model was requested for (for run metadata)."""

    sync_id: str | None
    synced_fields: list[str] | None
    run_key: str | None


def handled_sync(connection: sa.Connection, account_id: str, model_id: str) -> HandledSync | None:
    row = connection.execute(
        sa.select(table.c.handled_sync_id, table.c.synced_fields, table.c.handled_run_key).where(
            table.c.linked_account_id == account_id, table.c.model_id == model_id
        )
    ).first()
    return HandledSync(*row) if row is not None and row.handled_sync_id is not None else None


def recently_polled(connection: sa.Connection, ids: Sequence[str], seconds: float) -> set[str]:
    """Accounts of ``ids`` whose sync status the poll stored within ``seconds`` (a row a
    webhook updated later no longer counts: such an account may be polled again sooner)."""
    if not ids or seconds <= 0:
        return set()
    since = sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds)
    query = (
        sa.select(table.c.linked_account_id)
        .where(
            table.c.linked_account_id.in_(list(ids)),
            table.c.observed_by == "poll",
            table.c.observed_at > since,
        )
        .distinct()
    )
    return set(connection.execute(query).scalars())
