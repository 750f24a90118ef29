"""One mapping from sync failures to Dagster failures: permanent ones are not retried."""

import dagster as dg

from merge_pipeline.merge.errors import MergeAuthError, MergeBadRequest, MergeNotFound
from merge_pipeline.sync.runner import SyncOutcome

#: retrying cannot help: a person must fix a key, relink an account, or fix a request
PERMANENT_ERRORS: tuple[type[Exception], ...] = (MergeAuthError, MergeBadRequest, MergeNotFound)


def is_permanent(error_type: type[Exception] | None) -> bool:
    return error_type is not None and issubclass(error_type, PERMANENT_ERRORS)


def failed_models_failure(failed: list[SyncOutcome], attempted: int) -> dg.Failure:
    """A step failure naming each failed model and why; retried only if every error may pass."""
    lines = [f"{outcome.model_id}: {outcome.error}" for outcome in failed]
    return dg.Failure(
        description=f"{len(failed)} of {attempted} models failed to sync:\n" + "\n".join(lines),
        metadata={"failed_models": [outcome.model_id for outcome in failed]},
        allow_retries=not any(is_permanent(outcome.error_type) for outcome in failed),
    )
