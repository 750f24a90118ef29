"""The embedded Link flow: swap Merge Link's public token for the account token, and store it.

Merge hands a token over in two ways: the linked-account webhook, or the company's frontend gets
a ``public_token`` from Merge Link and its backend exchanges it (``/account-token/{public}``).
Both end in the same place: the account and its token, encrypted, in ``linked_accounts``.
"""

from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.vault import TokenVault


def exchange_and_store(
    client: MergeClient,
    engine: sa.Engine,
    vault: TokenVault,
    *,
    category: str,
    public_token: SecretStr,
) -> LinkedAccount:
    """Exchange ``public_token``, read who the account is, store it; raises ``MergeError``.

    ``/account-details`` fills in the end user (``end_user_origin_id`` is what a relink needs),
    which the exchange's answer does not carry.
    """
    exchanged = client.exchange_public_token(category, public_token.get_secret_value())
    token: SecretStr = exchanged["account_token"]
    account_id = exchanged.get("id")
    if not isinstance(account_id, str) or not account_id:
        raise ValueError("Merge's /account-token answer has no linked account id")
    details = client.account_details(AccountCredentials(account_id, token), category)
    account = account_from(account_id, category, exchanged.get("integration"), details)
    with engine.begin() as connection:
        save_account(connection, account, token, vault)
    return account


def account_from(
    account_id: str, category: str, integration: object, details: dict[str, Any]
) -> LinkedAccount:
    """The account as stored, from the exchange's ``integration`` and ``/account-details``."""
    name = integration.get("name") if isinstance(integration, dict) else None
    slug = integration.get("slug") if isinstance(integration, dict) else None
    return LinkedAccount(
        id=account_id,
        category=category,
        integration=_text(name) or _text(details.get("integration")),
        integration_slug=_text(slug) or _text(details.get("integration_slug")),
        end_user_origin_id=_text(details.get("end_user_origin_id")),
        end_user_organization_name=_text(details.get("end_user_organization_name")),
        end_user_email_address=_text(details.get("end_user_email_address")),
        status=_text(details.get("status")),
        account_type=_text(details.get("account_type")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
