"""The client's handling of Merge's answers gone wrong, over a socket: the sandbox's ``garble``
fault turns a 200 answer into invalid JSON, HTML, a NUL byte, a ``results`` that is missing,
null or not a list, a ``next`` that is not a string or a URL without a cursor, records that are
not objects or lack an id, fields of the wrong type; its ``next_cycles`` switch makes a cursor
repeat. Each gives a specific error (or a quarantined record, named), the stored cursor never
moves past a page that was lost, and once Merge answers properly the mirror matches it again.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from merge_pipeline.catalog import load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.merge.errors import MergeError
from merge_pipeline.merge.retry import RetryPolicy
from merge_pipeline.settings import Settings
from merge_pipeline.sync.engine import ModelSync, SyncOptions
from merge_pipeline.sync.result import SyncResult
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline.warehouse.pipeline_tables import sync_cursors
from merge_pipeline.warehouse.vault import TokenVault
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.linking import link_sandbox_account
from merge_pipeline_tests.oracle import assert_mirror_matches
from merge_sandbox.admin import AccountInfo, SandboxAdmin
from merge_sandbox.adversity import Adversity
from merge_sandbox.testing import RunningSandbox, running_sandbox

pytestmark = pytest.mark.integration

SEED = 73
MODEL = "hris.Employee"
PAGE = 5
FAST = RetryPolicy(max_retries=2, initial_backoff_s=0.01, max_backoff_s=0.02, jitter_s=0.0)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(
        accounts=0, records=0, api_key=SENTINEL_API_KEY, seed=SEED, categories=["hris"],
        adversity=Adversity(),
    ) as running:  # fmt: skip
        yield running


class World:
    def __init__(self, sandbox: RunningSandbox, engine: sa.Engine, settings: Settings,
                 vault: TokenVault) -> None:  # fmt: skip
        self.admin: SandboxAdmin = sandbox.admin
        self.engine, self.vault = engine, vault
        self.settings = settings.model_copy(
            update={"base_url": sandbox.base_url, "rate_limit_per_minute": 100_000}
        )

    def account(self) -> AccountInfo:
        return link_sandbox_account(self.admin, self.engine, self.vault, "hris", records=150)

    def sync(self, info: AccountInfo) -> SyncResult:
        credentials = AccountCredentials(info.id, SecretStr(info.account_token))
        with MergeClient(self.settings, retry_policy=FAST) as client:
            return ModelSync(
                self.engine, client, credentials, load_catalog().model(MODEL),
                options=SyncOptions(page_size=PAGE, deletion_sweep=None),
                sync_run_id=f"fuzz-{uuid.uuid4()}",
            ).run()  # fmt: skip

    def cursor(self, account_id: str) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(sync_cursors.c.modified_after).where(
                    sync_cursors.c.linked_account_id == account_id,
                    sync_cursors.c.model_id == MODEL,
                )
            ).scalar()

    def mirror(self, account_id: str) -> dict[str, Any]:
        table = mirror_tables()[MODEL]
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(table.c.id, table.c._raw).where(table.c.linked_account_id == account_id)
            )
            return {row.id: row._raw for row in rows}

    def changed_in_merge(self, info: AccountInfo, count: int = 12) -> None:
        """Records change in Merge, so the next incremental fetch has several pages."""
        ids = sorted(r["id"] for r in self.admin.records(info.id, MODEL).live())[:count]
        self.admin.update_records(info.id, MODEL, ids)
        self.admin.advance_clock(120)


@pytest.fixture
def world(
    sandbox: RunningSandbox, engine: sa.Engine, settings: Settings, vault: TokenVault
) -> Iterator[World]:
    yield World(sandbox, engine, settings, vault)
    sandbox.admin.clear_faults()
    sandbox.admin.reset_adversity()


#: shape -> what the error says (a part of it); these fail the page, so the sync
REFUSED = {
    "invalid_json": "not complete JSON",
    "html": "not complete JSON",
    "nul_bytes": "not complete JSON",
    "not_an_object": "'results' list",
    "results_missing": "'results' list",
    "results_not_a_list": "'results' list",
    "results_null": "'results' list",
    "next_not_a_string": "'next' must be a string or null, got int",
    "next_an_object": "'next' must be a string or null, got dict",
    "next_url_without_cursor": "'next' is a URL without a cursor parameter",
}
#: shapes whose records are refused one by one (quarantined, named), not the page
QUARANTINED = ("records_not_objects", "records_without_id", "modified_at_wrong_type",
               "remote_was_deleted_wrong_type")  # fmt: skip
WITHOUT_ID = ("records_not_objects", "records_without_id")


@pytest.mark.parametrize("after", [0, 1], ids=["first-page", "second-page"])
@pytest.mark.parametrize("shape", sorted(REFUSED))
def test_a_garbled_page_fails_the_sync_by_name_and_the_cursor_stays(
    world: World, shape: str, after: int
) -> None:
    info = world.account()
    world.sync(info)
    world.changed_in_merge(info)
    cursor, mirror = world.cursor(info.id), world.mirror(info.id)

    world.admin.garble(shape, count=100, account_id=info.id, path_contains="/employees",
                       after=after)  # fmt: skip
    with pytest.raises(MergeError) as failed:
        world.sync(info)

    message = str(failed.value)
    assert REFUSED[shape] in message and "/hris/v1/employees" in message, message
    assert "\n" not in message and "Traceback" not in message
    assert world.cursor(info.id) == cursor  # never past the page that was lost
    if after == 0:
        assert world.mirror(info.id) == mirror
    world.admin.clear_faults()
    world.sync(info)
    assert world.cursor(info.id) > cursor
    assert_mirror_matches(world.engine, world.admin, info.id, MODEL)


@pytest.mark.parametrize("shape", QUARANTINED)
def test_records_of_the_wrong_shape_are_quarantined_not_lost(world: World, shape: str) -> None:
    info = world.account()
    world.sync(info)
    world.changed_in_merge(info)
    cursor = world.cursor(info.id)
    world.admin.garble(shape, count=1, account_id=info.id, path_contains="/employees")
    outcome: SyncResult | MergeError
    try:
        outcome = world.sync(info)
    except MergeError as error:
        outcome = error
    assert isinstance(outcome, SyncResult), outcome  # the page is stored, the bad record set aside
    assert outcome.records_quarantined == PAGE and outcome.quarantine_pending >= 1
    if shape in WITHOUT_ID:  # nothing can fetch them again by id: the window is read again
        assert world.cursor(info.id) == cursor
    world.admin.clear_faults()
    world.sync(info)
    assert_mirror_matches(world.engine, world.admin, info.id, MODEL)


def test_a_cursor_that_comes_back_is_refused_and_the_listing_read_again(world: World) -> None:
    """Merge's last page names an earlier page's cursor: the loop is not followed for ever, the
    listing is read again (it then ends), and nothing is lost."""
    info = world.account()
    world.sync(info)
    world.changed_in_merge(info)
    world.admin.set_adversity(next_cycles=True)
    result = world.sync(info)
    assert result.cursor_cycles >= 1
    world.admin.reset_adversity()
    assert_mirror_matches(world.engine, world.admin, info.id, MODEL)


def test_a_page_listing_a_record_twice_stores_it_once(world: World) -> None:
    info = world.account()
    world.sync(info)
    world.changed_in_merge(info)
    world.admin.garble("duplicate_records", count=1, account_id=info.id, path_contains="/employees")
    world.sync(info)
    assert_mirror_matches(world.engine, world.admin, info.id, MODEL)


def test_an_enormous_page_is_stored_whole(world: World) -> None:
    """Merge ignores ``page_size`` and sends 2,000 records more than asked for."""
    info = world.account()
    world.admin.garble("enormous_page", count=1, account_id=info.id, path_contains="/employees")
    result = world.sync(info)
    assert result.records_received >= 2_000 + PAGE
    assert len(world.mirror(info.id)) == result.records_received
