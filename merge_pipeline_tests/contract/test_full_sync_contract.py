"""A full sync of every category, plain and expanded, validated response by response.

The count of contract violations is reported per category in the terminal summary and must be
0: every page of every model (nested ones under every parent), with and without every ``expand``
value, the platform reads around a sync, and the errors a sync can meet.
"""

import os

import pytest

from merge_pipeline.catalog import load_catalog
from merge_pipeline_tests.contract.conftest import FULL_SYNC_TALLIES, Contract
from merge_pipeline_tests.contract.full_sync import error_calls, validate_full_sync

pytestmark = pytest.mark.integration

#: A deeper run syncs an account of this many records instead of the session's (2,000), e.g.
#: ``MERGE_PIPELINE_CONTRACT_SYNC_RECORDS=4000``: every model then spans pages (minutes).
DEEPER_RECORDS = os.environ.get("MERGE_PIPELINE_CONTRACT_SYNC_RECORDS")


@pytest.mark.parametrize("category", list(load_catalog().categories))
def test_full_sync_of_the_category_has_no_contract_violation(
    contract: Contract, category: str
) -> None:
    api = contract.client(category)
    if DEEPER_RECORDS:
        account = contract.admin.create_account(category, records=int(DEEPER_RECORDS))
        api = contract.client(category, token=account.account_token)
    tally = validate_full_sync(contract.validator, api, category, error_calls(category))
    FULL_SYNC_TALLIES.append(tally)
    assert tally.responses > len(load_catalog().category(category).models)
    assert tally.violations == 0, "\n\n".join(tally.messages)
