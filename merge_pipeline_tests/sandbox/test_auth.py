"""Authentication: API key on everything, account token on per-account endpoints."""

import httpx

from merge_pipeline_tests.sandbox.helpers import account_of, client


def test_missing_api_key_is_401_invalid_api_key(shared):
    response = httpx.get(f"{shared.base_url}/hris/v1/employees")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key."}


def test_wrong_api_key_is_401(shared):
    with client(shared, account_of(shared, "hris"), Authorization="Bearer nope") as api:
        response = api.get("/hris/v1/employees")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key."}


def test_api_key_without_bearer_prefix_is_401(shared):
    with client(shared, account_of(shared, "hris"), Authorization=shared.api_key) as api:
        assert api.get("/hris/v1/employees").status_code == 401


def test_missing_account_token_is_401_invalid_account_token(shared):
    with client(shared) as api:
        response = api.get("/hris/v1/employees")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid account token."}


def test_unknown_account_token_is_401(shared):
    with client(shared, token="not-a-token") as api:
        for path in ("/hris/v1/employees", "/hris/v1/sync-status", "/hris/v1/account-details"):
            response = api.get(path)
            assert response.status_code == 401, path
            assert response.json() == {"detail": "Invalid account token."}


def test_organisation_endpoints_need_only_the_api_key(shared):
    with client(shared) as api:
        assert api.get("/hris/v1/linked-accounts").status_code == 200
        assert api.get("/ats/v1/issues").status_code == 200


def test_token_of_another_category_is_404_on_model_endpoints(shared):
    with client(shared, account_of(shared, "ats")) as api:
        response = api.get("/hris/v1/employees")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_unknown_path_is_404_and_wrong_method_is_405(shared):
    with client(shared, account_of(shared, "hris")) as api:
        assert api.get("/hris/v1/no-such-thing").status_code == 404
        assert api.post("/hris/v1/employees").status_code == 405


def test_every_response_has_a_date_header(shared):
    with client(shared, account_of(shared, "hris")) as api:
        for response in (
            api.get("/hris/v1/employees"),
            api.get("/nope"),
            httpx.get(shared.base_url),
        ):
            assert "date" in response.headers
            assert response.headers["date"].endswith("GMT")


UNSUPPORTED = [
    "/hris/v1/employees/meta/post",
    "/accounting/v1/invoices/meta/patch/00000000-0000-4000-8000-000000000000",
    "/ats/v1/async-passthrough/00000000-0000-4000-8000-000000000000",
    "/crm/v1/contacts/remote-field-classes",
    "/nowhere/v1/at-all",
]


def test_authentication_comes_before_routing_even_for_unknown_paths(shared):
    statuses = {path: httpx.get(f"{shared.base_url}{path}").status_code for path in UNSUPPORTED}
    assert set(statuses.values()) == {401}, statuses


def test_endpoints_the_integration_does_not_support_are_404_once_authenticated(shared):
    with client(shared, account_of(shared, "hris")) as api:
        statuses = {path: api.get(path).status_code for path in UNSUPPORTED}
    assert set(statuses.values()) == {404}, statuses


CONFIGURATION_READS = [
    "available-actions",
    "linked-account-scopes",
    "default-scopes",
    "field-mappings",
    "remote-fields",
    "target-fields",
    "webhook-receivers",
    "audit-trail",
]


def test_configuration_reads_a_pipeline_may_make_are_implemented(shared):
    with client(shared, account_of(shared, "crm")) as api:
        statuses = {read: api.get(f"/crm/v1/{read}").status_code for read in CONFIGURATION_READS}
    assert set(statuses.values()) == {200}, statuses


def test_per_account_configuration_reads_need_the_account_token(shared):
    with client(shared) as api:
        response = api.get("/crm/v1/linked-account-scopes")
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid account token."})
