"""One mapping from sync failures to Dagster failures: permanent ones are not retried."""

import dagster as dg

from merge_pipeline.merge.errors import (
    MergeAuthError,
    MergeBadRequest,
    MergeNotFound,
    MergeUnreachable,
)
from merge_pipeline.sync.runner import SyncOutcome
from merge_pipeline.warehouse.accounts import UnknownLinkedAccount

#: retrying cannot help: a person must fix a key, store a token, relink an account, or fix a
#: request
PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    MergeAuthError,
    MergeBadRequest,
    MergeNotFound,
    UnknownLinkedAccount,
)


def is_permanent(error_type: type[Exception] | None) -> bool:
    return error_type is not None and issubclass(error_type, PERMANENT_ERRORS)


def failed_models_failure(failed: list[SyncOutcome], attempted: int) -> dg.Failure:
    """A step failure naming each failed model and why; retried only if every error may pass.

    When no model could start because the account's token is not stored, or Merge's host is
    unreachable, one line says so instead of repeating the same reason per model.
    """
    if failed and all(_is(outcome.error_type, UnknownLinkedAccount) for outcome in failed):
        return unknown_account_failure(failed[0].linked_account_id)
    unreachable = [o for o in failed if _is(o.error_type, MergeUnreachable)]
    if unreachable:
        return dg.Failure(
            description=f"{unreachable[0].error}; {len(failed)} of {attempted} models not synced "
            "(the run may be retried once Merge answers again)",
            metadata={"failed_models": [outcome.model_id for outcome in failed]},
        )
    lines = [f"{outcome.model_id}: {outcome.error}" for outcome in failed]
    return dg.Failure(
        description=f"{len(failed)} of {attempted} models failed to sync:\n" + "\n".join(lines),
        metadata={"failed_models": [outcome.model_id for outcome in failed]},
        allow_retries=not any(is_permanent(outcome.error_type) for outcome in failed),
    )


def unknown_account_failure(account_id: str) -> dg.Failure:
    """The account is listed by Merge but its token was never stored here."""
    return dg.Failure(
        description=f"No token is stored for linked account {account_id}: store it "
        "with `merge-pipeline accounts add` (or let the linked-account webhook do it).",
        allow_retries=False,
    )


def _is(error_type: type[Exception] | None, kind: type[Exception]) -> bool:
    return error_type is not None and issubclass(error_type, kind)
