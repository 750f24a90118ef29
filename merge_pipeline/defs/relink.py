"""The ``relink_account`` job: a Merge Link for an account that needs relinking, from the UI.

Launch it with the account's id in its config (no secret: the token stays in the vault). It asks
Merge's ``/link-token`` for the account's existing end user (``merge_pipeline.relinking``) and
shows the link to send in the log and the step's output metadata. Once the end user finishes
Link, Merge marks the account COMPLETE; the linked-account webhook or the ``account_health``
sensor sees it, syncs resume by themselves and the checks turn green.
"""

import dagster as dg
from pydantic import Field

from merge_pipeline.defs.resources import (
    MergeApiResource,
    TokenVaultResource,
    WarehouseResource,
    run_settings,
)
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.errors import MergeError
from merge_pipeline.relinking import RelinkRefused, request_relink
from merge_pipeline.settings import load_automation_settings
from merge_pipeline.warehouse.rate_limit import SharedRateLimits


class RelinkConfig(dg.Config):
    account_id: str = Field(description="The linked account to relink (Merge's id).")
    link_expiry_mins: int | None = Field(
        default=None, description="Link validity; unset = MERGE_PIPELINE_RELINK_LINK_EXPIRY_MINS."
    )
    magic_link: bool | None = Field(
        default=None,
        description="Ask for a Magic Link URL; unset = MERGE_PIPELINE_RELINK_MAGIC_LINK.",
    )


@dg.op(description="Asks Merge for a relink link for the account and shows it.")
def request_relink_link(
    context: dg.OpExecutionContext,
    config: RelinkConfig,
    merge: MergeApiResource,
    warehouse: WarehouseResource,
    token_vault: TokenVaultResource,
) -> dg.Output[str]:
    automation = load_automation_settings()
    settings = run_settings(merge, warehouse, token_vault)
    engine = warehouse.engine()
    try:
        with (
            MergeClient(
                settings, rate_limiters=SharedRateLimits.from_settings(engine, settings)
            ) as client,
            engine.connect() as connection,
        ):
            link = request_relink(
                client,
                connection,
                token_vault.vault(),
                config.account_id,
                expiry_mins=config.link_expiry_mins or automation.relink_link_expiry_mins,
                magic_link=automation.relink_magic_link
                if config.magic_link is None
                else config.magic_link,
            )
    except (RelinkRefused, MergeError) as error:
        raise dg.Failure(
            description=f"relink not requested: {error}", allow_retries=False
        ) from None
    context.log.info(link.instructions())
    return dg.Output(
        link.to_send,
        metadata={
            "account_id": link.account_id,
            "category": link.category,
            "end_user_origin_id": link.end_user_origin_id,
            "status": link.status or "unknown",
            "open_issues": link.issues or "none",
            "link_to_send": dg.MetadataValue.url(link.magic_link_url)
            if link.magic_link_url
            else dg.MetadataValue.text(link.link_token),
            "expiry_mins": link.expiry_mins,
            "next": dg.MetadataValue.text(link.instructions()),
        },
    )


@dg.job(
    name="relink_account",
    description="Get a Merge Link to send the end user of an account that needs relinking "
    "(config: account_id). Syncs resume by themselves once Merge says the account is COMPLETE.",
    executor_def=dg.in_process_executor,
)
def relink_account() -> None:
    request_relink_link()
