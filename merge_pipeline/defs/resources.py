"""The Merge API, the warehouse and the token vault as Dagster resources.

Their secrets are bound to environment variables with ``dg.EnvVar`` (see ``definitions``), so
the UI, run config and tags only ever show the variable's *name*. Tuning that is not secret
(page size, retries, overlap, policies) comes from the same ``MERGE_PIPELINE_*`` settings the CLI
reads, so a run and ``merge-pipeline sync`` behave alike.
"""

from functools import cache
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import Field, SecretStr

from merge_pipeline.settings import Settings, load_settings
from merge_pipeline.warehouse.database import engine_for
from merge_pipeline.warehouse.vault import TokenVault

DEFAULT_BASE_URL = "https://api.merge.dev/api"


class MergeApiResource(dg.ConfigurableResource):
    """Merge's unified API, as the organisation that owns the linked accounts."""

    api_key: str = Field(description="Merge API key; bind it to MERGE_PIPELINE_API_KEY.")
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="Merge API base (EU: https://api-eu.merge.dev/api, or the sandbox's URL).",
    )


class WarehouseResource(dg.ConfigurableResource):
    """The PostgreSQL mirror; unset ``database_url`` means the embedded server under .data/."""

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; bind it to MERGE_PIPELINE_DATABASE_URL (it may hold a "
        "password).",
    )
    data_dir: str = Field(
        default=".data", description="Where the embedded PostgreSQL lives when no URL is set."
    )

    def engine(self) -> sa.Engine:
        """One migrated engine per process and URL (sensors call this on every tick)."""
        return _engine(self.database_url, Path(self.data_dir))


class TokenVaultResource(dg.ConfigurableResource):
    """Decrypts the linked accounts' tokens, only at the point of use."""

    encryption_key: str = Field(
        description="Fernet key(s); bind it to MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY."
    )

    def vault(self) -> TokenVault:
        return TokenVault(SecretStr(self.encryption_key))


def run_settings(
    merge: MergeApiResource, warehouse: WarehouseResource, vault: TokenVaultResource
) -> Settings:
    """The engine's settings: secrets from the resources, tuning from MERGE_PIPELINE_*."""
    return load_settings(
        api_key=SecretStr(merge.api_key),
        base_url=merge.base_url,
        token_encryption_key=SecretStr(vault.encryption_key),
        database_url=warehouse.database_url,
        data_dir=Path(warehouse.data_dir),
    )


@cache
def _engine(database_url: str | None, data_dir: Path) -> sa.Engine:
    return engine_for(database_url, data_dir)
