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
import os
import random
import shutil
import statistics
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.peers import destinations, venvs
from benchmarks.peers.airbyte_runner import STREAMS, AirbyteRunner
from benchmarks.peers.correctness import Row, Verdict, compare, instant
from benchmarks.peers.dlt_runner import DltRunner
from benchmarks.peers.measure import Measured, run_measured
from benchmarks.support import bench_database
from merge_pipeline.catalog import CommonModel, load_catalog
from merge_pipeline.sync.runner import dependency_order
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.vault import TokenVault, generate_key
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


def truth_of(admin: SandboxAdmin, accounts: Mapping[str, AccountInfo], models: Sequence[CommonModel]) -> Truth:
    truth: Truth = {}
    for model in models:
        ground = admin.records(accounts[model.category].id, model.model_id)
        truth[model.model_id] = {
            key: Row(instant(record.get("modified_at")), key in ground.deleted)
            for key, record in ground.by_key().items()
        }
    return truth


def change_records(
    admin: SandboxAdmin, accounts: Mapping[str, AccountInfo], truth: Truth, models: Sequence[CommonModel]
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
        admin.update_records(account, model.model_id, picked[:cut])
        counts["updated"] += cut
        if picked[cut:]:
            admin.delete_records(account, model.model_id, picked[cut:])
            counts["deleted"] += len(picked) - cut
    return counts


def judge(truth: Truth, held: Mapping[str, Mapping[str, Row]]) -> Verdict:
    verdict = Verdict()
    for model_id, rows in held.items():
        verdict = verdict + compare(truth[model_id], rows)
    return verdict


def median_ratio(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return round(statistics.median(present), 3) if present else None
