"""Which (account, model) pairs a request names (pure): for the CLI and, later, Dagster."""

from collections.abc import Sequence

from merge_pipeline.catalog import Catalog, CommonModel
from merge_pipeline.warehouse.accounts import LinkedAccount


class PlanError(ValueError):
    """The request names something that does not exist or does not fit together."""


def plan_syncs(
    catalog: Catalog,
    accounts: Sequence[LinkedAccount],
    *,
    account_ids: Sequence[str] = (),
    model_ids: Sequence[str] = (),
    category: str | None = None,
    expand: Sequence[str] = (),
) -> dict[str, list[CommonModel]]:
    """``{account id: models}``; each account syncs only models of its own category."""
    by_id = {account.id: account for account in accounts}
    unknown = [a for a in account_ids if a not in by_id]
    if unknown:
        raise PlanError(f"unknown linked account(s): {', '.join(unknown)}")
    chosen = [by_id[a] for a in account_ids] if account_ids else list(accounts)
    try:
        models = [catalog.model(model_id) for model_id in model_ids]
        if category is not None:
            models += list(catalog.category(category))
    except KeyError as error:
        raise PlanError(str(error.args[0])) from None
    if expand:
        if len(models) != 1:
            raise PlanError("--expand needs exactly one --model")
        bad = [value for value in expand if value not in models[0].expand]
        if bad:
            raise PlanError(
                f"{models[0].model_id} cannot expand {', '.join(bad)} "
                f"(it can: {', '.join(models[0].expand) or 'nothing'})"
            )
    plan: dict[str, list[CommonModel]] = {}
    for account in chosen:
        wanted = models or list(catalog.category(account.category))
        mine = [m for m in wanted if m.category == account.category]
        if mine:
            plan[account.id] = mine
    if not plan:
        raise PlanError("nothing to sync: no chosen account has a model of the chosen category")
    return plan
