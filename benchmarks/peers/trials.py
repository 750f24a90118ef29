"""The trial loop: every peer on the same sandbox data, interleaved, several trials.

Each trial starts a fresh sandbox (same seed, so the same records) with one ATS and one HRIS
account, and fresh destinations. Three phases, each run by every peer in the trial's order (the
order rotates from trial to trial, so no peer always goes first or last):

1. initial: an empty destination;
2. incremental: after 1% of each model's live records changed and 0.5% were deleted (the same
   records every trial; the sandbox clock then moves past merge-pipeline's cursor overlap);
3. no change: nothing changed since.

Per sync: wall time, CPU (the child and its children), the child's own peak RSS, API calls (the
sandbox's own count for the accounts, reset before each sync) and the destination against the
ground truth (``correctness``). Ratios are each peer's figure over merge-pipeline's in the same
trial and phase; the summary gives their median over trials.
"""

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from benchmarks.peers import destinations, venvs
from benchmarks.peers.airbyte_runner import AirbyteRunner
from benchmarks.peers.correctness import Row, Verdict, compare, instant
from benchmarks.peers.dlt_runner import PREFIX as DLT_PREFIX
from benchmarks.peers.dlt_runner import DltRunner
from benchmarks.peers.measure import Measured
from benchmarks.peers.ours_runner import OursRunner
from benchmarks.support import bench_database
from merge_pipeline.catalog import CommonModel, load_catalog
from merge_pipeline.sync.runner import dependency_order
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_sandbox.admin import AccountInfo, SandboxAdmin
from merge_sandbox.testing import sandbox_process

API_KEY = "bench-peers-api-key"
SEED = 4001
CATEGORIES = ("ats", "hris")
PHASES = ("initial", "incremental", "no change")
UPDATED_SHARE = 0.01
DELETED_SHARE = 0.005
#: moved on the sandbox clock after the changes: past merge-pipeline's 60 s cursor overlap
CLOCK_STEP_S = 180.0
OURS = "merge-pipeline"
DLT = "dlt"
AIRBYTE = "airbyte as published"
AIRBYTE_FIXED = "airbyte paging fixed"
PEERS = (OURS, DLT, AIRBYTE, AIRBYTE_FIXED)

Truth = dict[str, dict[str, Row]]


@dataclass
class Trial:
    """One trial's sandbox, accounts and destinations."""

    admin: SandboxAdmin
    base_url: str
    accounts: dict[str, AccountInfo]
    engine: sa.Engine
    models: list[CommonModel]
    run: dict[str, Callable[[], Measured]]
    held: dict[str, Callable[[], dict[str, dict[str, Row]]]]


def truth_of(
    admin: SandboxAdmin, accounts: Mapping[str, AccountInfo], models: Sequence[CommonModel]
) -> Truth:
    truth: Truth = {}
    for model in models:
        ground = admin.records(accounts[model.category].id, model.model_id)
        truth[model.model_id] = {
            key: Row(instant(record.get("modified_at")), key in ground.deleted)
            for key, record in ground.by_key().items()
        }
    return truth


def change_records(
    admin: SandboxAdmin,
    accounts: Mapping[str, AccountInfo],
    truth: Truth,
    models: Sequence[CommonModel],
) -> dict[str, int]:
    """Update and delete the same records every trial (a fixed seed over the sorted keys)."""
    chooser = random.Random(SEED)
    counts = {"updated": 0, "deleted": 0}
    for model in models:
        live = sorted(k for k, row in truth[model.model_id].items() if not row.deleted)
        if len(live) < 4:
            continue
        picked = chooser.sample(live, math.ceil(len(live) * (UPDATED_SHARE + DELETED_SHARE)))
        cut = math.ceil(len(live) * UPDATED_SHARE)
        account = accounts[model.category].id
        deletes = len(picked) - cut
        if model.key != "id":  # keyed by remote_id: the sandbox picks (from its seeded random)
            admin.mutate(account, model.model_id, updates=cut, deletes=deletes)
        else:
            admin.update_records(account, model.model_id, picked[:cut])
            if deletes:
                admin.delete_records(account, model.model_id, picked[cut:])
        counts["updated"] += cut
        counts["deleted"] += deletes
    return counts


def judge(truth: Truth, held: Mapping[str, Mapping[str, Row]]) -> tuple[Verdict, str]:
    """The sum over the models a peer holds, and which models had wrong rows (and how)."""
    verdict = Verdict()
    where = []
    for model_id, rows in held.items():
        found = compare(truth[model_id], rows)
        verdict = verdict + found
        if found.wrong:
            kinds = ("missing", "stale", "wrongly_deleted", "extra")
            said = ", ".join(f"{k} {getattr(found, k)}" for k in kinds if getattr(found, k))
            where.append(f"{model_id} ({said})")
    return verdict, "; ".join(where)


@dataclass
class Peers:
    """The trial's runners, by peer name: each syncs and says what its destination holds."""

    sync: dict[str, Callable[[], Measured]]
    held: dict[str, Callable[[], dict[str, dict[str, Row]]]]
    accounts: dict[str, list[str]]


def _setup(
    chosen: Sequence[str],
    engine: sa.Engine,
    base_url: str,
    accounts: Mapping[str, AccountInfo],
    models: Sequence[CommonModel],
    cleanup: list[Callable[[], None]],
) -> Peers:
    peers = Peers({}, {}, {})
    every = [a.id for a in accounts.values()]
    if OURS in chosen:
        ours = OursRunner(engine, base_url, API_KEY, list(accounts.values()))

        def ours_held() -> dict[str, dict[str, Row]]:
            with engine.connect() as connection:
                return destinations.ours(connection, models, every)

        peers.sync[OURS], peers.held[OURS], peers.accounts[OURS] = ours.sync, ours_held, every
    if DLT in chosen:
        peer_models = [destinations.PeerModel.of(m) for m in models]
        tokens = {c: a.account_token for c, a in accounts.items()}
        dlt = DltRunner(venvs.ensure(venvs.DLT), base_url, peer_models, engine.url, API_KEY, tokens)
        cleanup.append(dlt.close)

        def dlt_held() -> dict[str, dict[str, Row]]:
            with engine.connect() as connection:
                return destinations.dlt(connection, peer_models, DLT_PREFIX)

        peers.sync[DLT], peers.held[DLT], peers.accounts[DLT] = dlt.sync, dlt_held, every
    for name, variant in ((AIRBYTE, "as-published"), (AIRBYTE_FIXED, "paging-fixed")):
        if name not in chosen:
            continue
        config = {
            "account_token": accounts["ats"].account_token,
            "api_token": API_KEY,
            "start_date": "2000-01-01T00:00:00.000Z",
        }
        runner = AirbyteRunner(venvs.ensure(venvs.AIRBYTE), base_url, variant, config)
        cleanup.append(runner.close)

        def airbyte_sync(runner: AirbyteRunner = runner) -> Measured:
            return runner.read()[0]

        def airbyte_held(runner: AirbyteRunner = runner) -> dict[str, dict[str, Row]]:
            return runner.last.tables if runner.last is not None else {}

        peers.sync[name], peers.held[name] = airbyte_sync, airbyte_held
        peers.accounts[name] = [accounts["ats"].id]
    return peers


def run_trial(
    index: int, records: int, chosen: Sequence[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One trial: every phase, every chosen peer in this trial's order; rows and disk use."""
    shift = index % len(chosen)
    order = [*chosen[shift:], *chosen[:shift]]
    catalog = load_catalog()
    models = [m for c in CATEGORIES for m in dependency_order(catalog.category(c))]
    rows: list[dict[str, Any]] = []
    cleanup: list[Callable[[], None]] = []
    with (
        sandbox_process(
            accounts=1, records=1, api_key=API_KEY, seed=SEED, extra_args=["--categories", "ats"]
        ) as sandbox,
        bench_database("bench_peers") as engine,
    ):
        admin = sandbox.admin
        admin.sync_schedule(every_seconds=0)  # Merge's own syncs would change records
        share = records // len(CATEGORIES)
        accounts = {c: admin.create_account(c, records=share) for c in CATEGORIES}
        try:
            peers = _setup(order, engine, sandbox.base_url, accounts, models, cleanup)
            truth = truth_of(admin, accounts, models)
            changed: dict[str, int] = {}
            for phase in PHASES:
                if phase == "incremental":
                    changed = change_records(admin, accounts, truth, models)
                    admin.advance_clock(CLOCK_STEP_S)
                    truth = truth_of(admin, accounts, models)
                for peer in order:
                    admin.reset_request_counts()
                    measured = peers.sync[peer]()
                    calls = sum(admin.count_requests(a) for a in peers.accounts[peer])
                    held = peers.held[peer]()
                    verdict, where = judge(truth, held)
                    rows.append(
                        {
                            "trial": index + 1,
                            "phase": phase,
                            "peer": peer,
                            "models": len(held),
                            "seconds": round(measured.seconds, 2),
                            "CPU s": round(measured.cpu_s, 2),
                            "peak RSS MiB": round(measured.peak_rss_mib, 1),
                            "calls": calls,
                            "exit": measured.exit_code,
                            "checked": verdict.checked,
                            "missing": verdict.missing,
                            "stale": verdict.stale,
                            "wrongly deleted": verdict.wrongly_deleted,
                            "extra": verdict.extra,
                            "wrong": verdict.wrong,
                            "wrong where": where,
                        }
                    )
                    print(_line(rows[-1]), flush=True)
            disk = disk_use(engine, models, truth, chosen)
            disk["changed"] = changed
        finally:
            for close in cleanup:
                close()
    return rows, disk


def _line(row: Mapping[str, Any]) -> str:
    return (
        f"  trial {row['trial']} {row['phase']:<11} {row['peer']:<21} {row['seconds']:7.1f} s "
        f"{row['CPU s']:6.1f} CPU s {row['peak RSS MiB']:5.0f} MiB {row['calls']:6d} calls, "
        f"{row['wrong']} wrong of {row['checked']} (missing {row['missing']}, stale "
        f"{row['stale']}, wrongly deleted {row['wrongly deleted']}, extra {row['extra']})"
        + (f": {row['wrong where'][:160]}" if row["wrong where"] else "")
    )


def disk_use(
    engine: sa.Engine, models: Sequence[CommonModel], truth: Truth, chosen: Sequence[str]
) -> dict[str, Any]:
    """Bytes per record of merge-pipeline's mirror tables and of dlt's tables, same records."""
    records = sum(len(truth[m.model_id]) for m in models)
    ours_schemas = sorted({mirror_tables()[m].schema or "" for m in models})
    dlt_schemas = [destinations.dlt_schema(DLT_PREFIX, c) for c in CATEGORIES]
    with engine.connect() as connection:
        ours = destinations.bytes_in_schemas(connection, ours_schemas)
        ours_json = destinations.json_bytes(connection, models)
        dlt = destinations.bytes_in_schemas(connection, dlt_schemas) if DLT in chosen else {}
    dlt_internal = sum(v for k, v in dlt.items() if "._dlt_" in k)
    ours_bytes = sum(ours.values())
    dlt_bytes = sum(dlt.values()) - dlt_internal
    return {
        "records": records,
        "ours bytes": ours_bytes,
        "dlt bytes": dlt_bytes,
        "dlt internal bytes": dlt_internal,
        "ours bytes/record": round(ours_bytes / records, 1) if records else None,
        "ours JSON bytes/record": round(ours_json / records, 1) if records else None,
        "dlt bytes/record": round(dlt_bytes / records, 1) if records and dlt else None,
        "dlt tables": len([k for k in dlt if "._dlt_" not in k]),
        "ours tables": len(ours),
    }
