"""Reading synced webhooks and /sync-status rows: absent fields, renamed events, bad input."""

from datetime import UTC, datetime
from typing import Any

import pytest

from merge_pipeline.planning.sync_reports import (
    EventNames,
    MalformedReport,
    read_event,
    report_from_row,
)

NAMES = EventNames()
ACCOUNT = {"id": "acct-1", "category": "hris"}


def model_synced(**status: Any) -> dict[str, Any]:
    return {
        "linked_account": ACCOUNT,
        "data": {
            "synced_fields": ["id", "first_name"],
            "sync_status": {"model_name": "Employee", "model_id": "hris.Employee", **status},
        },
    }


def test_a_model_synced_webhook_reads_as_one_report_with_its_synced_fields() -> None:
    event = read_event(
        "Employee.synced",
        model_synced(status="PARTIALLY_SYNCED", last_sync_finished="2026-12-01T10:00:00Z"),
        NAMES,
    )
    [report] = event.reports
    assert (event.kind, event.account_id, report.model_id, report.status) == (
        "synced", "acct-1", "hris.Employee", "PARTIALLY_SYNCED"
    )  # fmt: skip
    assert report.synced_fields == ("id", "first_name")
    assert report.last_sync_finished == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_a_linked_account_synced_webhook_reads_as_one_report_per_model() -> None:
    payload = {
        "linked_account": ACCOUNT,
        "data": {
            "is_initial_sync": False,
            "sync_status": {
                "hris.Employee": {"last_sync_finished": "2026-12-01T10:00:00Z",
                                  "last_sync_result": "DONE"},
                "hris.Team": {"last_sync_result": "FAILED"},
            },
        },
    }  # fmt: skip
    event = read_event("LinkedAccount.synced", payload, NAMES)
    assert [(r.model_id, r.status) for r in event.reports] == [
        ("hris.Employee", "DONE"),
        ("hris.Team", "FAILED"),
    ]


def test_configured_event_names_are_honoured() -> None:
    names = EventNames(account_synced="LinkedAccount.sync_completed", model_synced="model.{model}")
    event = read_event("model.Employee", model_synced(status="DONE"), names)
    assert event.kind == "synced" and event.reports[0].model_id == "hris.Employee"
    assert read_event("Employee.synced", model_synced(status="DONE"), names).kind == "other"


@pytest.mark.parametrize("event", ["Issue.new", "Issue.resolved", "LinkedAccount.deleted"])
def test_events_of_other_sensors_are_not_ours(event: str) -> None:
    assert read_event(event, {"linked_account": ACCOUNT, "data": {}}, NAMES).kind == "other"


def test_a_model_synced_webhook_without_model_id_takes_the_category() -> None:
    payload = model_synced(status="DONE")
    del payload["data"]["sync_status"]["model_id"]
    assert read_event("Employee.synced", payload, NAMES).reports[0].model_id == "hris.Employee"


def test_the_linked_event_says_whether_it_is_a_relink() -> None:
    payload = {"linked_account": ACCOUNT, "data": {"is_relink": True}}
    event = read_event("LinkedAccount.linked", payload, NAMES)
    assert (event.kind, event.is_relink) == ("linked", True)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param({"data": {}}, "no linked_account.id", id="no account"),
        pytest.param({"linked_account": ACCOUNT}, "no data object", id="no data"),
        pytest.param({"linked_account": ACCOUNT, "data": {}}, "no data.sync_status",
                     id="no sync status"),
        pytest.param(model_synced(status="DONE", last_sync_finished="yesterday"),
                     "not an ISO 8601", id="a bad instant"),
        pytest.param(model_synced(last_sync_finished="2026-12-01T10:00:00Z"), "has no status",
                     id="no status"),
        pytest.param({**model_synced(status="DONE"), "data": {
            "sync_status": {"model_id": "hris.Employee", "status": "DONE"},
            "synced_fields": "all"}}, "synced_fields", id="synced_fields not a list"),
    ],
)  # fmt: skip
def test_malformed_webhooks_are_refused_in_one_line(payload: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedReport, match=reason) as refused:
        read_event("Employee.synced", payload, NAMES)
    assert "\n" not in str(refused.value)


def test_a_sync_status_row_of_an_older_sdk_reads_without_its_optional_fields() -> None:
    report = report_from_row(
        {"model_name": "Employee", "model_id": "hris.Employee", "status": "DONE",
         "is_initial_sync": False}
    )  # fmt: skip
    assert (report.last_sync_start, report.last_sync_finished, report.last_sync_result) == (
        None, None, None
    )  # fmt: skip


def test_a_naive_instant_is_taken_as_utc() -> None:
    report = report_from_row(
        {"model_id": "hris.Employee", "status": "DONE", "last_sync_start": "2026-12-01T10:00:00"}
    )
    assert report.last_sync_start == datetime(2026, 12, 1, 10, tzinfo=UTC)
