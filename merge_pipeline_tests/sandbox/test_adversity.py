"""Adversity switches: parsed from one string, set through the admin API, kind by default."""

import pytest

from merge_sandbox.adversity import Adversity, parse_adversity
from merge_sandbox.testing import running_sandbox


def test_every_switch_is_off_by_default() -> None:
    assert parse_adversity("") == Adversity()


def test_a_bare_name_switches_it_on_and_values_are_typed() -> None:
    parsed = parse_adversity("hard_deletes, visibility_lag_seconds=2.5,list_order=descending")
    assert (parsed.hard_deletes, parsed.visibility_lag_seconds, parsed.list_order) == (
        True,
        2.5,
        "descending",
    )


@pytest.mark.parametrize("spec", ["no_such_switch", "list_order=sideways"])
def test_unknown_switch_or_value_is_refused_by_name(spec: str) -> None:
    with pytest.raises(ValueError, match=spec.split("=", maxsplit=1)[0]):
        parse_adversity(spec)


@pytest.mark.integration
def test_admin_api_sets_and_resets_switches() -> None:
    with running_sandbox(accounts=1, records=10, adversity=Adversity()) as sandbox:
        sandbox.admin.set_adversity(delete_without_bump=True, list_order="unstable")
        switched = sandbox.admin.adversity()
        sandbox.admin.reset_adversity()
        assert (switched["delete_without_bump"], switched["list_order"]) == (True, "unstable")
        assert sandbox.admin.adversity() == Adversity().describe()
