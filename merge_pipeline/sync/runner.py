"""Many syncs at once: accounts in parallel (bounded), each account's models one after another.

Models of one account share that account's rate limit, so running them in sequence costs no
throughput; nested models (``/jobs/{job_id}/screening-questions``) run after their parents,
whose mirrored ids they need. Unless a caller passes its own ``client_factory``, clients take
their rate limit from the warehouse, shared with every other process syncing the same accounts.

Every pair gets an outcome: one model's failure (of any kind: Merge, database, a bug) never stops
the account's other models, except a credential Merge refuses or a Merge host nobody can reach
(the base URL's circuit breaker is open), which would fail them all the same way; one account's
failure never stops the other accounts (an unreachable host fails theirs at once, unsent).
Errors are reported as one safe line (:func:`merge_pipeline.sync.failure.describe_failure`).
"""

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import sqlalchemy as sa

from merge_pipeline.catalog import CommonModel
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.merge.errors import MergeAuthError, MergeUnreachable
from merge_pipeline.settings import Settings
from merge_pipeline.sync.engine import ModelSync, ProgressCallback, SyncOptions
from merge_pipeline.sync.failure import describe_failure
from merge_pipeline.sync.result import SyncResult
from merge_pipeline.warehouse.accounts import account_token
from merge_pipeline.warehouse.rate_limit import SharedRateLimits
from merge_pipeline.warehouse.vault import TokenVault

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncOutcome:
    """One pair's result, or the error that stopped it (already safe to show)."""

    linked_account_id: str
    model_id: str
    result: SyncResult | None = None
    error: str | None = None
    error_type: type[Exception] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


ClientFactory = Callable[[Settings], MergeClient]


def shared_limit_clients(engine: sa.Engine, settings: Settings) -> ClientFactory:
    """Clients whose per-account rate limit is shared through ``engine``'s database."""
    return partial(MergeClient, rate_limiters=SharedRateLimits.from_settings(engine, settings))


def dependency_order(models: Iterable[CommonModel]) -> list[CommonModel]:
    """Parents before the nested models that list under them; otherwise catalog order."""
    return sorted(models, key=lambda m: m.is_nested)


def sync_account_models(
    engine: sa.Engine,
    settings: Settings,
    vault: TokenVault,
    linked_account_id: str,
    models: Sequence[CommonModel],
    *,
    options: SyncOptions,
    sync_run_id: str | None = None,
    progress: ProgressCallback | None = None,
    client_factory: ClientFactory | None = None,
) -> list[SyncOutcome]:
    """Sync some models of one account in dependency order (see :func:`iter_account_syncs`)."""
    return list(
        iter_account_syncs(
            engine,
            settings,
            vault,
            linked_account_id,
            models,
            options=options,
            sync_run_id=sync_run_id,
            progress=progress,
            client_factory=client_factory,
        )
    )


def iter_account_syncs(
    engine: sa.Engine,
    settings: Settings,
    vault: TokenVault,
    linked_account_id: str,
    models: Sequence[CommonModel],
    *,
    options: SyncOptions,
    sync_run_id: str | None = None,
    progress: ProgressCallback | None = None,
    client_factory: ClientFactory | None = None,
) -> Iterator[SyncOutcome]:
    """Sync some models of one account in dependency order, yielding each outcome as it ends.

    Every model gets an outcome: one failure does not stop the rest, except an authentication
    failure, which would fail every model the same way (the rest are reported not synced).
    Yielding as we go lets Dagster report each model as soon as it is done.
    """
    ordered = dependency_order(models)
    password = engine.url.password
    secrets = [settings.api_key.get_secret_value(), *([str(password)] if password else [])]
    try:
        with engine.connect() as connection:
            token = account_token(connection, linked_account_id, vault)
        secrets.append(token.get_secret_value())
        credentials = AccountCredentials(linked_account_id, token)
    except Exception as error:  # every model gets this outcome instead
        reason = describe_failure(error, secrets)
        log.warning("cannot sync linked account %s: %s", linked_account_id, reason)
        for model in ordered:
            yield SyncOutcome(
                linked_account_id, model.model_id, error=reason, error_type=type(error)
            )
        return
    factory = client_factory or shared_limit_clients(engine, settings)
    with factory(settings) as client:
        for index, model in enumerate(ordered):
            try:
                result = ModelSync(
                    engine,
                    client,
                    credentials,
                    model,
                    options=options,
                    sync_run_id=sync_run_id,
                    progress=progress,
                ).run()
                yield SyncOutcome(linked_account_id, model.model_id, result=result)
            except Exception as error:  # reported as this pair's outcome
                reason = describe_failure(error, [*secrets, *client.secret_values(credentials)])
                # an unreachable host is the same line for every account: the caller says it once
                level = logging.INFO if isinstance(error, MergeUnreachable) else logging.WARNING
                log.log(
                    level, "sync of %s for %s failed: %s", model.model_id, linked_account_id, reason
                )
                yield SyncOutcome(
                    linked_account_id, model.model_id, error=reason, error_type=type(error)
                )
                if isinstance(error, MergeAuthError | MergeUnreachable):
                    skipped = f"not synced: {reason}"
                    for later in ordered[index + 1 :]:
                        yield SyncOutcome(
                            linked_account_id, later.model_id, error=skipped, error_type=type(error)
                        )
                    break


def sync_accounts(
    engine: sa.Engine,
    settings: Settings,
    vault: TokenVault,
    plan: Mapping[str, Sequence[CommonModel]],
    *,
    options: SyncOptions,
    sync_run_id: str | None = None,
    progress: ProgressCallback | None = None,
    client_factory: ClientFactory | None = None,
) -> list[SyncOutcome]:
    """Sync ``{linked_account_id: models}``, ``settings.sync_concurrency`` accounts at a time."""
    workers = max(1, min(settings.sync_concurrency, len(plan)))
    factory = client_factory or shared_limit_clients(engine, settings)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="merge-sync") as pool:
        futures = {
            account_id: pool.submit(
                sync_account_models,
                engine,
                settings,
                vault,
                account_id,
                models,
                options=options,
                sync_run_id=sync_run_id,
                progress=progress,
                client_factory=factory,
            )
            for account_id, models in plan.items()
        }
        outcomes: list[SyncOutcome] = []
        for account_id, future in futures.items():
            try:
                outcomes += future.result()
            except Exception as error:  # e.g. the client could not be built: report, go on
                reason = describe_failure(error, [settings.api_key.get_secret_value()])
                log.warning("cannot sync linked account %s: %s", account_id, reason)
                outcomes += [
                    SyncOutcome(account_id, m.model_id, error=reason) for m in plan[account_id]
                ]
        return outcomes
