"""Relinking an account: a new Merge Link for the same end user (CONTRACT §5, ``/link-token``).

Merge relinks when Link is opened with a link token made for the account's existing
``end_user_origin_id``; the account keeps its id and token, Merge syncs again, and the
linked-account webhook (or the health sensor) sees it COMPLETE, which lifts the hold on runs.
Used by the ``relink_account`` job and ``merge-pipeline accounts relink``.
"""

from dataclasses import dataclass

import sqlalchemy as sa

from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.merge.errors import MergeResponseError
from merge_pipeline.warehouse.account_health import open_issues, record_health
from merge_pipeline.warehouse.accounts import LinkedAccount, account_token, list_accounts
from merge_pipeline.warehouse.vault import TokenVault

#: Merge's ceiling for a link token without a Magic Link (CONTRACT §5)
MAX_EXPIRY_WITHOUT_MAGIC_LINK = 720


class RelinkRefused(ValueError):
    """The relink cannot be asked for (unknown account, end user unknown); one line says why."""


@dataclass(frozen=True, slots=True)
class RelinkLink:
    """What the operator sends the end user: the Magic Link URL, else the link token."""

    account_id: str
    category: str
    end_user_origin_id: str
    link_token: str
    magic_link_url: str | None
    expiry_mins: int
    status: str | None
    issues: str

    @property
    def to_send(self) -> str:
        return self.magic_link_url or self.link_token

    def instructions(self) -> str:
        if self.magic_link_url:
            return (
                f"send the end user this Merge Link to relink {self.account_id} (valid "
                f"{self.expiry_mins} min): {self.magic_link_url}"
            )
        return (
            f"Merge returned no Magic Link URL: open Merge Link in your app with link token "
            f"{self.link_token} (valid {self.expiry_mins} min) for the end user "
            f"{self.end_user_origin_id}"
        )


def request_relink(
    client: MergeClient,
    connection: sa.Connection,
    vault: TokenVault,
    account_id: str,
    *,
    expiry_mins: int,
    magic_link: bool,
) -> RelinkLink:
    """Ask Merge for a relink link for a stored account, naming its existing end user."""
    account = _stored(connection, account_id)
    if not (
        account.end_user_origin_id
        and account.end_user_organization_name
        and account.end_user_email_address
    ):
        account = _refresh_end_user(client, connection, vault, account)
    expiry = expiry_mins if magic_link else min(expiry_mins, MAX_EXPIRY_WITHOUT_MAGIC_LINK)
    answer = client.create_link_token(
        account.category,
        end_user_origin_id=str(account.end_user_origin_id),
        end_user_organization_name=str(account.end_user_organization_name),
        end_user_email_address=str(account.end_user_email_address),
        categories=[account.category],
        link_expiry_mins=expiry,
        should_create_magic_link_url=magic_link,
        **({"integration": account.integration_slug} if account.integration_slug else {}),
    )
    token, url = answer.get("link_token"), answer.get("magic_link_url")
    if not isinstance(token, str) or not token:
        raise MergeResponseError(
            method="POST", path=f"/{account.category}/v1/link-token", detail="no link_token"
        )
    issues = open_issues(connection, [account.id]).get(account.id, [])
    return RelinkLink(
        account_id=account.id,
        category=account.category,
        end_user_origin_id=str(account.end_user_origin_id),
        link_token=token,
        magic_link_url=url if isinstance(url, str) and url else None,
        expiry_mins=expiry,
        status=account.status,
        issues="; ".join(sorted({i.error_description for i in issues})),
    )


def _stored(connection: sa.Connection, account_id: str) -> LinkedAccount:
    found = [a for a in list_accounts(connection, active_only=False) if a.id == account_id]
    if not found:
        raise RelinkRefused(f"no linked account {account_id!r} is stored")
    if not found[0].is_active:
        raise RelinkRefused(f"linked account {account_id} was deleted in Merge; link it anew")
    return found[0]


def _refresh_end_user(
    client: MergeClient, connection: sa.Connection, vault: TokenVault, account: LinkedAccount
) -> LinkedAccount:
    """Read who the end user is from ``/account-details`` (an account stored by id only)."""
    credentials = AccountCredentials(account.id, account_token(connection, account.id, vault))
    details = client.account_details(credentials, account.category)
    record_health(
        connection,
        account.id,
        status=None,
        detail="end user read for a relink",
        details=details,
    )
    connection.commit()
    refreshed = _stored(connection, account.id)
    missing = [
        name
        for name in ("end_user_origin_id", "end_user_organization_name", "end_user_email_address")
        if not getattr(refreshed, name)
    ]
    if missing:
        raise RelinkRefused(
            f"Merge's account details of {account.id} lack {', '.join(missing)}: a relink needs "
            "the account's existing end user"
        )
    return refreshed
