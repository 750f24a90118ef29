"""Standard and model-specific list filters."""

import pytest

from merge_pipeline_tests.sandbox.helpers import account_of, client, fetch_all, key
from merge_sandbox.filters import TEXT_KEYS, rule_for
from merge_sandbox.schema import load_schema
from merge_sandbox.testing import running_sandbox


def _middle_timestamp(records, field):
    values = sorted(r[field] for r in records)
    return values[len(values) // 2]


def test_modified_after_and_before_are_strict_bounds(shared):
    with client(shared, account_of(shared, "hris")) as api:
        everything = fetch_all(api, "/hris/v1/employees", page_size=100)
        pivot = _middle_timestamp(everything, "modified_at")
        after = fetch_all(api, "/hris/v1/employees", page_size=100, modified_after=pivot)
        before = fetch_all(api, "/hris/v1/employees", page_size=100, modified_before=pivot)
    assert all(r["modified_at"] > pivot for r in after)
    assert all(r["modified_at"] < pivot for r in before)
    assert len(after) + len(before) + 1 == len(everything)


def test_created_after_and_before_filter_on_created_at(shared):
    with client(shared, account_of(shared, "hris")) as api:
        everything = fetch_all(api, "/hris/v1/employees", page_size=100)
        pivot = _middle_timestamp(everything, "created_at")
        after = fetch_all(api, "/hris/v1/employees", page_size=100, created_after=pivot)
        before = fetch_all(api, "/hris/v1/employees", page_size=100, created_before=pivot)
    assert after and all(r["created_at"] > pivot for r in after)
    assert before and all(r["created_at"] < pivot for r in before)


def test_remote_id_filter_returns_that_record(shared):
    with client(shared, account_of(shared, "ats")) as api:
        wanted = fetch_all(api, "/ats/v1/candidates", page_size=100)[17]
        found = api.get("/ats/v1/candidates", params={"remote_id": wanted["remote_id"]}).json()
    assert [r["id"] for r in found["results"]] == [wanted["id"]]


def test_include_remote_data_fills_remote_data(shared):
    with client(shared, account_of(shared, "hris")) as api:
        plain = api.get("/hris/v1/employees", params={"page_size": 3}).json()["results"]
        rich = api.get(
            "/hris/v1/employees", params={"page_size": 3, "include_remote_data": "true"}
        ).json()["results"]
    assert all(r["remote_data"] is None for r in plain)
    assert all(isinstance(r["remote_data"], list) and r["remote_data"][0]["path"] for r in rich)


def test_include_shell_data_is_accepted(shared):
    with client(shared, account_of(shared, "hris")) as api:
        response = api.get("/hris/v1/employees", params={"include_shell_data": "true"})
    assert response.status_code == 200


def test_enum_filter_matches_only_that_value(shared):
    with client(shared, account_of(shared, "hris")) as api:
        active = fetch_all(api, "/hris/v1/employees", page_size=100, employment_status="ACTIVE")
    assert active and {r["employment_status"] for r in active} == {"ACTIVE"}


def test_reference_id_filter_matches_the_reference(shared):
    with client(shared, account_of(shared, "hris")) as api:
        company = next(
            r["company"]
            for r in fetch_all(api, "/hris/v1/employees", page_size=100)
            if r["company"]
        )
        matching = fetch_all(api, "/hris/v1/employees", page_size=100, company_id=company)
    assert matching and {r["company"] for r in matching} == {company}


def test_date_filter_on_a_model_field(shared):
    with client(shared, account_of(shared, "hris")) as api:
        everyone = fetch_all(api, "/hris/v1/employees", page_size=100)
        dates = sorted(r["start_date"] for r in everyone if r["start_date"])
        middle = dates[len(dates) // 2]  # data-relative: the data's dates depend on its epoch
        started = fetch_all(api, "/hris/v1/employees", page_size=100, started_after=middle)
    assert started and all(r["start_date"] > middle for r in started)


def test_unknown_parameters_are_ignored(shared):
    with client(shared, account_of(shared, "hris")) as api:
        plain = api.get("/hris/v1/employees").json()
        noisy = api.get("/hris/v1/employees", params={"colour": "blue", "job_id": "x"}).json()
    assert [key(r) for r in plain["results"]] == [key(r) for r in noisy["results"]]


def test_parameters_the_model_does_not_list_are_ignored(shared):
    # accounting-periods has no modified_after in the catalog: it must not filter.
    with client(shared, account_of(shared, "accounting")) as api:
        plain = api.get("/accounting/v1/accounting-periods").json()["results"]
        filtered = api.get(
            "/accounting/v1/accounting-periods", params={"modified_after": "2100-01-01T00:00:00Z"}
        ).json()["results"]
    assert plain and len(plain) == len(filtered)


def test_malformed_values_are_400_with_a_detail(shared):
    with client(shared, account_of(shared, "hris")) as api:
        for params in (
            {"modified_after": "yesterday"},
            {"created_before": "2024-13-45"},
            {"include_deleted_data": "maybe"},
            {"expand": "company,nonsense"},
            {"expand": "company, manager"},
        ):
            response = api.get("/hris/v1/employees", params=params)
            assert response.status_code == 400, params
            assert isinstance(response.json()["detail"], str)


def _filter_cases():
    schema = load_schema()
    for spec in schema:
        for param in sorted(spec.model.list_params):
            rule = rule_for(spec, param)
            if rule is not None:
                yield pytest.param(spec.model_id, rule, id=f"{spec.model_id}-{param}")


def _texts(value):
    if isinstance(value, dict):
        return [str(v) for k, v in value.items() if k in TEXT_KEYS]
    return [] if value is None else [str(value)]


def _sample_value(rule, record):
    value = record.get(rule.field)
    if value is None or value == []:
        return None
    if rule.kind == "bool":
        return str(value).lower()
    if rule.kind == "member":
        texts = [t for item in value for t in _texts(item)]
        return texts[0] if texts else None
    return str(value)


def _satisfies(rule, record, wanted):
    value = record.get(rule.field)
    if rule.kind == "bool":
        return str(value).lower() == wanted
    if rule.kind in ("after", "before"):
        return value is not None and (value > wanted if rule.kind == "after" else value < wanted)
    if rule.kind == "member":
        return any(wanted == t for item in value or [] for t in _texts(item))
    return str(value) == wanted


@pytest.fixture(scope="module")
def small():
    """Filters without an index scan whole tables: keep them small (one account per category)."""
    with running_sandbox(accounts=10, records=2_500, seed=3) as sb:
        yield sb


@pytest.mark.parametrize(("model_id", "rule"), list(_filter_cases()))
def test_every_model_specific_filter_selects_matching_records(small, model_id, rule):
    model = load_schema().spec(model_id).model
    with client(small, account_of(small, model.category)) as api:
        path = model.list_path
        if model.path_params:
            parent = load_schema().spec(f"{model.category}.{model.path_params[0].model}").model
            parent_id = api.get(parent.list_path).json()["results"][0]["id"]
            path = path.replace("{" + model.path_params[0].name + "}", parent_id)
        sample = api.get(path, params={"page_size": 40}).json()["results"]
        wanted = next((v for v in (_sample_value(rule, r) for r in sample) if v is not None), None)
        if wanted is None:
            pytest.skip(f"no record has a value for {rule.field}")
        response = api.get(path, params={rule.param: wanted, "page_size": 40})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert all(_satisfies(rule, r, wanted) for r in results), rule
    if rule.kind not in ("after", "before"):
        assert results, rule


def test_enum_filter_value_outside_the_enum_is_400(shared):
    with client(shared, account_of(shared, "hris")) as api:
        response = api.get("/hris/v1/employees", params={"employment_status": "NOPE"})
    assert response.status_code == 400
    assert "employment_status" in response.json()["detail"]


def test_empty_filter_value_filters_nothing(shared):
    with client(shared, account_of(shared, "hris")) as api:
        everything = api.get("/hris/v1/employees", params={"page_size": 100}).json()
        empty = api.get(
            "/hris/v1/employees", params={"page_size": 100, "employment_status": ""}
        ).json()
    assert empty == everything


def test_show_enum_origins_naming_a_field_that_is_no_enum_is_400(shared):
    with client(shared, account_of(shared, "hris")) as api:
        response = api.get("/hris/v1/employees", params={"show_enum_origins": "first_name"})
    assert response.status_code == 400
