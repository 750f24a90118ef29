"""How sync outcomes become Dagster step failures: which are retried, and how they read."""

from merge_pipeline.defs.failures import failed_models_failure
from merge_pipeline.merge.errors import MergeServerError
from merge_pipeline.sync.runner import SyncOutcome
from merge_pipeline.warehouse.accounts import UnknownLinkedAccount


def _failed(model_id: str, error_type: type[Exception]) -> SyncOutcome:
    return SyncOutcome("acct-1", model_id, error="it failed", error_type=error_type)


def test_an_account_without_a_stored_token_gives_one_line_saying_how_to_store_it() -> None:
    failed = [
        _failed("hris.Employee", UnknownLinkedAccount),
        _failed("hris.Team", UnknownLinkedAccount),
    ]
    failure = failed_models_failure(failed, attempted=2)
    assert (failure.description or "").startswith("No token is stored for linked account acct-1")


def test_an_account_without_a_stored_token_is_not_retried() -> None:
    failure = failed_models_failure([_failed("hris.Employee", UnknownLinkedAccount)], attempted=1)
    assert failure.allow_retries is False


def test_a_passing_error_alongside_keeps_the_per_model_lines() -> None:
    failed = [
        _failed("hris.Employee", UnknownLinkedAccount),
        _failed("hris.Team", MergeServerError),
    ]
    failure = failed_models_failure(failed, attempted=2)
    assert "hris.Team: it failed" in (failure.description or "")
