"""The deletion sweep rule: which syncs of an incremental model list everything."""

from datetime import UTC, datetime, timedelta

import pytest

from merge_pipeline.sync.sweep import needs_full_listing

NOW = datetime(2026, 12, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _decide(**overrides: object) -> bool:
    arguments: dict[str, object] = {
        "supports_modified_after": True,
        "forced": False,
        "has_cursor": True,
        "last_full_listing": NOW - timedelta(hours=1),
        "now": NOW,
        "sweep_interval": DAY,
    }
    arguments.update(overrides)
    return needs_full_listing(**arguments)  # type: ignore[arg-type]


def test_incremental_model_with_a_recent_full_listing_stays_incremental() -> None:
    assert not _decide()


@pytest.mark.parametrize(
    "overrides",
    [
        {"supports_modified_after": False},
        {"forced": True},
        {"has_cursor": False},
        {"last_full_listing": None},
        {"last_full_listing": NOW - DAY},
        {"sweep_interval": timedelta(0)},
    ],
    ids=["no-modified-after", "forced", "first-sync", "never-listed", "sweep-due", "every-sync"],
)
def test_full_listing_when_the_model_or_the_sweep_requires_it(overrides: dict[str, object]) -> None:
    assert _decide(**overrides)


def test_no_sweep_interval_never_sweeps() -> None:
    assert not _decide(sweep_interval=None, last_full_listing=None)
