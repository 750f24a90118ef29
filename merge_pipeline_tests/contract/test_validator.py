"""The validator on hand-made exchanges: it accepts what Merge means and rejects broken bodies.

No sandbox needed (only the reference documents), so these pin the harness itself: a contract
test that cannot fail is worse than none (VALIDATION-NOTES 1).
"""

import uuid
from typing import Any

import httpx
import pytest

from merge_pipeline_tests.contract.conftest import require_reference
from merge_pipeline_tests.contract.validator import ContractValidator, ContractViolation

BASE = "http://127.0.0.1:9/api"
NOW = "2026-06-11T10:00:00Z"


@pytest.fixture(scope="module")
def validator() -> ContractValidator:
    require_reference()
    return ContractValidator(BASE)


def _id() -> str:
    return str(uuid.uuid4())


def exchange(
    path: str,
    body: Any,
    *,
    status: int = 200,
    params: dict[str, Any] | None = None,
    account: bool = True,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    request_headers = {"Authorization": "Bearer key"}
    if account:
        request_headers["X-Account-Token"] = "token"
    request = httpx.Request(method, BASE + path, params=params, headers=request_headers)
    return httpx.Response(status, json=body, request=request, headers=headers)


def page(*records: dict[str, Any]) -> dict[str, Any]:
    return {"next": None, "previous": None, "results": list(records)}


def employee(**changes: Any) -> dict[str, Any]:
    record = {
        "id": _id(),
        "remote_id": "19202938",
        "created_at": NOW,
        "modified_at": NOW,
        "first_name": "Greg",
        "company": None,  # null relation: rejected by a literal reading (VALIDATION-NOTES 2)
        "manager": _id(),
        "groups": [_id()],
        "gender": "MALE",
        "employment_status": "ACTIVE",
        "employee_url": "https://example.com/e/1",  # newer than hris.yml (VALIDATION-NOTES 7)
        "remote_was_deleted": False,
        "field_mappings": None,
        "remote_data": None,
    }
    return {**record, **changes}


def test_a_valid_employee_page_passes(validator: ContractValidator) -> None:
    validator.check(exchange("/hris/v1/employees", page(employee()), params={"page_size": 5}))


def test_enum_fields_accept_other_strings(validator: ContractValidator) -> None:
    validator.check(exchange("/hris/v1/employees", page(employee(gender="Unspecified"))))


def test_expanded_relations_pass(validator: ContractValidator) -> None:
    company = {"id": _id(), "legal_name": "Merge", "created_at": NOW, "modified_at": NOW}
    record = employee(company=company, groups=[{"id": _id(), "name": "Eng"}])
    params = {"expand": "company,groups"}
    validator.check(exchange("/hris/v1/employees", page(record), params=params))


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"id": "employee-1"}, "uuid"),
        ({"modified_at": "yesterday"}, "date-time"),
        ({"remote_was_deleted": "no"}, "boolean"),
        ({"employee_url": 7}, "string"),
        ({"company": 5}, "company"),
        ({"groups": "all"}, "array"),
        ({"first_name": ["Greg"]}, "string"),
    ],
    ids=["id", "modified_at", "remote_was_deleted", "newer-field", "relation", "list", "name"],
)
def test_a_broken_employee_fails(
    validator: ContractValidator, change: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ContractViolation, match=complaint):
        validator.check(exchange("/hris/v1/employees", page(employee(**change))))


def test_results_that_are_not_a_list_fail(validator: ContractValidator) -> None:
    body = {"next": None, "previous": None, "results": employee()}
    with pytest.raises(ContractViolation, match="results"):
        validator.check(exchange("/hris/v1/employees", body))


def test_a_retrieved_record_is_checked_too(validator: ContractValidator) -> None:
    record = employee()
    validator.check(exchange(f"/hris/v1/employees/{record['id']}", record))
    with pytest.raises(ContractViolation, match="created_at: 1 is not of type"):
        validator.check(exchange(f"/hris/v1/employees/{record['id']}", {**record, "created_at": 1}))


def test_expand_must_be_honoured(validator: ContractValidator) -> None:
    """CONTRACT §2: with ``expand`` the object, without it the id."""
    params = {"expand": "company"}
    with pytest.raises(ContractViolation, match="company is expanded"):
        validator.check(
            exchange("/hris/v1/employees", page(employee(company=_id())), params=params)
        )
    with pytest.raises(ContractViolation, match="company is not expanded"):
        validator.check(exchange("/hris/v1/employees", page(employee(company={"id": _id()}))))


def test_the_request_is_checked_against_the_document(validator: ContractValidator) -> None:
    with pytest.raises(ContractViolation, match="X-Account-Token"):
        validator.check(exchange("/hris/v1/employees", page(employee()), account=False))
    with pytest.raises(ContractViolation, match="expand"):
        validator.check(exchange("/hris/v1/employees", page(employee()), params={"expand": "boss"}))


def test_required_fields_are_required(validator: ContractValidator) -> None:
    status = {"model_name": "Employee", "model_id": "hris.Employee", "is_initial_sync": False}
    validator.check(exchange("/hris/v1/sync-status", page({**status, "status": "DONE"})))
    with pytest.raises(ContractViolation, match="status"):
        validator.check(exchange("/hris/v1/sync-status", page(status)))


def test_31_export_relations_accept_the_expanded_object(validator: ContractValidator) -> None:
    article = {"id": _id(), "created_at": NOW, "modified_at": NOW, "author": {"id": _id()}}
    params = {"expand": "author"}
    validator.check(exchange("/knowledgebase/v1/articles", page(article), params=params))
    with pytest.raises(ContractViolation, match="author"):
        validator.check(exchange("/knowledgebase/v1/articles", page({**article, "author": 5})))


def test_chat_paths_are_found_under_the_category_prefix(validator: ContractValidator) -> None:
    conversation = {"id": _id(), "created_at": NOW, "modified_at": NOW, "members": [_id()]}
    validator.check(exchange("/chat/v1/conversations", page(conversation)))
    with pytest.raises(ContractViolation, match="uuid"):
        validator.check(exchange("/chat/v1/conversations", page({**conversation, "id": "c-1"})))


def test_models_newer_than_the_30_document_use_the_docs_export(
    validator: ContractValidator,
) -> None:
    order = {"id": _id(), "created_at": NOW, "modified_at": NOW, "customer": _id()}
    validator.check(exchange("/accounting/v1/sales-orders", page(order)))
    with pytest.raises(ContractViolation, match="date-time"):
        validator.check(exchange("/accounting/v1/sales-orders", page({**order, "created_at": ""})))


def test_calendar_is_checked_against_the_catalog(validator: ContractValidator) -> None:
    event = {
        "id": "e-1",
        "created_at": NOW,
        "modified_at": NOW,
        "is_private": False,
        "calendar": "cal-1",
        "invitees": ["i-1"],
    }
    validator.check(exchange("/calendar/v1/events", page(event)))
    params = {"expand": "calendar,invitees"}
    expanded = {**event, "calendar": {"id": "cal-1"}, "invitees": [{"id": "i-1"}]}
    validator.check(exchange("/calendar/v1/events", page(expanded), params=params))
    for broken in ({"is_private": "no"}, {"start_date": "soon"}, {"calendar": {"id": "x"}}):
        with pytest.raises(ContractViolation):
            validator.check(exchange("/calendar/v1/events", page({**event, **broken})))
    with pytest.raises(ContractViolation, match="not allowed"):
        validator.check(exchange("/calendar/v1/events", page(event), params={"expand": "boss"}))


def test_email_platform_endpoints_are_checked_against_the_catalog(
    validator: ContractValidator,
) -> None:
    status = {"model_name": "Message", "model_id": "email.Message", "is_initial_sync": True}
    validator.check(exchange("/email/v1/sync-status", page({**status, "status": "SYNCING"})))
    with pytest.raises(ContractViolation, match="status"):
        validator.check(exchange("/email/v1/sync-status", page(status)))
    with pytest.raises(ContractViolation, match="does not describe"):
        validator.check(exchange("/email/v1/unknown-things", page()))


def test_error_bodies_need_a_detail_string(validator: ContractValidator) -> None:
    assert validator.check_error(exchange("/hris/v1/employees", {"detail": "No."}, status=401), 401)
    for body in ({"detail": ""}, {"detail": 1}, {"error": "No."}, {"detail": "No.", "x": 1}):
        with pytest.raises(ContractViolation):
            validator.check_error(exchange("/hris/v1/employees", body, status=401), 401)
    with pytest.raises(ContractViolation, match="expected status 404"):
        validator.check_error(exchange("/hris/v1/employees/x", {"detail": "No."}, status=401), 404)
    with pytest.raises(ContractViolation, match="not a documented Merge status"):
        validator.check_error(exchange("/hris/v1/employees", {"detail": "No."}, status=418), 418)


def test_429_needs_retry_after_in_seconds(validator: ContractValidator) -> None:
    body = {"detail": "Request was throttled."}
    throttled = exchange("/hris/v1/employees", body, status=429, headers={"Retry-After": "3"})
    validator.check_error(throttled, 429)
    for retry_after in (None, "soon", "0"):
        headers = {"Retry-After": retry_after} if retry_after else None
        with pytest.raises(ContractViolation, match="Retry-After"):
            response = exchange("/hris/v1/employees", body, status=429, headers=headers)
            validator.check_error(response, 429)


def test_success_checks_reject_errors(validator: ContractValidator) -> None:
    with pytest.raises(ContractViolation, match="expected success"):
        validator.check(exchange("/hris/v1/employees", {"detail": "No."}, status=401))
