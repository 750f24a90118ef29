"""Which accounts are partitions: a failed listing removes nothing; tokens are never dropped."""

import pytest

from merge_pipeline.planning.partitions import PartitionPlan, plan_partitions


@pytest.mark.parametrize(
    ("listed", "stored", "existing", "in_flight", "expected"),
    [
        pytest.param(
            {"a", "b"}, {"b", "c"}, set(), set(),
            PartitionPlan(add=("a", "b", "c"), confirm_deleted=("c",)),
            id="listed and stored accounts both become partitions",
        ),
        pytest.param(
            None, {"c"}, {"a", "b"}, set(),
            PartitionPlan(add=("c",)),
            id="failed listing: stored accounts still added, nothing removed",
        ),
        pytest.param(
            set(), set(), {"a", "b"}, set(),
            PartitionPlan(delete=("a", "b")),
            id="an empty but successful listing removes tokenless partitions",
        ),
        pytest.param(
            {"a"}, {"a", "b"}, {"a", "b"}, set(),
            PartitionPlan(confirm_deleted=("b",)),
            id="a stored account missing from the listing is only a candidate",
        ),
        pytest.param(
            {"a"}, set(), {"a", "gone", "busy"}, {"busy"},
            PartitionPlan(delete=("gone",)),
            id="a partition with a run in flight is kept for now",
        ),
        pytest.param(
            {"a"}, {"a"}, {"a"}, set(),
            PartitionPlan(),
            id="nothing to do",
        ),
    ],
)  # fmt: skip
def test_plan_partitions(
    listed: set[str] | None,
    stored: set[str],
    existing: set[str],
    in_flight: set[str],
    expected: PartitionPlan,
) -> None:
    assert (
        plan_partitions(listed=listed, stored=stored, existing=existing, in_flight=in_flight)
        == expected
    )
