"""Sandbox fixtures: one shared read-mostly sandbox per session, fresh ones for tests that
change state (clock, faults, records)."""

from collections.abc import Iterator

import pytest

from merge_sandbox.testing import RunningSandbox, running_sandbox

#: One account per category, so every Common Model is served.
SHARED_ACCOUNTS = 10
SHARED_RECORDS = 15_000


@pytest.fixture(scope="session")
def shared() -> Iterator[RunningSandbox]:
    """Do not change this one's state (clock, faults, records): other tests read it."""
    with running_sandbox(accounts=SHARED_ACCOUNTS, records=SHARED_RECORDS, seed=7) as sb:
        yield sb


@pytest.fixture
def fresh() -> Iterator[RunningSandbox]:
    """A small private sandbox: an hris and an ats account."""
    with running_sandbox(accounts=2, records=600, seed=11, categories=["hris", "ats"]) as sb:
        yield sb
