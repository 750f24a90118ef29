"""A bounded schema fuzzer (schemathesis, GET only, derandomised) finds no schema failure.

Every GET operation of every category's documents gets a few generated requests (query values
the document allows, real ids in the path) against the running sandbox; a 5xx or a documented
status whose body breaks its schema is a failure. Unsupported endpoints may answer 404, which no
document describes, so only their status class is checked.
"""

import pytest

from merge_pipeline.catalog import load_catalog
from merge_pipeline_tests.contract.conftest import Contract
from merge_pipeline_tests.contract.fuzz import Target, fuzz_document
from merge_pipeline_tests.contract.spec import DOCUMENTS, normalised_document

pytestmark = pytest.mark.integration

DOCUMENT_IDS = [(c, r) for c, relatives in DOCUMENTS.items() for r in relatives]


def _path_ids(contract: Contract, category: str) -> dict[str, dict[str, str]]:
    """Path template -> parameters naming real records (retrieve and nested list paths)."""
    ids: dict[str, dict[str, str]] = {}
    for model in load_catalog().category(category):
        parents = contract.parent_ids(model)
        if parents:
            ids[model.list_path] = dict(parents)
        if model.retrieve_path:
            ids[model.retrieve_path] = {**parents, "id": contract.a_record(model)["id"]}
    return ids


@pytest.mark.parametrize(("category", "relative"), DOCUMENT_IDS, ids=[r for _, r in DOCUMENT_IDS])
def test_fuzzed_get_requests_find_no_schema_failure(
    contract: Contract, category: str, relative: str
) -> None:
    token = contract.accounts[category].account_token
    ids = _path_ids(contract, category)
    target = Target(
        base_url=contract.base_url,
        headers={"Authorization": f"Bearer {contract.api_key}", "X-Account-Token": token},
        path_ids=lambda template: ids.get(template, {}),
    )
    earlier = DOCUMENTS[category][: DOCUMENTS[category].index(relative)]
    skip = {path for doc in earlier for path in normalised_document(doc, category)["paths"]}
    report = fuzz_document(relative, category, target, skip)
    assert report.requests >= report.operations > 0
    assert report.failures == [], "\n\n".join(report.failures)
