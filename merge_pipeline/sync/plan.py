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
        raise PlanError(_nothing_to_sync(chosen, models))
    return plan


def _nothing_to_sync(chosen: Sequence[LinkedAccount], models: Sequence[CommonModel]) -> str:
    """Why no pair was left: the accounts' categories against the models' (say which is which)."""
    if not chosen:
        return "nothing to sync: no active linked account is stored (merge-pipeline accounts add)"
    categories = sorted({account.category for account in chosen})
    wanted = sorted({model.category for model in models})
    if len(chosen) == 1:
        who = f"linked account {chosen[0].id} is {categories[0].upper()}"
    else:
        who = f"the chosen accounts are {' and '.join(c.upper() for c in categories)}"
    names = ", ".join(model.model_id for model in models[:3]) + (", ..." if len(models) > 3 else "")
    kind = " and ".join(c.upper() for c in wanted)
    what = f"{names} {'belongs' if len(models) == 1 else 'belong'} to {kind}"
    listing = "; ".join(f"merge-pipeline models {c}" for c in categories)
    return f"nothing to sync: {who}, but {what} (list the models there are: {listing})"
