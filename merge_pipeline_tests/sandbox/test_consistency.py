"""Incremental fetches under concurrent change, and the virtual clock (skew, freeze)."""

import time
from collections import Counter
from email.utils import parsedate_to_datetime

from merge_pipeline_tests.sandbox.helpers import account_of, client, key

PAGE = 10


def _date_header(response) -> str:
    """The fetch-start time a client takes from Merge's ``Date`` header, as ISO-8601."""
    return parsedate_to_datetime(response.headers["date"]).isoformat().replace("+00:00", "Z")


def test_modified_after_paging_returns_each_record_once_despite_concurrent_changes(fresh):
    admin = fresh.admin
    account = admin.create_account("hris", records=1_500)
    initial = admin.records(account.id, "Employee").records
    since = sorted(r["modified_at"] for r in initial)[len(initial) // 4]
    params: dict[str, str | int] = {
        "modified_after": since,
        "include_deleted_data": "true",
        "page_size": PAGE,
    }
    fetched, fetch_start = [], None
    with client(fresh, account) as api:
        response = api.get("/hris/v1/employees", params=params)
        fetch_start = _date_header(response)
        admin.advance_clock(1)  # changes below happen strictly after the fetch began
        page_number = 0
        while True:
            page = response.json()
            fetched += page["results"]
            seen = {r["id"] for r in fetched}
            unseen = [r["id"] for r in initial if r["modified_at"] > since and r["id"] not in seen]
            if page_number % 2 == 0:  # change some already-seen and some not-yet-seen records
                admin.update_records(account.id, "Employee", list(seen)[:2] + unseen[:2])
                if unseen[2:3]:
                    admin.delete_records(account.id, "Employee", unseen[2:3])
                admin.mutate(account.id, "Employee", creates=1)
            page_number += 1
            if not page["next"]:
                break
            response = api.get("/hris/v1/employees", params={**params, "cursor": page["next"]})
        second = []
        query: dict[str, str | int] = {
            "modified_after": fetch_start,
            "include_deleted_data": "true",
            "page_size": 100,
        }
        while True:
            page = api.get("/hris/v1/employees", params=query).json()
            second += page["results"]
            if not page["next"]:
                break
            query["cursor"] = page["next"]

    truth = admin.records(account.id, "Employee").by_key()
    untouched = {k for k, r in truth.items() if since < r["modified_at"] <= fetch_start}
    counts = Counter(key(r) for r in fetched)
    assert page_number > 5
    assert all(counts[k] == 1 for k in untouched), "an unchanged record was skipped or repeated"
    touched = {k for k, r in truth.items() if r["modified_at"] > fetch_start}
    assert touched and touched == {key(r) for r in second}
    mirror: dict[str, dict] = {}
    for record in fetched + second:  # what a client ends up with, newest version wins
        if key(record) not in mirror or mirror[key(record)]["modified_at"] < record["modified_at"]:
            mirror[key(record)] = record
    expected = {k: r for k, r in truth.items() if r["modified_at"] > since}
    assert mirror == expected


def test_date_header_follows_a_skewed_clock(fresh):
    with client(fresh, account_of(fresh, "hris")) as api:
        real = parsedate_to_datetime(api.get("/hris/v1/employees").headers["date"])
        fresh.admin.skew_clock(600)
        ahead = parsedate_to_datetime(api.get("/hris/v1/employees").headers["date"])
        fresh.admin.skew_clock(-600)
        behind = parsedate_to_datetime(api.get("/hris/v1/employees").headers["date"])
    assert 595 <= (ahead - real).total_seconds() <= 610
    assert -605 <= (behind - real).total_seconds() <= -595


def test_changes_are_stamped_with_the_virtual_clock(fresh):
    account = account_of(fresh, "hris")
    fresh.admin.freeze_clock(at="2031-05-06T07:08:09Z")
    with client(fresh, account) as api:
        date = api.get("/hris/v1/employees").headers["date"]
        changed = fresh.admin.mutate(account.id, "Employee", updates=1)["updated"]["hris.Employee"][
            0
        ]
        record = api.get(f"/hris/v1/employees/{changed}").json()
    assert date == "Tue, 06 May 2031 07:08:09 GMT"
    assert record["modified_at"].startswith("2031-05-06T07:08:09")


def test_frozen_clock_can_be_advanced(fresh):
    fresh.admin.freeze_clock(at="2031-01-01T00:00:00Z")
    fresh.admin.advance_clock(3600)
    assert fresh.admin.clock()["now"].startswith("2031-01-01T01:00:00")
    with client(fresh, account_of(fresh, "hris")) as api:
        assert api.get("/hris/v1/employees").headers["date"] == "Wed, 01 Jan 2031 01:00:00 GMT"


def test_modified_at_never_goes_backwards_when_the_clock_does(fresh):
    account = account_of(fresh, "hris")
    first = fresh.admin.mutate(account.id, "Employee", updates=1)["updated"]["hris.Employee"][0]
    fresh.admin.skew_clock(-900)
    second = fresh.admin.mutate(account.id, "Employee", updates=1)["updated"]["hris.Employee"][0]
    truth = fresh.admin.records(account.id, "Employee").by_key()
    assert truth[second]["modified_at"] > truth[first]["modified_at"]


def test_background_changes_are_found_by_a_later_incremental_fetch(fresh):
    account = account_of(fresh, "hris")
    with client(fresh, account) as api:
        start = _date_header(api.get("/hris/v1/sync-status"))
        fresh.admin.advance_clock(1)
        fresh.admin.background_mutations(40, account_id=account.id)
        time.sleep(0.5)
        fresh.admin.background_mutations(0)
        changed = api.get(
            "/hris/v1/employments", params={"modified_after": start, "include_deleted_data": "true"}
        ).json()["results"]
        changed += api.get(
            "/hris/v1/employees", params={"modified_after": start, "include_deleted_data": "true"}
        ).json()["results"]
    assert changed and all(r["modified_at"] > start for r in changed)
