import orjson
import pytest

from merge_pipeline.merge import MergeResponseError
from merge_pipeline_tests.unit.merge.conftest import (
    ACCOUNT_TOKEN,
    API_KEY,
    Script,
    json_response,
    page_body,
)


def test_account_calls_send_key_token_and_fixed_headers(harness, account):
    script = Script([json_response({"id": "la-0001", "integration": "BambooHR"})])
    with harness.client(script) as client:
        details = client.account_details(account, "hris")
    headers = script.requests[0].headers
    assert details["integration"] == "BambooHR"
    assert script.requests[0].url.path == "/api/hris/v1/account-details"
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["X-Account-Token"] == ACCOUNT_TOKEN
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("merge-pipeline/")


def test_organisation_calls_send_no_account_token(harness):
    script = Script([json_response(page_body([{"id": "i1"}]))])
    with harness.client(script) as client:
        assert [i["id"] for i in client.issues("ats", status="ONGOING")] == ["i1"]
    request = script.requests[0]
    assert "X-Account-Token" not in request.headers
    assert request.url.path == "/api/ats/v1/issues"
    assert dict(request.url.params) == {"status": "ONGOING", "page_size": "100"}


def test_sync_status_collects_every_page(harness, account):
    script = Script(
        [
            json_response(page_body([{"model_id": "hris.Employee", "status": "DONE"}], "c2")),
            json_response(page_body([{"model_id": "hris.Team", "status": "SYNCING"}])),
        ]
    )
    with harness.client(script) as client:
        rows = client.sync_status(account, "hris")
    assert [r["model_id"] for r in rows] == ["hris.Employee", "hris.Team"]
    assert script.params[1]["cursor"] == "c2"


def test_linked_accounts_filters_are_checked(harness):
    script = Script([json_response(page_body([{"id": "la-1", "status": "COMPLETE"}]))])
    with harness.client(script) as client:
        assert [a["id"] for a in client.linked_accounts("hris", status="COMPLETE")] == ["la-1"]
        with pytest.raises(ValueError, match="no filter stauts"):
            client.linked_accounts("hris", stauts="COMPLETE")


def test_linked_accounts_take_a_category_filter_apart_from_the_path(harness):
    script = Script([json_response(page_body([{"id": "la-1", "category": "ats"}]))])
    with harness.client(script) as client:
        assert [a["id"] for a in client.linked_accounts("hris", category="ats")] == ["la-1"]
    assert script.requests[0].url.path == "/api/hris/v1/linked-accounts"
    assert dict(script.requests[0].url.params) == {"category": "ats", "page_size": "100"}


def test_issues_refuse_the_account_token_filter(harness):
    with harness.client(Script([])) as client, pytest.raises(ValueError, match="account_token"):
        client.issues("hris", account_token="x")


def test_unknown_category_is_refused(harness, account):
    with harness.client(Script([])) as client, pytest.raises(ValueError, match="unknown Merge"):
        client.sync_status(account, "marketing")


def test_create_link_token_posts_the_end_user_json(harness):
    script = Script([json_response({"link_token": "lt-1", "integration_name": None})])
    with harness.client(script) as client:
        token = client.create_link_token(
            "hris", "o1", "Org", "a@b.c", ["hris", "ats"], link_expiry_mins=60
        )
        with pytest.raises(ValueError, match="no field link_expiry"):
            client.create_link_token("hris", "o1", "Org", "a@b.c", ["hris"], link_expiry=60)
    request = script.requests[0]
    assert token["link_token"] == "lt-1"
    assert request.method == "POST"
    assert request.url.path == "/api/hris/v1/link-token"
    assert "X-Account-Token" not in request.headers
    assert orjson.loads(request.content) == {
        "end_user_origin_id": "o1",
        "end_user_organization_name": "Org",
        "end_user_email_address": "a@b.c",
        "categories": ["hris", "ats"],
        "link_expiry_mins": 60,
    }


def test_exchange_without_account_token_is_a_contract_error(harness):
    script = Script([json_response({"id": "la-1"})])
    with harness.client(script) as client, pytest.raises(MergeResponseError) as caught:
        client.exchange_public_token("hris", "pub-1")
    assert "/hris/v1/account-token/***" in str(caught.value)


def test_retrieve_gets_one_record_with_validated_expand(harness, account, employee):
    script = Script([json_response({"id": "e1", "manager": {"id": "e2"}})])
    with harness.client(script) as client:
        record = client.retrieve(account, employee, "e1", expand=("manager",))
        with pytest.raises(ValueError, match="cannot expand"):
            client.retrieve(account, employee, "e1", expand=("boss",))
    assert record["manager"] == {"id": "e2"}
    assert script.requests[0].url.path == "/api/hris/v1/employees/e1"
    assert dict(script.requests[0].url.params) == {"expand": "manager"}
