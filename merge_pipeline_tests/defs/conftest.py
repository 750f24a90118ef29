"""Fixtures for the Dagster layer: a sandbox over HTTP, the test warehouse, a Dagster instance."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from merge_pipeline.defs.resources import MergeApiResource, TokenVaultResource, WarehouseResource
from merge_pipeline.warehouse.vault import TokenVault
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.linking import link_sandbox_account
from merge_sandbox.admin import AccountInfo, SandboxAdmin
from merge_sandbox.testing import RunningSandbox, running_sandbox


@pytest.fixture(scope="package")
def sandbox() -> Iterator[RunningSandbox]:
    """One sandbox for the package; each test creates accounts of its own.

    Account ids derive from the seed, and the session's database is shared with the other
    packages' sandboxes: a seed of its own keeps an account "never stored" here unstored.
    """
    with running_sandbox(accounts=0, records=0, api_key=SENTINEL_API_KEY, seed=29) as running:
        yield running


@pytest.fixture
def admin(sandbox: RunningSandbox) -> Iterator[SandboxAdmin]:
    yield sandbox.admin
    sandbox.admin.clear_faults()


@pytest.fixture
def resources(sandbox: RunningSandbox, database_url: URL, encryption_key: str) -> dict[str, Any]:
    """The code location's resources, pointed at the sandbox and the test database."""
    return {
        "merge": MergeApiResource(api_key=SENTINEL_API_KEY, base_url=sandbox.base_url),
        "warehouse": WarehouseResource(
            database_url=database_url.render_as_string(hide_password=False)
        ),
        "token_vault": TokenVaultResource(encryption_key=encryption_key),
    }


@dataclass
class Accounts:
    """Creates sandbox accounts and stores their tokens in the warehouse, as linking would."""

    admin: SandboxAdmin
    engine: sa.Engine
    vault: TokenVault

    def link(self, category: str, records: int = 200) -> AccountInfo:
        return link_sandbox_account(self.admin, self.engine, self.vault, category, records)


@pytest.fixture
def accounts(admin: SandboxAdmin, engine: sa.Engine, vault: TokenVault) -> Accounts:
    return Accounts(admin, engine, vault)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance
