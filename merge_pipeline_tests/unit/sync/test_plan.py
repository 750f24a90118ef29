"""Which pairs a sync request names; bad requests are explained, not guessed."""

import pytest

from merge_pipeline.catalog import load_catalog
from merge_pipeline.sync.plan import PlanError, plan_syncs
from merge_pipeline.sync.runner import dependency_order
from merge_pipeline.warehouse.accounts import LinkedAccount

ACCOUNTS = [LinkedAccount("h1", "hris"), LinkedAccount("a1", "ats")]


def test_an_account_alone_syncs_every_model_of_its_category() -> None:
    plan = plan_syncs(load_catalog(), ACCOUNTS, account_ids=["h1"])
    assert [m.model_id for m in plan["h1"]] == [m.model_id for m in load_catalog().category("hris")]


def test_models_are_only_synced_for_accounts_of_their_category() -> None:
    plan = plan_syncs(load_catalog(), ACCOUNTS, model_ids=["ats.Candidate"])
    assert list(plan) == ["a1"]


def test_unknown_account_and_model_are_named() -> None:
    with pytest.raises(PlanError, match="nope"):
        plan_syncs(load_catalog(), ACCOUNTS, account_ids=["nope"])
    with pytest.raises(PlanError, match="Employe"):
        plan_syncs(load_catalog(), ACCOUNTS, model_ids=["hris.Employe"])


def test_expand_must_be_a_relation_of_the_single_model() -> None:
    with pytest.raises(PlanError, match="cannot expand boss"):
        plan_syncs(load_catalog(), ACCOUNTS, model_ids=["hris.Employee"], expand=["boss"])


def test_nested_models_sync_after_their_parents() -> None:
    ordered = [m.name for m in dependency_order(load_catalog().category("ats"))]
    assert ordered.index("ScreeningQuestion") > ordered.index("Job")


@pytest.mark.parametrize(
    ("account_ids", "model_ids", "expected"),
    [
        (
            ["h1"],
            ["ats.Candidate"],
            "nothing to sync: linked account h1 is HRIS, but ats.Candidate belongs to ATS "
            "(list the models there are: merge-pipeline models hris)",
        ),
        (
            ["h1", "a1"],
            ["crm.Contact", "crm.Account"],
            "nothing to sync: the chosen accounts are ATS and HRIS, but crm.Contact, crm.Account "
            "belong to CRM (list the models there are: merge-pipeline models ats; "
            "merge-pipeline models hris)",
        ),
    ],
)
def test_a_model_of_another_category_says_what_the_account_is(
    account_ids: list[str], model_ids: list[str], expected: str
) -> None:
    with pytest.raises(PlanError) as raised:
        plan_syncs(load_catalog(), ACCOUNTS, account_ids=account_ids, model_ids=model_ids)
    assert str(raised.value) == expected


def test_no_stored_account_says_how_to_add_one() -> None:
    with pytest.raises(PlanError, match="no active linked account is stored"):
        plan_syncs(load_catalog(), [])
