"""The safety-net schedules: every account of a category synced once a night, spread out.

Webhooks and the sync-status poll drive the day; this catches whatever both missed. Each tick
syncs only the accounts whose slot it is (``planning.safety_net``), so thousands of accounts
never start in the same minute, and the run queue bounds how many run at once.
"""

import dagster as dg

from merge_pipeline.catalog import load_catalog
from merge_pipeline.defs.jobs import SYNC_JOBS, sync_request
from merge_pipeline.defs.resources import WarehouseResource
from merge_pipeline.planning.safety_net import SafetyNetWindow, accounts_due
from merge_pipeline.settings import load_automation_settings
from merge_pipeline.warehouse.account_holds import held_accounts
from merge_pipeline.warehouse.accounts import list_accounts


def safety_net_window() -> SafetyNetWindow:
    settings = load_automation_settings()
    return SafetyNetWindow(
        start_hour=settings.safety_net_start_hour,
        hours=settings.safety_net_hours,
        tick_minutes=settings.safety_net_tick_minutes,
        slots=settings.safety_net_slots,
    )


def safety_net_schedule(category: str, window: SafetyNetWindow) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"safety_net_{category}",
        job=SYNC_JOBS[category],
        cron_schedule=window.cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Incremental sync of every {category} account once per window "
        f"({window.cron} UTC, {window.slot_count} groups of accounts).",
    )
    def safety_net(
        context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
    ) -> dg.SkipReason | list[dg.RunRequest]:
        at = context.scheduled_execution_time
        with warehouse.engine().connect() as connection:
            accounts = [a.id for a in list_accounts(connection, category=category)]
            held = held_accounts(connection, accounts)
        # a held account (e.g. RELINK_NEEDED) keeps its slot: its syncs resume once it is healthy
        due = [a for a in accounts_due(accounts, window, at) if a not in held]
        if not due:
            return dg.SkipReason(f"no {category} account's slot is due at {at:%H:%M}")
        stamp = f"{at:%Y-%m-%dT%H:%M}"
        return [
            sync_request(
                category, account, run_key=f"safety-net:{stamp}:{account}", trigger="safety-net"
            )
            for account in due
        ]

    return safety_net


SAFETY_NET_SCHEDULES = [
    safety_net_schedule(category, safety_net_window()) for category in load_catalog().categories
]
