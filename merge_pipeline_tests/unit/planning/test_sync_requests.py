"""Which reported syncs are due, and their grouping into one run per account."""

import pytest

from merge_pipeline.planning.sync_requests import (
    PendingSync,
    due_syncs,
    plan_runs,
    waits_for_all,
)

MODELS = ("ats.Candidate", "ats.Job", "ats.ScreeningQuestion")


def pending(*models: str, account: str = "a1") -> list[PendingSync]:
    return [PendingSync(account, "ats", m, f"sync-{m}") for m in models]


@pytest.mark.parametrize(
    ("reported", "statuses", "wait", "due"),
    [
        pytest.param(("ats.Job",), {}, False, ("ats.Job",), id="default: due at once"),
        pytest.param(("ats.Job",), {}, True, (), id="wait mode: others have not reported"),
        pytest.param(MODELS, {}, True, MODELS, id="wait mode: every model reported"),
        pytest.param(("ats.Candidate", "ats.Job"), {"ats.ScreeningQuestion": "DISABLED"}, True,
                     ("ats.Candidate", "ats.Job"), id="wait mode: DISABLED models do not count"),
        pytest.param(("ats.Candidate", "ats.Job"), {"ats.ScreeningQuestion": "FAILED"}, True,
                     ("ats.Candidate", "ats.Job"), id="wait mode: a FAILED model has reported"),
        pytest.param(("ats.Candidate", "ats.Job"), {"ats.ScreeningQuestion": "SYNCING"}, True,
                     (), id="wait mode: a SYNCING model is waited for"),
        pytest.param((), {}, True, (), id="nothing pending"),
    ],
)  # fmt: skip
def test_due_syncs(
    reported: tuple[str, ...], statuses: dict[str, str], wait: bool, due: tuple[str, ...]
) -> None:
    result = due_syncs(
        pending(*reported), category_models=MODELS, statuses=statuses, wait_for_all=wait
    )
    assert tuple(s.model_id for s in result) == due


@pytest.mark.parametrize(
    ("account", "setting", "waits"),
    [("a1", (), False), ("a1", ("*",), True), ("a1", ("a2", "a1"), True), ("a1", ("a2",), False)],
)
def test_waits_for_all(account: str, setting: tuple[str, ...], waits: bool) -> None:
    assert waits_for_all(account, setting) is waits


def test_one_run_per_account_with_nested_children_of_a_due_parent() -> None:
    due = pending("ats.Job", "ats.Candidate") + pending("ats.Candidate", account="a2")
    runs = plan_runs(due, {"ats.Job": ("ats.ScreeningQuestion",)}, "webhook")
    assert [(r.account_id, r.models) for r in runs] == [
        ("a1", ("ats.Candidate", "ats.Job", "ats.ScreeningQuestion")),
        ("a2", ("ats.Candidate",)),
    ]


def test_the_same_syncs_give_the_same_run_key_in_any_order() -> None:
    first = plan_runs(pending("ats.Job", "ats.Candidate"), {}, "webhook")
    second = plan_runs(pending("ats.Candidate", "ats.Job"), {}, "webhook")
    assert first[0].run_key == second[0].run_key
    assert first[0].run_key.startswith("webhook:a1:")


def test_another_sync_gives_another_run_key() -> None:
    first = plan_runs(pending("ats.Job"), {}, "webhook")
    later = plan_runs([PendingSync("a1", "ats", "ats.Job", "sync-2")], {}, "webhook")
    assert first[0].run_key != later[0].run_key
