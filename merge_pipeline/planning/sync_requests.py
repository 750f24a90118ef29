"""Which reported Merge syncs become runs now, and how they are grouped into run requests.

A model is *pending* when Merge reported a finished sync of it that no run was requested for.
By default every pending model is due at once. An account in "wait for every model" mode
(``MERGE_PIPELINE_SYNC_WAIT_FOR_ALL_MODELS``) gets one run only once every model of its category
has reported this round: pending, or last seen FAILED or PAUSED (they will not report a
finished sync); DISABLED models are not waited for. Due models become one run request per
account (an account has one category), with a run key derived from the syncs it covers, so the
same syncs always give the same key.
"""

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

WAIT_FOR_ALL = "*"
#: statuses under which a model will not report a finished sync this round
_DONE_REPORTING = frozenset({"FAILED", "PAUSED"})


@dataclass(frozen=True, slots=True)
class PendingSync:
    """A finished Merge sync of one model that no run was requested for yet."""

    account_id: str
    category: str
    model_id: str
    sync_id: str
    #: when a webhook or the poll reported it (the oldest wait is requested first)
    reported_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """One run request: an account's due models (plus nested children) and its run key."""

    account_id: str
    category: str
    models: tuple[str, ...]
    syncs: tuple[PendingSync, ...]
    run_key: str


def waits_for_all(account_id: str, setting: Sequence[str]) -> bool:
    """Whether an account is in "wait for every model" mode (``*`` = every account)."""
    return WAIT_FOR_ALL in setting or account_id in setting


def due_syncs(
    pending: Sequence[PendingSync],
    *,
    category_models: Sequence[str],
    statuses: Mapping[str, str],
    wait_for_all: bool,
) -> list[PendingSync]:
    """The pending syncs of one account that are due now (all of them, or none yet)."""
    if not wait_for_all or not pending:
        return list(pending)
    reported = {sync.model_id for sync in pending}
    waited_for = [m for m in category_models if statuses.get(m) != "DISABLED"]
    if all(m in reported or statuses.get(m) in _DONE_REPORTING for m in waited_for):
        return list(pending)
    return []


def plan_runs(
    due: Iterable[PendingSync], children: Mapping[str, Sequence[str]], trigger: str
) -> list[PlannedRun]:
    """One run per account: its due models and their nested children, a deterministic key.

    A nested model (``ats.ScreeningQuestion``) is listed under its parent's rows, so a run that
    syncs the parent syncs its children too: the parent's new rows have children to list.
    """
    by_account: dict[tuple[str, str], list[PendingSync]] = {}
    for sync in due:
        by_account.setdefault((sync.account_id, sync.category), []).append(sync)
    runs = []
    for (account_id, category), syncs in sorted(by_account.items()):
        ordered = tuple(sorted(syncs, key=lambda s: s.model_id))
        models = {s.model_id for s in ordered}
        frontier = list(models)
        while frontier:  # children of children too
            for child in children.get(frontier.pop(), ()):
                if child not in models:
                    models.add(child)
                    frontier.append(child)
        digest = hashlib.sha256(
            "\n".join(f"{s.model_id}={s.sync_id}" for s in ordered).encode()
        ).hexdigest()[:20]
        runs.append(
            PlannedRun(
                account_id,
                category,
                tuple(sorted(models)),
                ordered,
                f"{trigger}:{account_id}:{digest}",
            )
        )
    return runs
