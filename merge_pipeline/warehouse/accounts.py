"""Linked accounts and their (encrypted) account tokens."""

from dataclasses import dataclass, fields

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.dialects.postgresql import insert

from merge_pipeline.warehouse.pipeline_tables import linked_accounts
from merge_pipeline.warehouse.vault import TokenDecryptionError, TokenVault


class UnknownLinkedAccount(LookupError):
    """No linked account with that id is stored (it was never linked, or was removed)."""


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    """What we know of a Merge linked account, without its token."""

    id: str
    category: str
    integration: str | None = None
    integration_slug: str | None = None
    end_user_origin_id: str | None = None
    end_user_organization_name: str | None = None
    end_user_email_address: str | None = None
    status: str | None = None
    account_type: str | None = None
    is_active: bool = True


_ACCOUNT_COLUMNS = tuple(f.name for f in fields(LinkedAccount))


def save_account(
    connection: sa.Connection, account: LinkedAccount, token: SecretStr, vault: TokenVault
) -> None:
    """Insert or update an account and its token (relinking keeps the id; the token may change)."""
    values = {name: getattr(account, name) for name in _ACCOUNT_COLUMNS}
    values["token_ciphertext"] = vault.encrypt(token)
    statement = insert(linked_accounts).values(values)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[linked_accounts.c.id],
            set_={
                **{name: statement.excluded[name] for name in _ACCOUNT_COLUMNS if name != "id"},
                "token_ciphertext": statement.excluded.token_ciphertext,
                "updated_at": sa.func.now(),
            },
        )
    )


def list_accounts(
    connection: sa.Connection, *, category: str | None = None, active_only: bool = True
) -> list[LinkedAccount]:
    """Every stored account, optionally of one category."""
    query = sa.select(*(linked_accounts.c[name] for name in _ACCOUNT_COLUMNS)).order_by(
        linked_accounts.c.id
    )
    if category is not None:
        query = query.where(linked_accounts.c.category == category)
    if active_only:
        query = query.where(linked_accounts.c.is_active)
    return [LinkedAccount(**row._mapping) for row in connection.execute(query)]


def account_token(connection: sa.Connection, account_id: str, vault: TokenVault) -> SecretStr:
    """Decrypt the token of one account (only at the point of use)."""
    ciphertext = connection.execute(
        sa.select(linked_accounts.c.token_ciphertext).where(linked_accounts.c.id == account_id)
    ).scalar()
    if ciphertext is None:
        raise UnknownLinkedAccount(f"no linked account {account_id!r} is stored")
    return vault.decrypt(ciphertext)


def deactivate_account(connection: sa.Connection, account_id: str) -> None:
    """Mark an account deleted in Merge: no more syncs; its token is kept until purged."""
    connection.execute(
        sa.update(linked_accounts)
        .where(linked_accounts.c.id == account_id)
        .values(is_active=False, updated_at=sa.func.now())
    )


class TokenRotationFailed(RuntimeError):
    """A stored token decrypts with none of the configured keys: nothing was re-encrypted."""


def reencrypt_tokens(connection: sa.Connection, vault: TokenVault) -> int:
    """Re-encrypt every stored token with the vault's first key; how many were.

    Every row is locked and rewritten in the caller's transaction: if one token cannot be
    decrypted, the caller's rollback leaves every token as it was (none lost, none half-rotated).
    """
    rows = connection.execute(
        sa.select(linked_accounts.c.id, linked_accounts.c.token_ciphertext)
        .order_by(linked_accounts.c.id)
        .with_for_update()
    ).all()
    for account_id, ciphertext in rows:
        try:
            rotated = vault.rotate(ciphertext)
        except TokenDecryptionError:
            raise TokenRotationFailed(
                f"the token of linked account {account_id} decrypts with none of the keys in "
                "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY; nothing was re-encrypted"
            ) from None
        connection.execute(
            sa.update(linked_accounts)
            .where(linked_accounts.c.id == account_id)
            .values(token_ciphertext=rotated)
        )
    return len(rows)
