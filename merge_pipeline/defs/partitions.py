"""One dynamic partitions definition per category: its linked accounts.

Per category rather than one for all, because an account belongs to exactly one category and
its partition should appear only on that category's assets (and an account's id is its key).
"""

import dagster as dg

from merge_pipeline.catalog import load_catalog


def partitions_name(category: str) -> str:
    return f"{category}_accounts"


ACCOUNT_PARTITIONS: dict[str, dg.DynamicPartitionsDefinition] = {
    category: dg.DynamicPartitionsDefinition(name=partitions_name(category))
    for category in load_catalog().categories
}
