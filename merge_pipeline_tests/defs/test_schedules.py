"""The safety-net schedule: over one night's ticks, each stored account is requested once."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from merge_pipeline.defs.schedules import SAFETY_NET_SCHEDULES, safety_net_window
from merge_pipeline.warehouse.accounts import list_accounts
from merge_pipeline_tests.defs.conftest import Accounts

pytestmark = pytest.mark.integration


def test_every_stored_account_is_requested_once_per_night_with_its_tags(
    accounts: Accounts,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    engine: sa.Engine,
) -> None:
    for _ in range(3):
        accounts.link("accounting", records=5)
    [schedule] = [s for s in SAFETY_NET_SCHEDULES if s.name == "safety_net_accounting"]
    window = safety_net_window()
    start = datetime(2026, 12, 2, window.start_hour, tzinfo=UTC)
    requests: list[dg.RunRequest] = []
    for tick in range(window.ticks):
        at = start + timedelta(minutes=window.tick_minutes * tick)
        # entered and left: an unclosed context leaves Dagster state that breaks later loads
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=at,
            resources={"warehouse": resources["warehouse"]},
        ) as context:
            outcome = schedule(context)
        requests += outcome if isinstance(outcome, list) else []
    with engine.connect() as connection:
        stored = {a.id for a in list_accounts(connection, category="accounting")}
    per_account = Counter(r.partition_key for r in requests)
    assert per_account == dict.fromkeys(stored, 1)
    assert {r.tags["merge/trigger"] for r in requests} == {"safety-net"}
