"""The sandbox's record-level adversity switches, each on: the mirror still equals Merge's data.

Each switch alters about one record in three (NULs in text, timestamps in other offsets or whole
seconds, enum values the documents do not list, fields they do not list); the test first checks
that the switch did alter the ground truth, so it cannot pass vacuously.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline_tests.integration.sync.conftest import Harness
from merge_sandbox.oddities import EXTRA_FIELD, UNKNOWN_ENUM_VALUE

EMPLOYEE = "hris.Employee"


def _has_nul(record: dict[str, Any]) -> bool:
    return any(isinstance(v, str) and "\x00" in v for v in record.values())


def _odd_time(record: dict[str, Any]) -> bool:
    return not str(record.get("modified_at", "")).endswith("Z") or "." not in record["modified_at"]


SWITCHES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "nul_characters": _has_nul,
    "odd_timestamps": _odd_time,
    "unknown_enum_values": lambda record: UNKNOWN_ENUM_VALUE in record.values(),
    "extra_fields": lambda record: EXTRA_FIELD in record,
}


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_mirror_equals_merge_with_the_switch_on(harness: Harness, switch: str) -> None:
    harness.admin.set_adversity(**{switch: True})
    account = harness.account(records=400)
    harness.sync(account, EMPLOYEE)
    harness.admin.advance_clock(120)
    harness.admin.mutate(account.id, EMPLOYEE, creates=5, updates=8, deletes=3)
    result = harness.sync(account, EMPLOYEE)
    truth = harness.admin.records(account.id, EMPLOYEE).records
    assert any(SWITCHES[switch](record) for record in truth), "the switch changed nothing"
    harness.assert_mirror_matches(account.id, EMPLOYEE)
    assert result.records_quarantined == 0


def test_odd_timestamps_land_as_the_instants_merge_wrote(harness: Harness) -> None:
    harness.admin.set_adversity(odd_timestamps=True)
    account = harness.account(records=300)
    harness.sync(account, EMPLOYEE)
    truth = {
        r["id"]: datetime.fromisoformat(r["modified_at"])
        for r in harness.admin.records(account.id, EMPLOYEE).records
    }
    table = mirror_tables()[EMPLOYEE]
    with harness.engine.connect() as connection:
        mirrored = dict(
            connection.execute(
                sa.select(table.c.id, table.c.modified_at).where(
                    table.c.linked_account_id == account.id
                )
            ).all()
        )
    assert mirrored == truth
