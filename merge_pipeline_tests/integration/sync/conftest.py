"""Fixtures for end-to-end sync tests: a real sandbox over HTTP and a real PostgreSQL."""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from merge_pipeline.catalog import load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.merge.retry import RetryPolicy
from merge_pipeline.settings import Settings
from merge_pipeline.sync.engine import ModelSync, SyncOptions
from merge_pipeline.sync.result import SyncResult
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline.warehouse.vault import TokenVault
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.integration.sync.scripted_merge import ScriptedMerge, scripted_merge
from merge_pipeline_tests.linking import link_sandbox_account
from merge_pipeline_tests.oracle import assert_mirror_matches
from merge_sandbox.admin import AccountInfo, SandboxAdmin
from merge_sandbox.adversity import adversity_from_environment
from merge_sandbox.testing import RunningSandbox, running_sandbox

#: fast retries: tests exercise the retry paths, not the waiting
FAST_RETRIES = RetryPolicy(max_retries=8, initial_backoff_s=0.01, max_backoff_s=0.05, jitter_s=0.01)

_SESSION_ADVERSITY = adversity_from_environment()
#: with these switches Merge hides deletions from ``modified_after``: only a full listing (the
#: deletion sweep) finds them, so the session's syncs sweep every time
SWEEPING = any(
    (
        _SESSION_ADVERSITY.hard_deletes,
        _SESSION_ADVERSITY.delete_without_bump,
        _SESSION_ADVERSITY.unflagged_deletes,
    )
)
#: for tests whose assertions are about incremental fetches (their cost, their counts)
only_incremental = pytest.mark.skipif(
    SWEEPING, reason="this session's adversity makes every sync a full listing (deletion sweep)"
)
#: for tests that count exactly which parents a nested sync lists: with listings cut short, a
#: confirmation listing follows and a full re-list may itself be the short one (the child then
#: arrives with the next complete listing, which these tests do not wait for)
only_complete_listings = pytest.mark.skipif(
    _SESSION_ADVERSITY.short_listings,
    reason="this session's listings are sometimes cut short: parent counts are not exact",
)


@pytest.fixture(scope="package")
def sandbox() -> Iterator[RunningSandbox]:
    """One sandbox for the package; each test creates accounts of its own."""
    with running_sandbox(
        accounts=1, records=50, api_key=SENTINEL_API_KEY, categories=["hris"]
    ) as running:
        yield running


@pytest.fixture
def admin(sandbox: RunningSandbox) -> Iterator[SandboxAdmin]:
    """The sandbox's admin; faults and adversity switches a test sets end with the test."""
    switches = sandbox.admin.adversity()
    yield sandbox.admin
    sandbox.admin.clear_faults()
    sandbox.admin.set_adversity(**switches)


@pytest.fixture
def sync_settings(settings: Settings, sandbox: RunningSandbox) -> Settings:
    return settings.model_copy(
        update={"base_url": sandbox.base_url, "rate_limit_per_minute": 100_000}
    )


@dataclass
class Harness:
    """Runs syncs of sandbox accounts into the test database and compares the two."""

    engine: sa.Engine
    settings: Settings
    vault: TokenVault
    admin: SandboxAdmin

    def account(self, category: str = "hris", records: int = 300) -> AccountInfo:
        return link_sandbox_account(self.admin, self.engine, self.vault, category, records)

    def client(self, **overrides: Any) -> MergeClient:
        return MergeClient(self.settings, retry_policy=FAST_RETRIES, **overrides)

    def sync(
        self,
        info: AccountInfo,
        model_id: str,
        *,
        client: MergeClient | None = None,
        progress: Callable[..., None] | None = None,
        **options: Any,
    ) -> SyncResult:
        credentials = AccountCredentials(info.id, SecretStr(info.account_token))
        if SWEEPING:
            options.setdefault("deletion_sweep", timedelta(0))
        with client or self.client() as merge:
            return ModelSync(
                self.engine,
                merge,
                credentials,
                load_catalog().model(model_id),
                options=SyncOptions(**options),
                sync_run_id=f"test-{uuid.uuid4()}",
                progress=progress,
            ).run()

    def mirror(self, account_id: str, model_id: str) -> dict[str, tuple[dict[str, Any], bool]]:
        table = mirror_tables()[model_id]
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    table.c.id, table.c._raw, table.c._raw_exact, table.c.remote_was_deleted
                ).where(table.c.linked_account_id == account_id)
            )
            # _raw_exact holds the record as sent when _raw could not (NULs; see sync.storable)
            return {
                row.id: (row._raw if row._raw_exact is None else row._raw_exact,
                         row.remote_was_deleted)
                for row in rows
            }  # fmt: skip

    def assert_mirror_matches(self, account_id: str, model_id: str) -> int:
        """The oracle's verdict (column by column); returns the number of records compared."""
        return assert_mirror_matches(self.engine, self.admin, account_id, model_id)


@pytest.fixture
def harness(
    engine: sa.Engine, sync_settings: Settings, vault: TokenVault, admin: SandboxAdmin
) -> Harness:
    return Harness(engine, sync_settings, vault, admin)


#: the account token scripted syncs send (a sentinel: leak tests search for it)
SCRIPTED_TOKEN = "tok-SENTINEL-scripted-4d1e9b"


@dataclass
class ScriptedHarness:
    """Syncs against a :class:`ScriptedMerge` (real sockets) into the test database."""

    engine: sa.Engine
    settings: Settings
    vault: TokenVault
    merge: ScriptedMerge

    def new_account(self, token: str = SCRIPTED_TOKEN) -> str:
        """A stored linked account (hris) with ``token``; returns its id."""
        account_id = f"acct-{uuid.uuid4().hex[:10]}"
        with self.engine.begin() as connection:
            save_account(
                connection,
                LinkedAccount(id=account_id, category="hris"),
                SecretStr(token),
                self.vault,
            )
        return account_id

    def client(self) -> MergeClient:
        return MergeClient(self.settings, retry_policy=FAST_RETRIES)

    def sync(
        self, account_id: str, model_id: str, token: str = SCRIPTED_TOKEN, **options: Any
    ) -> SyncResult:
        with self.client() as client:
            return ModelSync(
                self.engine,
                client,
                AccountCredentials(account_id, SecretStr(token)),
                load_catalog().model(model_id),
                options=SyncOptions(**options),
                sync_run_id=f"test-{uuid.uuid4()}",
            ).run()


@pytest.fixture
def scripted(engine: sa.Engine, settings: Settings, vault: TokenVault) -> Iterator[ScriptedHarness]:
    with scripted_merge() as merge:
        pointed = settings.model_copy(
            update={"base_url": merge.base_url, "rate_limit_per_minute": 100_000}
        )
        yield ScriptedHarness(engine, pointed, vault, merge)
