"""merge-pipeline, run as its operators do: ``merge-pipeline sync`` for the trial's accounts.

Its own rate limit (Merge's 100 calls a minute by default) is lifted, as the peers have none;
everything else is the default configuration (nested policy, cursor overlap, page size 100).
"""

import os
import sys
from collections.abc import Sequence

import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.peers.measure import Measured, run_measured
from benchmarks.support import store_tokens
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_sandbox.admin import AccountInfo


class OursRunner:
    """The trial's accounts stored (tokens encrypted) in a migrated warehouse."""

    def __init__(
        self, engine: sa.Engine, base_url: str, api_key: str, accounts: Sequence[AccountInfo]
    ) -> None:
        key = generate_key()
        store_tokens(engine, accounts, TokenVault(SecretStr(key)))
        self.accounts = [a.id for a in accounts]
        self.environment = {
            **os.environ,
            "MERGE_PIPELINE_API_KEY": api_key,
            "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": key,
            "MERGE_PIPELINE_BASE_URL": base_url,
            "MERGE_PIPELINE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "1000000",
        }

    def sync(self) -> Measured:
        arguments = ["sync", "--no-progress"]
        for account in self.accounts:
            arguments += ["--account", account]
        return run_measured(
            sys.executable, "merge_pipeline.cli", arguments, environment=self.environment
        )
