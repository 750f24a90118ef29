"""The sandbox's deletion and listing switches behave as their documentation says, and its
ground truth stays the truth Merge holds."""

from collections.abc import Iterator

import pytest

from merge_pipeline_tests.sandbox.helpers import client, fetch_all, pages
from merge_sandbox.admin import AccountInfo
from merge_sandbox.adversity import Adversity
from merge_sandbox.testing import RunningSandbox, running_sandbox
from merge_sandbox.timefmt import parse_iso

EMPLOYEES = "/hris/v1/employees"
PAYMENT_TERMS = "/accounting/v1/payment-terms"


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(accounts=0, records=0, adversity=Adversity()) as running:
        yield running


@pytest.fixture
def hris(sandbox: RunningSandbox) -> AccountInfo:
    return sandbox.admin.create_account("hris", records=300)


def _first_employee(sandbox: RunningSandbox, account: AccountInfo) -> dict[str, object]:
    return sandbox.admin.records(account.id, "hris.Employee").live()[0]


def test_hard_deleted_record_vanishes_from_listings_retrieve_and_ground_truth(
    sandbox: RunningSandbox, hris: AccountInfo
) -> None:
    sandbox.admin.set_adversity(hard_deletes=True)
    victim = str(_first_employee(sandbox, hris)["id"])
    sandbox.admin.delete_records(hris.id, "hris.Employee", [victim])
    with client(sandbox, hris) as api:
        listed = {r["id"] for r in fetch_all(api, EMPLOYEES, include_deleted_data="true")}
        retrieved = api.get(f"{EMPLOYEES}/{victim}").status_code
    truth = sandbox.admin.records(hris.id, "hris.Employee").by_key()
    assert (victim in listed, retrieved, victim in truth) == (False, 404, False)


def test_deletion_without_bump_keeps_modified_at(
    sandbox: RunningSandbox, hris: AccountInfo
) -> None:
    sandbox.admin.set_adversity(delete_without_bump=True)
    before = _first_employee(sandbox, hris)
    sandbox.admin.delete_records(hris.id, "hris.Employee", [str(before["id"])])
    after = sandbox.admin.records(hris.id, "hris.Employee").by_key()[str(before["id"])]
    assert (after["remote_was_deleted"], after["modified_at"]) == (True, before["modified_at"])


def test_visibility_lag_stamps_a_change_that_long_before_it_is_readable(
    sandbox: RunningSandbox, hris: AccountInfo
) -> None:
    sandbox.admin.set_adversity(visibility_lag_seconds=90)
    now = parse_iso(sandbox.admin.clock()["now"])
    changed = sandbox.admin.mutate(hris.id, "hris.Employee", updates=1)["updated"]
    [record_id] = changed["hris.Employee"]
    record = sandbox.admin.records(hris.id, "hris.Employee").by_key()[record_id]
    lag_s = (now - parse_iso(str(record["modified_at"]))) / 1_000_000
    assert 89 <= lag_s <= 91


@pytest.mark.parametrize("order", ["descending", "unstable"])
def test_every_list_order_still_returns_every_record_once(
    sandbox: RunningSandbox, hris: AccountInfo, order: str
) -> None:
    sandbox.admin.set_adversity(list_order=order)
    with client(sandbox, hris) as api:
        listed = [r["id"] for r in fetch_all(api, EMPLOYEES, page_size=7)]
    truth = [r["id"] for r in sandbox.admin.records(hris.id, "hris.Employee").live()]
    assert (len(listed), set(listed)) == (len(truth), set(truth))


def test_descending_order_serves_newest_first(sandbox: RunningSandbox, hris: AccountInfo) -> None:
    sandbox.admin.set_adversity(list_order="descending")
    with client(sandbox, hris) as api:
        stamps = [r["modified_at"] for r in fetch_all(api, EMPLOYEES, page_size=7)]
    assert [parse_iso(s) for s in stamps] == sorted((parse_iso(s) for s in stamps), reverse=True)


def test_every_second_full_listing_of_a_full_refresh_model_ends_early(
    sandbox: RunningSandbox,
) -> None:
    account = sandbox.admin.create_account("accounting", records=3000)
    sandbox.admin.set_adversity(short_listings=True)
    with client(sandbox, account) as api:
        sizes = [
            sum(len(p["results"]) for p in pages(api, PAYMENT_TERMS, page_size=100))
            for _ in range(3)
        ]
    assert sizes[0] == sizes[2] > sizes[1]


def test_model_without_deleted_flag_loses_records_only_with_unflagged_deletes(
    sandbox: RunningSandbox,
) -> None:
    account = sandbox.admin.create_account("accounting", records=3000)
    model = "accounting.PaymentTerm"
    [first, second] = [r["id"] for r in sandbox.admin.records(account.id, model).live()[:2]]
    kept = sandbox.admin.delete_records(account.id, model, [first])["deleted"][model]
    sandbox.admin.set_adversity(unflagged_deletes=True)
    gone = sandbox.admin.delete_records(account.id, model, [second])["deleted"][model]
    truth = sandbox.admin.records(account.id, model).by_key()
    assert (kept, gone, first in truth, second in truth) == ([], [second], True, False)
