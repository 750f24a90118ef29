"""Cursor pagination: page sizes, every record exactly once, previous pages, bad cursors."""

from collections import Counter

from merge_pipeline.catalog import load_catalog
from merge_pipeline_tests.sandbox.helpers import (
    account_of,
    client,
    concrete_list_path,
    fetch_all,
    key,
    pages,
)

CATALOG = load_catalog()


def test_default_page_size_is_30(shared):
    with client(shared, account_of(shared, "hris")) as api:
        page = api.get("/hris/v1/employees").json()
    assert set(page) == {"next", "previous", "results"}
    assert len(page["results"]) == 30
    assert page["previous"] is None
    assert isinstance(page["next"], str)


def test_page_size_above_100_is_clamped_to_100(shared):
    with client(shared, account_of(shared, "hris")) as api:
        assert (
            len(api.get("/hris/v1/employees", params={"page_size": 100}).json()["results"]) == 100
        )
        assert (
            len(api.get("/hris/v1/employees", params={"page_size": 500}).json()["results"]) == 100
        )


def test_page_size_above_100_is_400_when_configured(fresh):
    fresh.admin.update_config(page_size_over_max="error")
    with client(fresh, account_of(fresh, "hris")) as api:
        response = api.get("/hris/v1/employees", params={"page_size": 101})
    assert response.status_code == 400
    assert "page_size" in response.json()["detail"]


def test_page_sizes_that_are_not_positive_integers_mean_the_default_size(shared):
    """DRF's ``CursorPagination`` (Merge's) falls back to the default for 0, -1 or "ten"."""
    with client(shared, account_of(shared, "hris")) as api:
        sizes = {
            value: len(api.get("/hris/v1/employees", params={"page_size": value}).json()["results"])
            for value in ("0", "-1", "ten")
        }
    assert sizes == {"0": 30, "-1": 30, "ten": 30}


def test_bad_page_sizes_are_400_when_configured(fresh):
    fresh.admin.update_config(invalid_page_size="error")
    with client(fresh, account_of(fresh, "hris")) as api:
        statuses = {
            value: api.get("/hris/v1/employees", params={"page_size": value}).status_code
            for value in ("0", "-1", "ten")
        }
    assert statuses == {"0": 400, "-1": 400, "ten": 400}


def test_paging_returns_every_live_record_exactly_once(shared):
    account = account_of(shared, "hris")
    truth = shared.admin.records(account.id, "hris.Employee")
    with client(shared, account) as api:
        seen = [key(r) for r in fetch_all(api, "/hris/v1/employees", page_size=7)]
    assert Counter(seen).most_common(1)[0][1] == 1
    assert set(seen) == {key(r) for r in truth.live()}


def test_results_are_ordered_by_modified_at_then_id(shared):
    with client(shared, account_of(shared, "ats")) as api:
        records = fetch_all(api, "/ats/v1/candidates", page_size=50)
    order = [(r["modified_at"], r["id"]) for r in records]
    assert order == sorted(order)


def test_previous_cursor_returns_the_previous_page(shared):
    with client(shared, account_of(shared, "hris")) as api:
        first = api.get("/hris/v1/employees", params={"page_size": 5}).json()
        second = api.get(
            "/hris/v1/employees", params={"page_size": 5, "cursor": first["next"]}
        ).json()
        back = api.get(
            "/hris/v1/employees", params={"page_size": 5, "cursor": second["previous"]}
        ).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    assert back["next"] is not None


def test_cursor_is_opaque_base64(shared):
    with client(shared, account_of(shared, "hris")) as api:
        cursor = api.get("/hris/v1/employees").json()["next"]
    assert "modified" not in cursor
    assert cursor.rstrip("=").replace("+", "").replace("/", "").isalnum()


def test_garbage_cursor_is_404_invalid_cursor(shared):
    """DRF answers a cursor it cannot decode with 404 "Invalid cursor"."""
    with client(shared, account_of(shared, "hris")) as api:
        response = api.get("/hris/v1/employees", params={"cursor": "not a cursor"})
    assert (response.status_code, response.json()) == (404, {"detail": "Invalid cursor"})


#: The cursor in Merge's documents: base64 of DRF's ``p=2021-01-06 03:24:53.434326+00:00``.
MERGE_EXAMPLE_CURSOR = "cD0yMDIxLTAxLTA2KzAzJTNBMjQlM0E1My40MzQzMjYlMkIwMCUzQTAw"


def test_merge_example_cursor_is_a_position_on_every_list_endpoint(shared):
    """A cursor the sandbox did not issue is read as DRF reads it: records after its moment."""
    statuses = {}
    for account in shared.accounts[:10]:
        with client(shared, account) as api:
            for model in CATALOG.category(account.category):
                path = concrete_list_path(model, api)
                response = api.get(path, params={"cursor": MERGE_EXAMPLE_CURSOR})
                statuses[model.model_id] = response.status_code
    assert set(statuses.values()) == {200}, statuses


def test_merge_example_cursor_starts_after_its_moment(shared):
    with client(shared, account_of(shared, "hris")) as api:
        everything = fetch_all(api, "/hris/v1/employees", page_size=100)
        after = fetch_all(api, "/hris/v1/employees", page_size=100, cursor=MERGE_EXAMPLE_CURSOR)
    expected = [r["id"] for r in everything if r["modified_at"] > "2021-01-06T03:24:53.434326Z"]
    assert [r["id"] for r in after] == expected


def test_cursor_reused_with_other_filters_applies_its_position_to_them(shared):
    """DRF binds a cursor to no filter: a stale cursor is a position under the new filters."""
    with client(shared, account_of(shared, "hris")) as api:
        first = api.get("/hris/v1/employees", params={"page_size": 5}).json()
        active = {"employment_status": "ACTIVE", "page_size": 100}
        after = fetch_all(api, "/hris/v1/employees", cursor=first["next"], **active)
        every_active = fetch_all(api, "/hris/v1/employees", **active)
    last = first["results"][-1]
    boundary = (last["modified_at"], last["id"])
    assert [r["id"] for r in after] == [
        r["id"] for r in every_active if (r["modified_at"], r["id"]) > boundary
    ]


def test_platform_lists_paginate_too(shared):
    with client(shared, account_of(shared, "accounting")) as api:
        statuses = [
            r for p in pages(api, "/accounting/v1/sync-status", page_size=7) for r in p["results"]
        ]
    assert len(statuses) == 30
    assert len({s["model_id"] for s in statuses}) == 30
