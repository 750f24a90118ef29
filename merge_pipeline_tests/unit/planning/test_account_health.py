"""Account health verdicts, Issue readings and the round robin: pure decisions, table-driven."""

from datetime import UTC, datetime

import pytest

from merge_pipeline.planning.account_health import (
    Health,
    IssueRow,
    OpenIssue,
    assess,
    issue_event_role,
    issue_from_event,
    issue_text,
    next_batch,
    owner_of,
    parse_issue,
    resolved_by_absence,
)

CREDENTIALS = OpenIssue("i-1", "Invalid login credentials")
PERMISSION = OpenIssue("i-2", "Missing permission")
MUTED = OpenIssue("i-3", "Expired multi-factor authentication", is_muted=True)


@pytest.mark.parametrize(
    ("details", "issues", "health", "status", "reason"),
    [
        ({"status": "COMPLETE"}, [], Health.HEALTHY, "COMPLETE", "complete"),
        (
            {"status": "COMPLETE"},
            [PERMISSION],
            Health.HEALTHY,
            "COMPLETE",
            "open issue: Missing permission",
        ),
        (
            {"status": "RELINK_NEEDED"},
            [CREDENTIALS, PERMISSION],
            Health.RELINK_NEEDED,
            "RELINK_NEEDED",
            "Invalid login credentials; Missing permission",
        ),
        (
            {"status": "RELINK_NEEDED"},
            [MUTED],
            Health.RELINK_NEEDED,
            "RELINK_NEEDED",
            "Merge says its credentials need relinking",
        ),
        ({"status": "IDLE"}, [], Health.IDLE, "IDLE", None),
        ({"status": "INCOMPLETE"}, [], Health.INCOMPLETE, "INCOMPLETE", None),
        # a failed read, or an answer we cannot read, changes nothing stored
        (None, [CREDENTIALS], Health.UNKNOWN, None, "Merge's account details could not be read"),
        ({}, [], Health.UNKNOWN, None, "Merge reported an unknown status None"),
        ({"status": "ARCHIVED"}, [], Health.UNKNOWN, None, None),
        ({"status": 3}, [], Health.UNKNOWN, None, None),
    ],
)
def test_health_from_account_details_and_open_issues(
    details: dict[str, object] | None,
    issues: list[OpenIssue],
    health: Health,
    status: str | None,
    reason: str | None,
) -> None:
    verdict = assess(details, issues)
    assert (verdict.health, verdict.status) == (health, status)
    if reason is not None:
        assert verdict.reason == reason


def test_issue_text_lists_each_unmuted_description_once() -> None:
    twice = OpenIssue("i-9", CREDENTIALS.error_description)
    assert issue_text([PERMISSION, CREDENTIALS, twice, MUTED]) == (
        "Invalid login credentials; Missing permission"
    )


ISSUE = {
    "id": "iss-1",
    "status": "ONGOING",
    "error_description": "Invalid login credentials",
    "end_user": {"end_user_origin_id": "origin-7"},
    "first_incident_time": "2026-12-01T10:00:00Z",
    "last_incident_time": "2026-12-01T11:00:00+00:00",
    "is_muted": False,
}


@pytest.mark.parametrize(
    ("role", "data", "status", "muted"),
    [
        ("new", ISSUE, "ONGOING", False),
        ("reopened", {**ISSUE, "status": None}, "ONGOING", False),
        ("resolved", {k: v for k, v in ISSUE.items() if k != "status"}, "RESOLVED", False),
        ("resolved", {**ISSUE, "status": "RESOLVED"}, "RESOLVED", False),
        ("muted", ISSUE, "ONGOING", True),
    ],
)
def test_issue_webhook_events_become_rows(
    role: str, data: dict[str, object], status: str, muted: bool
) -> None:
    row = issue_from_event(role, "acct-1", data)
    assert row is not None
    assert (row.id, row.linked_account_id, row.status, row.is_muted) == (
        "iss-1",
        "acct-1",
        status,
        muted,
    )


def test_an_issue_without_an_id_is_not_stored() -> None:
    assert issue_from_event("new", "acct-1", {"error_description": "x"}) is None
    assert parse_issue({"id": ""}, "acct-1") is None


def test_parse_issue_reads_merges_fields_and_tolerates_bad_times() -> None:
    row = parse_issue({**ISSUE, "last_incident_time": "yesterday"}, "acct-1")
    assert row == IssueRow(
        id="iss-1",
        linked_account_id="acct-1",
        status="ONGOING",
        error_description="Invalid login credentials",
        first_incident_time=datetime(2026, 12, 1, 10, tzinfo=UTC),
        last_incident_time=None,
        is_muted=False,
    )


@pytest.mark.parametrize(
    ("raw", "owner"),
    [
        (ISSUE, "acct-7"),
        ({**ISSUE, "end_user": {"end_user_origin_id": "someone-else"}}, None),
        ({**ISSUE, "end_user": {}}, None),
        ({**ISSUE, "end_user": None}, None),
    ],
)
def test_an_issue_is_matched_to_its_account_by_end_user_origin_id(
    raw: dict[str, object], owner: str | None
) -> None:
    assert owner_of(raw, {"origin-7": "acct-7"}) == owner


def test_a_complete_listing_resolves_only_the_issues_it_no_longer_shows() -> None:
    assert resolved_by_absence({"a", "b", "c"}, ["b", "d"]) == {"a", "c"}


@pytest.mark.parametrize(
    ("ids", "after", "size", "batch", "cursor"),
    [
        (["a", "b", "c", "d"], None, 2, ["a", "b"], "b"),
        (["a", "b", "c", "d"], "b", 2, ["c", "d"], "d"),
        (["a", "b", "c", "d"], "d", 3, ["a", "b", "c"], "c"),  # wraps around
        (["a", "b", "c", "d"], "c", 3, ["d", "a", "b"], "b"),
        (["a", "c"], "b", 1, ["c"], "c"),  # the cursor's account was removed: nothing skipped
        (["b", "a"], None, 5, ["a", "b"], "b"),  # never more than every account once
        ([], "x", 3, [], "x"),
    ],
)
def test_round_robin_walks_every_account_in_turn(
    ids: list[str], after: str | None, size: int, batch: list[str], cursor: str | None
) -> None:
    assert next_batch(ids, after, size) == (batch, cursor)


@pytest.mark.parametrize(
    ("event", "role"),
    [
        ("Issue.new", "new"),
        ("Issue.created", "new"),
        ("Issue.reopened", "reopened"),
        ("Issue.muted", "muted"),
        ("Issue.resolved", "resolved"),
    ],
)
def test_issue_event_names_say_what_happened(event: str, role: str) -> None:
    assert issue_event_role(event) == role
