"""A cluster on this machine: PostgreSQL, a Redis broker, a daemon and two Celery workers.

Skipped, with one reason, where no broker answers on 127.0.0.1 or the `cluster` extra is
missing. The module gets a warehouse and a Dagster database of its own, and a queue of its
own on the shared broker.
"""

import os
import secrets
import shutil
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import URL

from merge_pipeline.warehouse.migrate import migrate
from merge_pipeline.warehouse.server import ensure_database
from merge_pipeline.warehouse.vault import TokenVault
from merge_pipeline_tests.cluster.celery_stack import (
    BrokerLog,
    Workers,
    broker_log,
    broker_unavailable,
    celery_environment,
    sized_instance,
    workers,
)
from merge_pipeline_tests.conftest import SENTINEL_API_KEY
from merge_pipeline_tests.dagster_stack import DagsterStack, dagster_stack, drop_database
from merge_pipeline_tests.defs.conftest import Accounts
from merge_sandbox.admin import SandboxAdmin
from merge_sandbox.testing import RunningSandbox, running_sandbox

#: a database password that a trust-authenticating server ignores: if it shows up on the
#: broker, a secret travelled with a task
SENTINEL_DB_PASSWORD = "pw-SENTINEL-DB-PASSWORD-5e1d07"
#: Merge's per-account limit, scaled in time: LIMIT calls per SANDBOX_WINDOW_S
LIMIT = 20
SANDBOX_WINDOW_S = 1.0
WORKER_COUNT = 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = broker_unavailable()
    if reason is None:
        return
    for item in items:
        if item.path.name == "test_celery_cluster.py":
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="package")
def sandbox() -> Iterator[RunningSandbox]:
    # seeds of this package's own (5001-5099): account ids derive from them
    with running_sandbox(accounts=0, records=0, api_key=SENTINEL_API_KEY, seed=5001) as running:
        running.admin.rate_limit(per_minute=LIMIT, window_seconds=SANDBOX_WINDOW_S)
        yield running


@pytest.fixture
def admin(sandbox: RunningSandbox) -> Iterator[SandboxAdmin]:
    """The sandbox's admin; every account stays rate-limited as Merge limits it."""
    yield sandbox.admin
    sandbox.admin.clear_faults()
    sandbox.admin.rate_limit(per_minute=LIMIT, window_seconds=SANDBOX_WINDOW_S)


@pytest.fixture(scope="package")
def database_url(postgres_server: URL) -> Iterator[URL]:
    name = f"mp_cluster_{os.getpid()}_{secrets.token_hex(3)}"
    yield ensure_database(postgres_server, name).set(password=SENTINEL_DB_PASSWORD)
    drop_database(postgres_server, name)


@pytest.fixture(scope="package")
def engine(database_url: URL) -> Iterator[sa.Engine]:
    warehouse = sa.create_engine(database_url)
    migrate(warehouse)
    yield warehouse
    warehouse.dispose()


@pytest.fixture
def accounts(admin: SandboxAdmin, engine: sa.Engine, encryption_key: str) -> Accounts:
    return Accounts(admin, engine, TokenVault(SecretStr(encryption_key)))


@pytest.fixture(scope="package")
def broker() -> Iterator[BrokerLog]:
    """Everything the broker carries while the package runs."""
    with broker_log() as log:
        yield log


@pytest.fixture(scope="package")
def stack(
    postgres_server: URL,
    database_url: URL,
    encryption_key: str,
    sandbox: RunningSandbox,
    engine: sa.Engine,
    broker: BrokerLog,
) -> Iterator[DagsterStack]:
    environment = {
        **celery_environment(),
        "MERGE_PIPELINE_API_KEY": SENTINEL_API_KEY,
        "MERGE_PIPELINE_BASE_URL": sandbox.base_url,
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": encryption_key,
        "MERGE_PIPELINE_DATABASE_URL": database_url.render_as_string(hide_password=False),
        # the pipeline's window is the sandbox's plus one second, as 61 s is Merge's minute + 1
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": str(LIMIT),
        "MERGE_PIPELINE_RATE_LIMIT_WINDOW_S": str(SANDBOX_WINDOW_S + 1.0),
        "MERGE_PIPELINE_DISCOVERY_INTERVAL_S": "10",
        "MERGE_PIPELINE_WATCHDOG_INTERVAL_S": "5",
        "MERGE_PIPELINE_WATCHDOG_GRACE_S": "10",
        "MERGE_PIPELINE_SYNC_STATUS_INTERVAL_S": "86400",
        "MERGE_PIPELINE_WEBHOOK_SENSOR_INTERVAL_S": "5",
        # the account-health checks are not under test here; a run of the sync step alone is
        # shorter on a shared 2-core machine
        "MERGE_PIPELINE_CHECKS_IN_SYNC_RUNS": "false",
        # the safety net every minute for every account: schedules drive runs too (the first
        # test stops them once each account had one)
        "MERGE_PIPELINE_SAFETY_NET_HOURS": "24",
        "MERGE_PIPELINE_SAFETY_NET_TICK_MINUTES": "1",
        "MERGE_PIPELINE_SAFETY_NET_SLOTS": "1",
    }
    instance_yaml = sized_instance(WORKER_COUNT)
    try:
        with dagster_stack(
            postgres_server,
            environment,
            instance_yaml=instance_yaml,
            storage_password=SENTINEL_DB_PASSWORD,
        ) as running:
            yield running
    finally:
        shutil.rmtree(instance_yaml.parent, ignore_errors=True)


@pytest.fixture(scope="package")
def cluster(stack: DagsterStack) -> Iterator[Workers]:
    with workers(stack, WORKER_COUNT) as running:
        yield running
