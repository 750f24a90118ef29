"""Every response the sandbox gives, checked against Merge's contract over real HTTP.

Every Common Model (list, list with every ``expand`` value, retrieve, retrieve expanded, nested
paths with a real parent), every platform endpoint per category, the documented errors, and
corrupted copies of real responses (proof that the validator bites).
"""

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from merge_pipeline.catalog import load_catalog
from merge_pipeline.catalog.model import CommonModel
from merge_pipeline_tests.contract.conftest import Contract, unknown_id
from merge_pipeline_tests.contract.validator import ContractViolation

pytestmark = pytest.mark.integration

CATALOG = load_catalog()
MODELS = list(CATALOG)
CATEGORIES = list(CATALOG.categories)


def _ids(model: CommonModel) -> str:
    return model.model_id


EXPANDABLE = [m for m in MODELS if m.expand]
RETRIEVABLE = [m for m in MODELS if m.retrieve_path]
RETRIEVABLE_EXPANDABLE = [m for m in RETRIEVABLE if m.expand]


#: One model per category whose records have no nested objects and every standard field: a
#: clean baseline for error calls and for corruption.
BASELINES = {
    "hris": "hris.Employee",
    "ats": "ats.Department",
    "crm": "crm.Stage",
    "accounting": "accounting.TrackingCategory",
    "ticketing": "ticketing.Team",
    "filestorage": "filestorage.Drive",
    "knowledgebase": "knowledgebase.User",
    "chat": "chat.User",
    "calendar": "calendar.Event",
    "email": "email.Message",
}


def _expand(model: CommonModel) -> dict[str, Any]:
    return {"expand": ",".join(model.expand)}


# -- Common Models -------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=_ids)
def test_list_first_page_matches_contract(contract: Contract, model: CommonModel) -> None:
    body = contract.validator.check(contract.first_page(model))
    assert body["results"], f"the sandbox serves no {model.model_id} records to check"


@pytest.mark.parametrize("model", EXPANDABLE, ids=_ids)
def test_list_with_every_expand_value_matches_contract(
    contract: Contract, model: CommonModel
) -> None:
    api = contract.client(model.category)
    response = api.get(contract.list_path(model), params={"page_size": 5, **_expand(model)})
    assert contract.validator.check(response)["results"]


@pytest.mark.parametrize("model", RETRIEVABLE, ids=_ids)
def test_retrieve_by_id_matches_contract(contract: Contract, model: CommonModel) -> None:
    record = contract.a_record(model)
    api = contract.client(model.category)
    body = contract.validator.check(api.get(contract.retrieve_path(model, record["id"])))
    assert body["id"] == record["id"]


@pytest.mark.parametrize("model", RETRIEVABLE_EXPANDABLE, ids=_ids)
def test_retrieve_with_every_expand_value_matches_contract(
    contract: Contract, model: CommonModel
) -> None:
    record = contract.a_record(model)
    api = contract.client(model.category)
    path = contract.retrieve_path(model, record["id"])
    assert contract.validator.check(api.get(path, params=_expand(model)))["id"] == record["id"]


# -- platform endpoints, per category -------------------------------------------------------


@pytest.mark.parametrize("category", CATEGORIES)
def test_sync_status_matches_contract(contract: Contract, category: str) -> None:
    body = contract.validator.check(contract.client(category).get(f"/{category}/v1/sync-status"))
    assert {s["model_id"] for s in body["results"]}


@pytest.mark.parametrize("category", CATEGORIES)
def test_account_details_match_contract(contract: Contract, category: str) -> None:
    response = contract.client(category).get(f"/{category}/v1/account-details")
    assert contract.validator.check(response)["id"] == contract.accounts[category].id


@pytest.mark.parametrize("category", CATEGORIES)
def test_linked_accounts_match_contract(contract: Contract, category: str) -> None:
    response = contract.client().get(f"/{category}/v1/linked-accounts", params={"page_size": 5})
    assert contract.validator.check(response)["results"]


@pytest.mark.parametrize("category", CATEGORIES)
def test_issues_match_contract(contract: Contract, category: str) -> None:
    broken = contract.admin.create_account(category, records=5)
    contract.admin.make_relink_needed(broken.id)
    api = contract.client()
    page = contract.validator.check(
        api.get(f"/{category}/v1/issues", params={"linked_account_id": broken.id})
    )
    assert page["results"], "an account needing relink has an ONGOING issue"
    issue_id = page["results"][0]["id"]
    assert contract.validator.check(api.get(f"/{category}/v1/issues/{issue_id}"))["id"] == issue_id


@pytest.mark.parametrize("category", CATEGORIES)
def test_link_token_and_account_token_match_contract(contract: Contract, category: str) -> None:
    api = contract.client()
    details = {
        "end_user_email_address": f"contract-{category}@example.com",
        "end_user_organization_name": f"Contract {category}",
        "end_user_origin_id": f"contract-{category}-{unknown_id()}",
        "categories": [category],
    }
    # chat.yml's CategoriesEnum lacks "chat" itself: a chat link request cannot satisfy its own
    # document, so only the response is checked there.
    request = api.post(f"/{category}/v1/link-token", json=details)
    link = contract.validator.check(request, check_request=category != "chat")
    linked = contract.admin.complete_link(link["link_token"], records=5)
    token = contract.validator.check(
        api.get(f"/{category}/v1/account-token/{linked['public_token']}")
    )
    assert token["id"] == linked["account_id"]


# -- errors ---------------------------------------------------------------------------------


def _any_list_path(contract: Contract, category: str) -> str:
    """A list path of a model whose records conform (see ``BASELINES``)."""
    return CATALOG.model(BASELINES[category]).list_path


@pytest.mark.parametrize("category", CATEGORIES)
def test_bad_api_key_is_401_with_detail(contract: Contract, category: str) -> None:
    api = contract.client(category, api_key="not-the-key")
    contract.validator.check_error(api.get(_any_list_path(contract, category)), 401)


@pytest.mark.parametrize("category", CATEGORIES)
def test_bad_account_token_is_401_with_detail(contract: Contract, category: str) -> None:
    api = contract.client(category, token="not-a-token")
    contract.validator.check_error(api.get(_any_list_path(contract, category)), 401)


@pytest.mark.parametrize("model", RETRIEVABLE, ids=_ids)
def test_unknown_id_is_404_with_detail(contract: Contract, model: CommonModel) -> None:
    api = contract.client(model.category)
    path = contract.retrieve_path(model, unknown_id())
    contract.validator.check_error(api.get(path), 404)


@pytest.mark.parametrize(
    "param", [{"expand": "not-a-relation"}, {"modified_after": "yesterday"}], ids=["expand", "date"]
)
@pytest.mark.parametrize("category", CATEGORIES)
def test_bad_query_value_is_400_with_detail(
    contract: Contract, category: str, param: dict[str, str]
) -> None:
    model = next(
        m
        for m in CATALOG.category(category)
        if not m.path_params and set(param) <= m.list_params | {"page_size"}
    )
    api = contract.client(category)
    contract.validator.check_error(api.get(model.list_path, params=param), 400)


@pytest.mark.parametrize(
    "param",
    [{"employment_status": "NOPE"}, {"show_enum_origins": "nope"}, {"remote_fields": "name"}],
    ids=["enum-filter", "show_enum_origins", "remote_fields"],
)
def test_value_outside_a_documented_enum_is_400_with_detail(
    contract: Contract, param: dict[str, str]
) -> None:
    """The documents enumerate these values; django-filter (Merge's) rejects others."""
    api = contract.client("hris")
    detail = contract.validator.check_error(api.get("/hris/v1/employees", params=param), 400)
    assert next(iter(param)) in detail or "show_enum_origins" in detail


@pytest.mark.parametrize("page_size", ["0", "-1", "many"])
def test_page_size_that_is_not_a_positive_integer_means_the_default(
    contract: Contract, page_size: str
) -> None:
    """DRF's cursor pagination (Merge's) ignores such a page size: the page is the default's."""
    api = contract.client("hris")
    default = api.get("/hris/v1/employees").json()
    response = api.get("/hris/v1/employees", params={"page_size": page_size})
    assert contract.validator.check(response, check_request=False) == default


@pytest.mark.parametrize("category", CATEGORIES)
def test_rate_limited_call_is_429_with_retry_after(contract: Contract, category: str) -> None:
    account = contract.admin.create_account(category, records=5)
    api = contract.client(category, token=account.account_token)
    path = _any_list_path(contract, category)
    contract.admin.rate_limit(per_minute=1, account_id=account.id)
    try:
        contract.validator.check(api.get(path, params={"page_size": 1}))
        contract.validator.check_error(api.get(path, params={"page_size": 1}), 429)
    finally:
        contract.admin.rate_limit(None, account_id=account.id)


# -- the validator bites: corrupted copies of real responses --------------------------------

Corruption = Callable[[dict[str, Any]], None]


def _first(body: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = body["results"][0]
    return record


def _set(field: str, value: Any) -> Corruption:
    def corrupt(body: dict[str, Any]) -> None:
        _first(body)[field] = value

    return corrupt


def _results_not_a_list(body: dict[str, Any]) -> None:
    body["results"] = {"0": body["results"][0]}


def _cursor_not_a_string(body: dict[str, Any]) -> None:
    body["next"] = 42


CORRUPTIONS: dict[str, Corruption] = {
    "modified_at-not-a-date-time": _set("modified_at", "last tuesday"),
    "created_at-a-number": _set("created_at", 1_700_000_000),
    "remote_was_deleted-a-string": _set("remote_was_deleted", "no"),
    "remote_id-an-object": _set("remote_id", {"value": "1"}),
    "results-not-a-list": _results_not_a_list,
    "next-not-a-string": _cursor_not_a_string,
}


def _respond(response: httpx.Response, body: Any) -> httpx.Response:
    """``response`` with another JSON body (same request, status and content type)."""
    return httpx.Response(
        response.status_code,
        headers={"content-type": "application/json"},
        content=json.dumps(body).encode(),
        request=response.request,
    )


def _corrupted(response: httpx.Response, corrupt: Corruption) -> httpx.Response:
    body = json.loads(response.content)
    corrupt(body)
    return _respond(response, body)


@pytest.mark.parametrize("corruption", list(CORRUPTIONS), ids=list(CORRUPTIONS))
@pytest.mark.parametrize("category", CATEGORIES)
def test_corrupted_list_response_is_rejected(
    contract: Contract, category: str, corruption: str
) -> None:
    model = CATALOG.model(BASELINES[category])
    response = contract.first_page(model)
    contract.validator.check(response)  # the real response is a valid baseline
    assert {"modified_at", "created_at", "remote_was_deleted", "remote_id"} <= set(
        model.field_names
    ), "corrupting a field the model lacks would prove nothing"
    with pytest.raises(ContractViolation):
        contract.validator.check(_corrupted(response, CORRUPTIONS[corruption]))


@pytest.mark.parametrize(
    "category", [c for c in CATEGORIES if CATALOG.model(BASELINES[c]).field("id").format]
)
def test_list_response_with_an_id_that_is_not_a_uuid_is_rejected(
    contract: Contract, category: str
) -> None:
    response = contract.first_page(CATALOG.model(BASELINES[category]))
    with pytest.raises(ContractViolation, match="uuid"):
        contract.validator.check(_corrupted(response, _set("id", "employee-1")))


@pytest.mark.parametrize("category", CATEGORIES)
def test_sync_status_without_a_required_field_is_rejected(
    contract: Contract, category: str
) -> None:
    real = contract.client(category).get(f"/{category}/v1/sync-status")
    # Optional fields the sandbox sends as null break some documents (see the sync-status test):
    # without them the real statuses are a valid baseline.
    baseline = _corrupted(real, _drop_nulls)
    contract.validator.check(baseline)

    def drop_status(body: dict[str, Any]) -> None:
        del _first(body)["status"]

    with pytest.raises(ContractViolation, match="status"):
        contract.validator.check(_corrupted(baseline, drop_status))


def _drop_nulls(body: dict[str, Any]) -> None:
    for record in body["results"]:
        for key in [k for k, v in record.items() if v is None]:
            del record[key]


@pytest.mark.parametrize("category", ["hris", "knowledgebase", "calendar"])
def test_error_body_of_the_wrong_shape_is_rejected(contract: Contract, category: str) -> None:
    response = contract.client(category, api_key="not-the-key").get(
        _any_list_path(contract, category)
    )
    contract.validator.check_error(response, 401)
    broken: Any
    for broken in ({"error": "Invalid API key."}, {"detail": ["Invalid API key."]}, []):
        with pytest.raises(ContractViolation):
            contract.validator.check_error(_respond(response, broken), 401)
    with pytest.raises(ContractViolation, match="expected status 404"):
        contract.validator.check_error(response, 404)


def test_expanded_relation_sent_as_an_id_is_rejected(contract: Contract) -> None:
    model = CATALOG.model("hris.Employee")
    api = contract.client("hris")
    response = api.get(contract.list_path(model), params={"page_size": 5, "expand": "company"})
    body = contract.validator.check(response)
    with_company = [r for r in body["results"] if r["company"]]
    assert with_company, "some employee has a company to expand"

    def collapse(body: dict[str, Any]) -> None:
        for record in body["results"]:
            if record["company"]:
                record["company"] = record["company"]["id"]

    with pytest.raises(ContractViolation, match="company is expanded"):
        contract.validator.check(_corrupted(response, collapse))
