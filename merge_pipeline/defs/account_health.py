"""The account-health sensor: Merge's view of each account, its Issues, and the checks.

Each tick, bounded so it stays far inside the sensor's 60 s:

1. reads the webhook inbox from its own cursor: ``Issue.*`` events store the Issue and the
   account status the envelope carries; an account-deleted event is confirmed with Merge
   (``/account-details`` refuses the token) before the account is retired, as discovery does;
2. reads Merge's open Issues once (``/issues?status=ONGOING``, API key, all pages: one listing
   for the whole organisation is cheaper than one per account); a complete listing resolves the
   Issues it no longer shows, a failed one changes nothing;
3. reads ``/account-details`` (account token, through the shared rate limiter) for the next
   ``MERGE_PIPELINE_HEALTH_ACCOUNTS_PER_TICK`` accounts, round robin, accounts with open Issues
   or on hold first, and stores each verdict (``planning.account_health.assess``); an account
   that leaves RELINK_NEEDED gets a catch-up sync;
4. reports the asset checks (``defs/checks.py``) whose result changed, as runless evaluations.

A RELINK_NEEDED account then gets no runs (``warehouse.account_holds``); its data stays.
"""

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import sqlalchemy as sa

from merge_pipeline.defs import jobs
from merge_pipeline.defs.assets import CATEGORY_ASSETS
from merge_pipeline.defs.checks import all_findings, check_evaluation
from merge_pipeline.defs.discovery import confirmed_deleted, retire_account, sensor_client
from merge_pipeline.defs.jobs import SYNC_JOBS, sync_request
from merge_pipeline.defs.resources import (
    MergeApiResource,
    TokenVaultResource,
    WarehouseResource,
    run_settings,
)
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials, MalformedAccountToken
from merge_pipeline.merge.errors import MergeError
from merge_pipeline.planning.account_health import (
    ONGOING,
    Health,
    assess,
    issue_event_role,
    issue_from_event,
    next_batch,
    owner_of,
    parse_issue,
    resolved_by_absence,
)
from merge_pipeline.settings import AutomationSettings, load_automation_settings
from merge_pipeline.warehouse.account_health import (
    mark_resolved,
    open_issues,
    record_health,
    set_status,
    stored_open_issue_ids,
    upsert_issues,
)
from merge_pipeline.warehouse.account_holds import HOLDING_STATUSES, held_accounts
from merge_pipeline.warehouse.accounts import LinkedAccount, account_token, list_accounts
from merge_pipeline.warehouse.pipeline_tables import linked_accounts, webhook_inbox
from merge_pipeline.warehouse.vault import TokenVault

SENSOR_NAME = "account_health"
#: account-details reads stop after this long in a tick (the sensor has 60 s in all)
DETAILS_BUDGET_S = 30.0


@dataclass
class HealthCursor:
    """Where the round robin and the inbox stand, and a digest of each check's last report."""

    after: str | None = None
    inbox_id: int = 0
    checks: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> "HealthCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(data.get("after"), int(data.get("inbox_id", 0)), dict(data.get("checks", {})))

    def dump(self) -> str:
        return json.dumps(
            {"after": self.after, "inbox_id": self.inbox_id, "checks": self.checks},
            separators=(",", ":"),
        )


@dg.sensor(
    name=SENSOR_NAME,
    jobs=list(SYNC_JOBS.values()),
    minimum_interval_seconds=load_automation_settings().health_interval_s,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads Merge's account details and Issues (and the Issue webhooks): marks "
    "accounts that need relinking (they get no runs) and reports the account-health checks.",
)
def account_health(
    context: dg.SensorEvaluationContext,
    merge: MergeApiResource,
    warehouse: WarehouseResource,
    token_vault: TokenVaultResource,
) -> dg.SensorResult:
    cursor = HealthCursor.parse(context.cursor)
    automation = load_automation_settings()
    settings = run_settings(merge, warehouse, token_vault)
    engine = warehouse.engine()
    vault = token_vault.vault()
    runs: list[dg.RunRequest] = []
    with (
        sensor_client(settings, engine) as client,
        engine.connect() as connection,
    ):
        cursor.inbox_id = _read_inbox(context, client, connection, vault, automation, cursor)
        accounts = list_accounts(connection)
        _refresh_issues(context, client, connection, accounts)
        urgent, turn = _batch(connection, accounts, cursor, automation.health_accounts_per_tick)
        deadline = time.monotonic() + DETAILS_BUDGET_S
        for account in urgent + turn:
            if time.monotonic() > deadline:  # Merge is slow: the rest wait for the next tick
                context.log.warning("account details: tick budget spent, continuing next tick")
                break
            if account in turn:
                cursor.after = account.id
            if _read_account(context, client, connection, vault, account):
                runs.append(
                    sync_request(
                        account.category,
                        account.id,
                        run_key=f"relinked:{account.id}:{datetime.now(UTC):%Y-%m-%dT%H:%M:%S}",
                        trigger="relinked",
                    )
                )
        evaluations = _changed_checks(connection, cursor, _latest_materializations(context))
    return dg.SensorResult(run_requests=runs, asset_events=evaluations, cursor=cursor.dump())


# -- 1. the inbox --------------------------------------------------------------------------------


def _read_inbox(
    context: dg.SensorEvaluationContext,
    client: MergeClient,
    connection: sa.Connection,
    vault: TokenVault,
    automation: AutomationSettings,
    cursor: HealthCursor,
) -> int:
    """Apply the Issue and account-deleted events after the cursor; returns the new cursor."""
    issue_events = {name.strip() for name in automation.issue_webhook_events.split(",") if name}
    names = issue_events | {automation.account_deleted_event}
    rows = connection.execute(
        sa.select(webhook_inbox.c.id, webhook_inbox.c.event, webhook_inbox.c.payload)
        .where(webhook_inbox.c.id > cursor.inbox_id, webhook_inbox.c.event.in_(sorted(names)))
        .order_by(webhook_inbox.c.id)
        .limit(automation.health_inbox_batch)
    ).all()
    last = cursor.inbox_id
    for row in rows:
        last = row.id
        payload: dict[str, Any] = row.payload if isinstance(row.payload, dict) else {}
        linked = payload.get("linked_account")
        account_id = linked.get("id") if isinstance(linked, dict) else None
        if not isinstance(account_id, str):
            context.log.warning(f"webhook inbox row {row.id} ({row.event}) names no account")
            continue
        if row.event == automation.account_deleted_event:
            _confirm_deleted(context, client, connection, vault, account_id)
        else:
            _apply_issue_event(connection, row.event, account_id, payload)
    connection.commit()
    return last


def _apply_issue_event(
    connection: sa.Connection, event: str, account_id: str, payload: dict[str, Any]
) -> None:
    data = payload.get("data")
    issue = issue_from_event(
        issue_event_role(event), account_id, data if isinstance(data, dict) else {}
    )
    known = connection.execute(
        sa.select(linked_accounts.c.id).where(linked_accounts.c.id == account_id)
    ).first()
    if issue is None or known is None:  # an account we hold no token for: nothing to hold
        return
    upsert_issues(connection, [issue])
    status = payload["linked_account"].get("status")
    if isinstance(status, str) and status:
        set_status(connection, account_id, status)


def _confirm_deleted(
    context: dg.SensorEvaluationContext,
    client: MergeClient,
    connection: sa.Connection,
    vault: TokenVault,
    account_id: str,
) -> None:
    """Merge says the account was deleted: retire it once Merge refuses its token too."""
    stored = [a for a in list_accounts(connection) if a.id == account_id]
    if not stored:
        return
    category = stored[0].category
    if list(confirmed_deleted(client, connection, vault, category, (account_id,))):
        retire_account(connection, account_id, category)
        context.log.info(f"{category} account {account_id} was deleted in Merge (webhook)")


# -- 2. the Issues listing -----------------------------------------------------------------------


def _refresh_issues(
    context: dg.SensorEvaluationContext,
    client: MergeClient,
    connection: sa.Connection,
    accounts: list[LinkedAccount],
) -> None:
    """One complete listing of open Issues; a failed one changes nothing."""
    if not accounts:
        return
    by_origin = {a.end_user_origin_id: a.id for a in accounts if a.end_user_origin_id}
    try:
        listed = list(client.issues(accounts[0].category, status=ONGOING, include_muted="true"))
    except MergeError as error:
        context.log.warning(f"Merge's Issues could not be read ({error}): nothing changed")
        return
    rows = []
    for raw in listed:
        owner = owner_of(raw, by_origin)
        row = parse_issue(raw, str(owner)) if owner else None
        if row is not None:
            rows.append(row)
    upsert_issues(connection, rows)
    mark_resolved(
        connection, resolved_by_absence(stored_open_issue_ids(connection), [r.id for r in rows])
    )
    connection.commit()


# -- 3. account details --------------------------------------------------------------------------


def _batch(
    connection: sa.Connection, accounts: list[LinkedAccount], cursor: HealthCursor, size: int
) -> tuple[list[LinkedAccount], list[LinkedAccount]]:
    """Accounts with open Issues or on hold (at most half the tick), then the round robin's turn.

    The cursor moves only past the accounts actually read (the caller sets it).
    """
    by_id = {a.id: a for a in accounts}
    urgent = sorted(
        (set(open_issues(connection, by_id)) | set(held_accounts(connection))) & set(by_id)
    )[: size // 2]
    turn, _ = next_batch([i for i in by_id if i not in urgent], cursor.after, size - len(urgent))
    return [by_id[i] for i in urgent], [by_id[i] for i in turn]


def _read_account(
    context: dg.SensorEvaluationContext,
    client: MergeClient,
    connection: sa.Connection,
    vault: TokenVault,
    account: LinkedAccount,
) -> bool:
    """Read and store one account's health; True when it has just left a hold."""
    try:
        credentials = AccountCredentials(account.id, account_token(connection, account.id, vault))
        details: dict[str, Any] | None = client.account_details(credentials, account.category)
    except MalformedAccountToken as error:
        context.log.warning(f"linked account {account.id} not checked: {error}")
        details = None
    except MergeError as error:
        context.log.warning(f"account details of {account.id} unreadable: {error}")
        details = None
    verdict = assess(details, open_issues(connection, [account.id]).get(account.id, []))
    if verdict.health is Health.UNKNOWN:
        connection.rollback()
        return False
    changed = record_health(
        connection, account.id, status=verdict.status, detail=verdict.reason, details=details
    )
    connection.commit()
    if changed:
        context.log.info(
            f"{account.category} account {account.id}: {verdict.health} ({verdict.reason})"
        )
    return changed and account.status in HOLDING_STATUSES and verdict.status not in HOLDING_STATUSES


# -- 4. the checks -------------------------------------------------------------------------------


def _latest_materializations(
    context: dg.SensorEvaluationContext,
) -> dict[dg.AssetKey, dg.EventLogRecord]:
    """Each asset's latest materialization (any account), in one query."""
    keys = [asset.key for assets in CATEGORY_ASSETS for asset in assets.specs]
    return {
        record.asset_entry.asset_key: record.asset_entry.last_materialization_record
        for record in context.instance.get_asset_records(keys)
        if record.asset_entry.last_materialization_record is not None
    }


def _changed_checks(
    connection: sa.Connection,
    cursor: HealthCursor,
    latest: dict[dg.AssetKey, dg.EventLogRecord],
) -> list[dg.AssetCheckEvaluation]:
    """Evaluations of the checks whose result differs from the last one this sensor reported,
    each naming the asset's latest materialization (the UI shows a check only against it).

    When sync runs do not evaluate the checks themselves (``checks_in_sync_runs`` off), an
    asset materialized since the last report is reported again too, at most once per tick.
    """
    changed = []
    digests = {}
    for key, finding in all_findings(connection):
        # short digests keep the cursor small (~20 bytes per check, 456 checks)
        name = _digest(key.to_user_string())
        record = latest.get(key.asset_key)
        digest = _digest(
            repr(
                (
                    finding.passed,
                    finding.severity,
                    sorted(finding.accounts.items()),
                    record.storage_id if record and not jobs.CHECKS_IN_SYNC_RUNS else None,
                )
            )
        )
        digests[name] = digest
        if cursor.checks.get(name) != digest:
            changed.append(check_evaluation(key, finding, record))
    cursor.checks = digests
    return changed


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]
