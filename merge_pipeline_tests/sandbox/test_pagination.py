"""Cursor pagination: page sizes, every record exactly once, previous pages, bad cursors."""

from collections import Counter

from merge_pipeline_tests.sandbox.helpers import account_of, client, fetch_all, key, pages


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


def test_bad_page_sizes_are_400(shared):
    with client(shared, account_of(shared, "hris")) as api:
        for value in ("0", "-1", "ten"):
            response = api.get("/hris/v1/employees", params={"page_size": value})
            assert response.status_code == 400, value
            assert "page_size" in response.json()["detail"]


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


def test_garbage_cursor_is_400(shared):
    with client(shared, account_of(shared, "hris")) as api:
        response = api.get("/hris/v1/employees", params={"cursor": "not a cursor"})
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid cursor."}


def test_cursor_reused_with_other_filters_is_400(shared):
    with client(shared, account_of(shared, "hris")) as api:
        cursor = api.get("/hris/v1/employees", params={"page_size": 5}).json()["next"]
        response = api.get(
            "/hris/v1/employees",
            params={"cursor": cursor, "modified_after": "2020-01-01T00:00:00Z"},
        )
    assert response.status_code == 400


def test_platform_lists_paginate_too(shared):
    with client(shared, account_of(shared, "accounting")) as api:
        statuses = [
            r for p in pages(api, "/accounting/v1/sync-status", page_size=7) for r in p["results"]
        ]
    assert len(statuses) == 30
    assert len({s["model_id"] for s in statuses}) == 30
