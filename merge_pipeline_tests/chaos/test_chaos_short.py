"""The chaos harness, short: a few seeded scenarios that between them inject every fault kind.

Real parts throughout (sandbox over HTTP, PostgreSQL, sync subprocesses SIGKILLed, the receiver
process killed and restarted, a Dagster daemon and code server killed); after each scenario the
system converges and the oracle compares the mirror with Merge's ground truth column by column.
``make chaos`` runs the full size (200 scenarios).
"""

import pytest

from merge_pipeline_tests.chaos.faults import FAULT_KINDS
from merge_pipeline_tests.chaos.runner import run, short_plan

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: this module's seeds (the chaos harness owns 2001-2999)
SEED = 2901


def test_short_chaos_run_injects_every_fault_kind_and_finds_no_difference() -> None:
    report = run(short_plan(SEED), shrink_failures=False, echo=False)
    missing = report.missing_kinds(set(FAULT_KINDS))
    assert (report.differences, missing) == (0, []), report.text()
    assert report.records_compared > 0
