from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from merge_pipeline.catalog import load_catalog
from merge_pipeline.merge.query import (
    checked_filters,
    cursor_from_next,
    fill_path,
    format_timestamp,
    list_params,
    page_size_for,
)

EMPLOYEE = load_catalog().model("hris.Employee")
PAYMENT_METHOD = load_catalog().model("accounting.PaymentMethod")


def _params(model=EMPLOYEE, **overrides):
    arguments = {
        "modified_after": None,
        "expand": (),
        "include_deleted_data": True,
        "include_remote_data": False,
        "page_size": 100,
        **overrides,
    }
    return list_params(model, **arguments)


def test_timestamp_is_utc_with_microseconds_and_z():
    value = datetime(2026, 3, 3, 12, 0, 1, 5, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(value) == "2026-03-03T10:00:01.000005Z"


def test_naive_timestamp_is_refused():
    with pytest.raises(ValueError, match="no timezone"):
        format_timestamp(datetime(2026, 1, 1))


@given(st.datetimes(timezones=st.timezones(), min_value=datetime(1971, 1, 2)))
def test_timestamp_round_trips_to_the_same_instant(value):
    assert datetime.fromisoformat(format_timestamp(value)) == value.astimezone(UTC)


def test_page_size_defaults_to_the_setting_and_is_capped_at_100():
    assert page_size_for(None, 50) == 50
    assert page_size_for(500, 50) == 100
    with pytest.raises(ValueError):
        page_size_for(0, 50)


def test_list_params_default_to_page_size_and_deleted_data():
    assert _params() == {"page_size": "100", "include_deleted_data": "true"}


def test_list_params_include_modified_after_expand_and_remote_data():
    params = _params(
        modified_after=datetime(2026, 1, 2, tzinfo=UTC),
        expand=("manager", "company", "manager"),
        include_remote_data=True,
    )
    assert params["modified_after"] == "2026-01-02T00:00:00.000000Z"
    assert params["expand"] == "manager,company"
    assert params["include_remote_data"] == "true"


def test_unknown_expand_value_is_a_clear_value_error():
    with pytest.raises(ValueError, match=r"hris\.Employee cannot expand 'boss' \(allowed: company"):
        _params(expand=("boss",))


def test_expand_given_as_a_string_is_refused():
    with pytest.raises(TypeError):
        _params(expand="manager")


def test_modified_after_refused_where_the_endpoint_lacks_it():
    assert not PAYMENT_METHOD.supports_modified_after
    with pytest.raises(ValueError, match="does not accept modified_after"):
        _params(PAYMENT_METHOD, modified_after=datetime(2026, 1, 1, tzinfo=UTC))


def test_only_parameters_the_endpoint_accepts_are_sent():
    for model in load_catalog():
        params = list_params(
            model,
            modified_after=None,
            expand=model.expand[:1],
            include_deleted_data=True,
            include_remote_data=True,
            page_size=10,
        )
        assert set(params) <= model.list_params, model.model_id


def test_fill_path_quotes_values_and_requires_exactly_the_placeholders():
    template = "/ats/v1/jobs/{job_id}/screening-questions"
    assert fill_path(template, {"job_id": "a/b c"}) == "/ats/v1/jobs/a%2Fb%20c/screening-questions"
    with pytest.raises(ValueError, match="missing"):
        fill_path(template, {})
    with pytest.raises(ValueError, match="unexpected"):
        fill_path("/hris/v1/employees", {"job_id": "1"})


def test_next_cursor_may_be_bare_or_a_url():
    assert cursor_from_next("cD0yMDIx") == "cD0yMDIx"
    assert cursor_from_next("https://api.merge.dev/api/hris/v1/employees?cursor=abc%3D") == "abc="
    assert cursor_from_next(None) is None
    with pytest.raises(ValueError):
        cursor_from_next(42)


def test_filters_are_checked_against_the_documented_names():
    assert checked_filters(
        {"status": "ONGOING", "include_muted": True},
        frozenset({"status", "include_muted"}),
        "/issues",
    ) == {"status": "ONGOING", "include_muted": "true"}
    with pytest.raises(ValueError, match="no filter stauts"):
        checked_filters({"stauts": "x"}, frozenset({"status"}), "/issues")
