"""Linking a sandbox account the way the link flow would: its token stored encrypted."""

import sqlalchemy as sa
from pydantic import SecretStr

from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.vault import TokenVault
from merge_sandbox.admin import AccountInfo, SandboxAdmin


def link_sandbox_account(
    admin: SandboxAdmin, engine: sa.Engine, vault: TokenVault, category: str, records: int
) -> AccountInfo:
    """Create an account in the sandbox and store it, with its token, in the warehouse."""
    info = admin.create_account(category, records=records)
    with engine.begin() as connection:
        save_account(
            connection,
            LinkedAccount(id=info.id, category=info.category, integration=info.integration),
            SecretStr(info.account_token),
            vault,
        )
    return info
