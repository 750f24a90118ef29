"""The nested policy, the deletion sweep and the lock wait reach a sync from the settings
(Dagster runs and the CLI build their options the same way); a bad value is named in one line."""

from datetime import timedelta

import pytest
from pydantic import SecretStr

from merge_pipeline.settings import SettingsError, load_settings
from merge_pipeline.sync.engine import SyncOptions
from merge_pipeline.sync.nested_policy import NestedPolicy
from merge_pipeline.warehouse.vault import generate_key

REQUIRED = {"api_key": SecretStr("k"), "_env_file": None}


def test_settings_choose_the_nested_policy_and_interval_of_a_sync() -> None:
    settings = load_settings(
        **REQUIRED,
        token_encryption_key=SecretStr(generate_key()),
        nested_policy="every-parent",
        nested_full_relist_hours=24,
    )
    options = SyncOptions.from_settings(settings, full=True)
    assert (options.nested_policy, options.nested_full_relist_every, options.full) == (
        NestedPolicy.EVERY_PARENT,
        timedelta(hours=24),
        True,
    )


@pytest.mark.parametrize(("sweep_s", "expected"), [(3600, timedelta(hours=1)), (None, None)])
def test_settings_choose_the_deletion_sweep_of_a_sync(
    sweep_s: float | None, expected: timedelta | None
) -> None:
    settings = load_settings(
        **REQUIRED, token_encryption_key=SecretStr(generate_key()), deletion_sweep_s=sweep_s
    )
    assert SyncOptions.from_settings(settings).deletion_sweep == expected


def test_settings_choose_how_long_a_sync_waits_for_the_pair_lock() -> None:
    settings = load_settings(
        **REQUIRED, token_encryption_key=SecretStr(generate_key()), lock_timeout_s=12.5
    )
    assert SyncOptions.from_settings(settings).lock_timeout_s == 12.5


def test_unknown_nested_policy_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERGE_PIPELINE_NESTED_POLICY", "some-parents")
    with pytest.raises(SettingsError, match="MERGE_PIPELINE_NESTED_POLICY") as raised:
        load_settings(**REQUIRED, token_encryption_key=SecretStr(generate_key()))
    assert "\n" not in str(raised.value)
