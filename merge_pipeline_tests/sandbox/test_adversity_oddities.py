"""Record-level switches and ``next_cycles`` as a client sees them over HTTP."""

from datetime import datetime

import pytest

from merge_pipeline_tests.sandbox.helpers import client, fetch_all
from merge_sandbox.adversity import Adversity
from merge_sandbox.oddities import EXTRA_FIELD
from merge_sandbox.testing import running_sandbox

pytestmark = pytest.mark.integration
EMPLOYEES = "/hris/v1/employees"


def test_a_record_renders_the_same_in_listings_and_retrieves() -> None:
    switches = Adversity(nul_characters=True, odd_timestamps=True, extra_fields=True)
    with (
        running_sandbox(accounts=1, records=300, adversity=switches, categories=["hris"]) as sb,
        client(sb, sb.accounts[0]) as api,
    ):
        listed = fetch_all(api, EMPLOYEES)
        odd = next(r for r in listed if EXTRA_FIELD in r)
        assert api.get(f"{EMPLOYEES}/{odd['id']}").json() == odd


def test_odd_timestamps_name_the_same_instants_as_plain_ones() -> None:
    with (
        running_sandbox(accounts=1, records=300, categories=["hris"]) as sb,
        client(sb, sb.accounts[0]) as api,
    ):
        kind = {r["id"]: r["created_at"] for r in fetch_all(api, EMPLOYEES)}
        sb.admin.set_adversity(odd_timestamps=True)
        strange = {r["id"]: r["created_at"] for r in fetch_all(api, EMPLOYEES)}
    differing = [k for k in kind if kind[k] != strange[k]]
    assert differing, "the switch changed nothing"
    moved = [
        k
        for k in differing
        if datetime.fromisoformat(strange[k])
        != datetime.fromisoformat(kind[k]).replace(
            microsecond=0 if "." not in strange[k] else datetime.fromisoformat(kind[k]).microsecond
        )
    ]
    assert moved == []  # the same instant (whole seconds: the same instant without a fraction)


def test_next_cycles_once_per_listing_then_the_listing_ends() -> None:
    switches = Adversity(next_cycles=True)
    with (
        running_sandbox(accounts=1, records=300, adversity=switches, categories=["hris"]) as sb,
        client(sb, sb.accounts[0]) as api,
    ):
        first = [r["id"] for r in fetch_all(api, EMPLOYEES, page_size=10)]
        again = [r["id"] for r in fetch_all(api, EMPLOYEES, page_size=10)]
    assert len(first) == 2 * len(set(first)) - 10  # the last page led back to the second, once
    assert sorted(again) == sorted(set(first))  # read again, the same listing simply ends
