"""The secret-leak scan: a demo-like run with sentinel secrets, then every place a secret could
end up is searched for each of them, in every escaping (``leaks.forms``). Zero hits.

The run: the receiver in its own process (``merge-pipeline receiver``, as the demo starts it),
the sandbox playing Merge with its webhooks registered to the receiver, a PostgreSQL role with a
password owning the warehouse; accounts stored by hand, by a public-token exchange through the
receiver (whose ``LinkedAccount.linked`` webhook carries the token), one whose token Merge
refuses and one whose stored token is malformed (a trailing newline); the ``sync_<category>``
jobs of the code location run on a Dagster instance for every account, the four sensors tick on
it, an account is relinked (``merge-pipeline accounts relink``, then the end user POSTs the
link page) and the ``relink_account`` job runs; last, the encryption key is rotated.

Then: every row of every table of the warehouse (all schemas), every row of every Dagster
storage table (event log, runs with their config and tags, schedules), every file under the
instance's home (compute logs included), the runs' config and tags through Dagster's API, every
log (the test's own at DEBUG, the receiver's file, the CLI's output) and every process's command
line, sampled while it all runs.
"""

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from merge_pipeline.definitions import defs
from merge_pipeline.defs.account_health import account_health
from merge_pipeline.defs.discovery import linked_account_discovery
from merge_pipeline.defs.jobs import job_name
from merge_pipeline.defs.partitions import partitions_name
from merge_pipeline.defs.relink import relink_account
from merge_pipeline.defs.resources import MergeApiResource, TokenVaultResource, WarehouseResource
from merge_pipeline.defs.sync_status_sensor import merge_sync_status_poll
from merge_pipeline.defs.webhook_sensor import merge_webhook_sync
from merge_pipeline.demo import WEBHOOK_PATH, receiver_process, register_receiver
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.settings import Settings
from merge_pipeline.warehouse.accounts import LinkedAccount, account_token, save_account
from merge_pipeline.warehouse.pipeline_tables import linked_accounts, webhook_inbox
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_pipeline_tests.cli_process import run_cli
from merge_pipeline_tests.security.conftest import OwnDatabase, free_port
from merge_pipeline_tests.security.leaks import (
    CommandLines,
    Scan,
    capture_logs,
    database_rows,
    is_sqlite,
    sqlite_rows,
)
from merge_sandbox.testing import running_sandbox

pytestmark = pytest.mark.integration

#: account ids derive from the seed, the session's database is shared: a seed of its own
SEED = 71
API_KEY = f"sk-LEAK-{secrets.token_hex(12)}"
SIGNING_KEY = f"whsec-LEAK-{secrets.token_hex(12)}"
RECEIVER_TOKEN = f"rcv-LEAK-{secrets.token_hex(12)}"
OLD_KEY, NEW_KEY = generate_key(), generate_key()
REFUSED_TOKEN = f"tok-LEAK-refused-{secrets.token_hex(12)}"
#: the models each run materializes (a subset of the job, for time)
SUBSET = {"hris": ("employee", "company"), "ats": ("candidate", "job")}
MALFORMED_TOKEN = f"tok-LEAK-malformed-{secrets.token_hex(12)}\n"


def _environment(database: OwnDatabase, base_url: str, key: str = OLD_KEY) -> dict[str, str]:
    return {
        "MERGE_PIPELINE_API_KEY": API_KEY,
        "MERGE_PIPELINE_BASE_URL": base_url,
        "MERGE_PIPELINE_DATABASE_URL": database.url.render_as_string(hide_password=False),
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": key,
        "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
        "MERGE_PIPELINE_RECEIVER_TOKEN": RECEIVER_TOKEN,
        "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "100000",
    }


class Run:
    """What the run left behind, for the scan."""

    def __init__(self) -> None:
        self.outputs: list[str] = []  # CLI stdout and stderr, HTTP answers
        self.account_tokens: dict[str, str] = {}  # account id -> the token the warehouse holds
        self.errors: list[str] = []  # sensor results and exceptions, rendered
        self.logs: list[str] = []  # every record logged in this process, at DEBUG


def _store(database: OwnDatabase, account_id: str, category: str, token: str) -> None:
    with database.engine.begin() as connection:
        save_account(
            connection,
            LinkedAccount(id=account_id, category=category),
            SecretStr(token),
            TokenVault(SecretStr(OLD_KEY)),
        )


@pytest.fixture(scope="module")
def leak_run(
    own_database: OwnDatabase,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Run, Path, Path, CommandLines, dg.DagsterInstance]]:
    folder = tmp_path_factory.mktemp("leak")
    home = folder / "dagster"
    home.mkdir()
    receiver_log = folder / "receiver.log"
    run = Run()
    with (
        capture_logs() as logs,
        CommandLines() as command_lines,
        running_sandbox(accounts=0, records=0, api_key=API_KEY, seed=SEED) as sandbox,
        dg.instance_for_test(temp_dir=str(home)) as instance,
    ):
        env = _environment(own_database, sandbox.base_url)
        port = free_port(38010)
        receiver = receiver_process(port, env, receiver_log)
        receiver.start()
        try:
            receiver.wait_ready()
            root = sandbox.base_url.removesuffix("/api")
            register_receiver(root, f"http://127.0.0.1:{port}{WEBHOOK_PATH}", SIGNING_KEY)
            command_lines.sample()  # every process of the stack is up now
            _play(run, own_database, sandbox, env, port, instance)
            command_lines.sample()
        finally:
            receiver.stop()
        run.logs = logs
        yield run, receiver_log, home, command_lines, instance


def _play(
    run: Run,
    database: OwnDatabase,
    sandbox: Any,
    env: dict[str, str],
    port: int,
    instance: dg.DagsterInstance,
) -> None:
    admin = sandbox.admin
    # accounts stored by hand, as `accounts add` would
    for category in ("hris", "hris", "ats"):
        info = admin.create_account(category, records=15)
        _store(database, info.id, category, info.account_token)
        run.account_tokens[info.id] = info.account_token
    # an account Merge knows, stored with a token it refuses; one with a malformed token
    refused = admin.create_account("hris", records=5)
    _store(database, refused.id, "hris", REFUSED_TOKEN)
    run.account_tokens[refused.id] = REFUSED_TOKEN
    _store(database, "acct-leak-newline", "hris", MALFORMED_TOKEN)
    run.account_tokens["acct-leak-newline"] = MALFORMED_TOKEN
    # an end user completes Merge Link; the company's backend hands the receiver the public token
    settings = Settings(api_key=SecretStr(API_KEY), base_url=sandbox.base_url,
                        token_encryption_key=SecretStr(OLD_KEY), _env_file=None)  # fmt: skip
    with MergeClient(settings) as client:
        link = client.create_link_token("ats", f"origin-{uuid.uuid4().hex[:8]}", "Acme",
                                        "it@acme.example", ["ats"])  # fmt: skip
    completed = admin.complete_link(link["link_token"], records=10)
    answer = httpx.post(
        f"http://127.0.0.1:{port}/link/account-token",
        json={"public_token": completed["public_token"], "category": "ats"},
        headers={"Authorization": f"Bearer {RECEIVER_TOKEN}"},
        timeout=30,
    )
    run.outputs.append(answer.text)
    assert answer.status_code == 200, answer.text
    exchanged = completed["account_id"]
    run.account_tokens[exchanged] = next(
        a.account_token for a in admin.accounts() if a.id == exchanged
    )
    # the sync jobs of the code location, secrets bound to the environment as in production
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        definitions = defs()
        with database.engine.connect() as connection:
            rows = connection.execute(
                sa.select(linked_accounts.c.id, linked_accounts.c.category)
            ).all()
        for account_id, category in rows:
            instance.add_dynamic_partitions(partitions_name(category), [account_id])
            job = definitions.resolve_job_def(job_name(category))
            # two models of each account (and their checks): the same code as a whole run
            subset = [dg.AssetKey([category, model]) for model in SUBSET[category]]
            result = job.execute_in_process(
                instance=instance,
                partition_key=account_id,
                asset_selection=subset,
                raise_on_error=False,
            )
            run.errors.append(repr(result.all_events))
        assert instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS])) != []
        # Merge syncs the first account: webhooks land in the receiver's inbox
        first = next(iter(run.account_tokens))
        admin.sync(first, creates=2, updates=1)
        resources = {
            "merge": MergeApiResource(api_key=API_KEY, base_url=sandbox.base_url),
            "warehouse": WarehouseResource(database_url=env["MERGE_PIPELINE_DATABASE_URL"]),
            "token_vault": TokenVaultResource(encryption_key=OLD_KEY),
        }
        _wait_for_inbox(database, first)
        # the relink: Merge says the credentials broke; the operator sends the link; the end
        # user completes it on the link page; and the Dagster job that shows the link
        relinked = next(iter(run.account_tokens))
        admin.make_relink_needed(relinked, "Invalid login credentials")
        for sensor in (account_health, merge_webhook_sync, merge_sync_status_poll,
                       linked_account_discovery):  # fmt: skip
            _tick(run, sensor, instance, resources)
        cli = run_cli("accounts", "relink", relinked, **env)
        run.outputs += [cli.stdout, cli.stderr]
        assert cli.returncode == 0, cli.stderr
        link_page = httpx.post(cli.stdout.strip().splitlines()[-1], timeout=10)
        run.outputs.append(link_page.text)
        assert link_page.status_code == 200
        shown = relink_account.execute_in_process(
            run_config={"ops": {"request_relink_link": {"config": {"account_id": relinked}}}},
            resources=resources,
            instance=instance,
        )
        assert shown.success
        for sensor in (account_health, merge_webhook_sync, merge_sync_status_poll,
                       linked_account_discovery):  # fmt: skip
            _tick(run, sensor, instance, resources)
        for bad in ("exchange", "relink"):  # bad input to the CLI, secrets in the environment
            args = ["accounts", "exchange", "--category", "hris"] if bad == "exchange" else [
                "accounts", "relink", "acct-leak-newline"]  # fmt: skip
            failed = run_cli(*args, **env)
            run.outputs += [failed.stdout, failed.stderr]
    # last: the key is rotated (the new key first, the old one after it)
    rotated = run_cli("accounts", "rotate-key", **(env | {
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": f"{NEW_KEY},{OLD_KEY}"}))  # fmt: skip
    run.outputs += [rotated.stdout, rotated.stderr]
    assert rotated.returncode == 0, rotated.stderr


def _tick(run: Run, sensor: Any, instance: dg.DagsterInstance, resources: dict[str, Any]) -> None:
    result = sensor(dg.build_sensor_context(instance=instance, resources=resources))
    run.errors.append(repr(result))
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        # stored as the daemon stores them; only the failing ones (the ones that name accounts
        # and issues): storing the hundreds that pass takes half a minute and holds no text
        for event in result.asset_events or []:
            if isinstance(event, dg.AssetCheckEvaluation) and not event.passed:
                instance.report_runless_asset_event(event)


def _wait_for_inbox(database: OwnDatabase, account_id: str) -> None:
    import time

    deadline = time.monotonic() + 30
    query = sa.select(sa.func.count()).where(webhook_inbox.c.linked_account_id == account_id)
    while True:
        with database.engine.connect() as connection:
            if connection.execute(query).scalar_one() >= 2:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no sync webhooks of {account_id} in the inbox")
        time.sleep(0.05)


def _secrets(run: Run, database: OwnDatabase) -> dict[str, str]:
    return {
        "api key": API_KEY,
        "webhook signing key": SIGNING_KEY,
        "receiver token": RECEIVER_TOKEN,
        "old encryption key": OLD_KEY,
        "new encryption key": NEW_KEY,
        "database password": database.password,
        **{f"token of {k}": v for k, v in run.account_tokens.items()},
    }


@pytest.fixture(scope="module")
def scan(
    leak_run: tuple[Run, Path, Path, CommandLines, dg.DagsterInstance],
    own_database: OwnDatabase,
) -> Scan:
    run, receiver_log, home, command_lines, instance = leak_run
    scan = Scan(_secrets(run, own_database))
    for source, text in database_rows(own_database.engine):
        scan.search(f"warehouse row {source}", text)
    files = [p for p in home.rglob("*") if p.is_file()]
    for path in files:
        scan.search("dagster home file", path.read_bytes().decode("latin-1"))
        if is_sqlite(path):
            for _, text in sqlite_rows(path):
                scan.search("dagster storage row", text)
    for record in instance.get_run_records():
        dagster_run = record.dagster_run
        scan.search("dagster run config and tags", repr(dagster_run.run_config) +
                    repr(dagster_run.tags))  # fmt: skip
        for entry in instance.all_logs(dagster_run.run_id):
            scan.search("dagster event (API)", repr(entry))
    scan.search("receiver log", receiver_log.read_text())
    scan.search("test process log record", "\n".join(run.logs), len(run.logs))
    scan.search("CLI output and HTTP answers", "\n".join(run.outputs), len(run.outputs))
    scan.search("sensor results and run events", "\n".join(run.errors), len(run.errors))
    for _, line in list(command_lines.seen):
        scan.search("process command line", line)
    return scan


def test_no_secret_appears_anywhere(scan: Scan) -> None:
    figures = ", ".join(f"{source}: {count}" for source, count in sorted(scan.counts.items()))
    print(f"leak scan searched {figures}; hits: {len(scan.hits)}")
    assert scan.hits == []


def test_the_scan_saw_every_kind_of_place(scan: Scan) -> None:
    """Guard: an empty source would make zero hits meaningless."""
    sources = {source.split(" ")[0] + " " + source.split(" ")[1] for source in scan.counts}
    assert {"warehouse row", "dagster home", "dagster storage", "dagster run",
            "dagster event", "receiver log", "process command",
            "test process"} <= sources  # fmt: skip
    warehouse = {s for s in scan.counts if s.startswith("warehouse row")}
    assert {"warehouse row merge_pipeline.linked_accounts",
            "warehouse row merge_pipeline.webhook_inbox"} <= warehouse  # fmt: skip
    assert scan.counts["process command line"] > 10


def test_tokens_are_in_the_warehouse_only_as_ciphertext_under_the_new_key(
    leak_run: tuple[Run, Path, Path, CommandLines, dg.DagsterInstance],
    own_database: OwnDatabase,
) -> None:
    run = leak_run[0]
    only_new = TokenVault(SecretStr(NEW_KEY))
    with own_database.engine.connect() as connection:
        stored = {
            account_id: account_token(connection, account_id, only_new).get_secret_value()
            for account_id in connection.execute(sa.select(linked_accounts.c.id)).scalars()
        }
    # the relink may have changed a token: the warehouse holds what the sandbox now says
    assert stored.keys() == run.account_tokens.keys()
    assert {k: v.strip() for k, v in stored.items()} == {
        k: v.strip() for k, v in run.account_tokens.items()
    }


def test_the_scan_finds_a_planted_secret(
    leak_run: tuple[Run, Path, Path, CommandLines, dg.DagsterInstance],
    own_database: OwnDatabase,
) -> None:
    """Guard: the same searches do find a token written where they look, in any escaping."""
    run = leak_run[0]
    scan = Scan(_secrets(run, own_database))
    import base64
    import json

    token = MALFORMED_TOKEN
    planted = {
        "json": json.dumps({"t": token}),
        "base64@1": "x" + base64.b64encode(b"ab" + token.encode()).decode(),
        "hex": "\\x" + ("Q" + token).encode().hex().upper(),
        "url": "https://h/?t=" + quote(token, safe=""),
    }
    for form, text in planted.items():
        scan.search(form, text)
    found = {(source, form) for source, _, form in scan.hits}
    assert {(form, form) for form in planted} <= found
