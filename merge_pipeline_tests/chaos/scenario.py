"""Running one scenario on the shared stack: its steps, the convergence, the oracle's verdict.

Convergence here is what an operator (or the Dagster family's sensors) would do after the
storm: faults lifted (adversity stays on), the receiver up, webhook deliveries settled, the
visibility lag waited out, then ``merge-pipeline sync`` until one run exits 0 (at most three).
The verdict compares every model of the account with the sandbox's ground truth, and the
webhook inbox with Merge's deliveries: every acknowledged webhook stored, none invented.
"""

import hashlib
import json
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from merge_pipeline.catalog import CommonModel, load_catalog
from merge_pipeline.warehouse.pipeline_tables import webhook_inbox
from merge_pipeline_tests.chaos.stack import SYNC_TIMEOUT_S, ChaosStack
from merge_pipeline_tests.chaos.steps import ADVERSITIES, Scenario, Step
from merge_pipeline_tests.linking import link_sandbox_account
from merge_pipeline_tests.oracle import compare, mirror_rows, truth_records

#: switches under which only a full listing finds deletions: those scenarios sweep every sync
SWEEPING = ("hard_deletes", "delete_without_bump", "unflagged_deletes")
#: the sandbox's webhook settings between scenarios (retries quick enough for a restart)
KIND_WEBHOOKS = {
    "duplicate_probability": 0.0,
    "delay_probability": 0.0,
    "reorder_probability": 0.0,
    "max_attempts": 5,
    "backoff_seconds": 0.5,
    "delay_seconds": 1.0,
}
CONVERGENCE_ATTEMPTS = 3
#: a few pages per listing, so a fault can land between two pages of one listing
PAGE_SIZE = 20
#: a sync step's pacing: each Merge answer this slow, so faults land mid-fetch
PACING_S = 0.08


@dataclass
class Outcome:
    """What one scenario did and found."""

    seed: int
    family: str
    faults: Counter[str] = field(default_factory=Counter)
    records_compared: int = 0
    #: records under a deleted parent, left out of the comparison (see under_deleted_parents)
    records_exempt: int = 0
    webhooks_compared: int = 0
    differences: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: where the time went: (step, seconds)
    timings: list[tuple[str, float]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.differences)


@dataclass
class Run:
    """One scenario in progress."""

    stack: ChaosStack
    scenario: Scenario
    outcome: Outcome
    account_id: str = ""
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def admin(self) -> Any:
        return self.stack.admin

    def count(self, kind: str, times: int = 1) -> None:
        if times > 0:
            self.outcome.faults[kind] += times


def prepare(stack: ChaosStack, scenario: Scenario, outcome: Outcome) -> Run:
    """The sandbox set as the scenario says, and a fresh account mirrored nowhere yet."""
    admin = stack.admin
    admin.clear_faults()
    admin.reset_adversity()
    admin.clear_deliveries()
    admin.configure_webhooks(**{**KIND_WEBHOOKS, **scenario.webhooks})
    admin.skew_clock(scenario.skew_seconds)
    run = Run(stack, scenario, outcome)
    if scenario.skew_seconds:
        run.count("clock_skew")
    admin.set_adversity(**scenario.adversity)
    for kind, (switch, _) in ADVERSITIES.items():
        run.count(kind, int(switch in scenario.adversity))
    run.overrides = {"MERGE_PIPELINE_PAGE_SIZE": str(PAGE_SIZE)}
    if any(scenario.adversity.get(s) for s in SWEEPING):
        run.overrides["MERGE_PIPELINE_DELETION_SWEEP_S"] = "0"
    info = link_sandbox_account(
        admin, stack.engine, stack.vault, scenario.category, scenario.records
    )
    run.account_id = info.id
    return run


def change(run: Run, step: Step) -> None:
    args = step.args
    amounts = {k: int(args[k]) for k in ("creates", "updates", "deletes")}
    if args["via"] == "merge_sync":
        run.admin.sync(run.account_id, **amounts)
    else:
        run.admin.mutate(run.account_id, **amounts)
    run.count("records_created", amounts["creates"])
    run.count("records_updated", amounts["updates"])
    hard = bool(run.scenario.adversity.get("hard_deletes"))
    run.count("hard_deletes" if hard else "soft_deletes", amounts["deletes"])


def _api_fault(run: Run, kind: str, count: int) -> None:
    admin, account = run.admin, run.account_id
    if kind == "rate_limit_storm":
        admin.error_burst(count, status=429, account_id=account)
    elif kind == "server_error_burst":
        admin.error_burst(count, status=(500, 502, 503)[count % 3], account_id=account)
    elif kind == "slow_responses":
        admin.slow_responses(1.0, count=count, account_id=account)
    elif kind == "dropped_connections":
        admin.drop_connections(count=count, fraction=0.4, account_id=account)


def _wait_for_first_call(run: Run, process: subprocess.Popen[bytes], before: int) -> None:
    """Until the sync has reached Merge (its imports take a second) or ended."""
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        if run.admin.count_requests(account_id=run.account_id) > before:
            return
        time.sleep(0.05)


def _during(run: Run, kind: str, process: subprocess.Popen[bytes]) -> None:
    """One fault in the middle of a running sync (counted only if it still ran)."""
    if process.poll() is not None:
        return
    if kind == "mutations_during_fetch":
        for _ in range(4):
            if process.poll() is not None:
                break
            run.admin.mutate(run.account_id, creates=1, updates=2, deletes=1)
            run.count("mutations_during_fetch")
            time.sleep(0.15)
    elif kind == "pg_connections_cut":
        run.count("pg_connections_cut", int(run.stack.cut_connections() > 0))
    elif kind == "pg_restarted":
        run.stack.restart_postgres()
        run.count("pg_restarted")
    elif kind == "relink_needed":
        run.admin.make_relink_needed(run.account_id)
        run.count("relink_needed")
        time.sleep(0.5)
        run.admin.set_account_status(run.account_id, "COMPLETE")


def sync(run: Run, step: Step) -> int | None:
    """One ``merge-pipeline sync`` with the step's faults; its exit code (None: hung)."""
    args = step.args
    paced = bool(args.get("during") or args.get("kill_after"))
    if paced:
        run.admin.slow_responses(PACING_S, count=None, account_id=run.account_id)
    if args.get("api_fault"):
        _api_fault(run, args["api_fault"], int(args["fault_count"]))
        run.count(args["api_fault"])
    before = run.admin.count_requests(account_id=run.account_id)
    process = run.stack.start_sync(run.account_id, **run.overrides)
    started = time.monotonic()
    if paced:
        _wait_for_first_call(run, process, before)
    if args.get("during"):
        time.sleep(float(args["during_after"]) / 3)
        _during(run, args["during"], process)
    if args.get("kill_after"):
        time.sleep(max(0.0, float(args["kill_after"]) / 3))
        if run.stack.kill(process):
            run.count("sync_killed")
    try:
        code = process.wait(max(1.0, SYNC_TIMEOUT_S - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        run.stack.kill(process)
        run.outcome.differences.append(f"a sync ran over {SYNC_TIMEOUT_S:.0f}s (hung)")
        return None
    finally:
        run.admin.clear_faults()
    return code


def _settle_deliveries(run: Run, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = run.admin.deliveries()
        if answer["pending"] == 0 or time.monotonic() > deadline:
            return list(answer["deliveries"])
        time.sleep(0.1)


def receiver_kill(run: Run, step: Step) -> None:
    """A Merge sync's webhooks on their way while the receiver is SIGKILLed and restarted."""
    run.admin.sync(run.account_id, creates=int(step.args["creates"]))
    run.count("records_created", int(step.args["creates"]))
    time.sleep(float(step.args["kill_after"]))
    run.stack.restart_receiver()
    run.count("receiver_killed")


def webhooks_lost(run: Run, step: Step) -> None:
    """Webhooks sent while the receiver is down, with no retry left: never delivered."""
    run.admin.configure_webhooks(max_attempts=1)
    earlier = {d["event_id"] for d in _settle_deliveries(run)}
    run.stack.receiver.kill()
    try:
        run.admin.sync(run.account_id, creates=int(step.args["creates"]))
        run.count("records_created", int(step.args["creates"]))
        log = [d for d in _settle_deliveries(run) if d["event_id"] not in earlier]
        lost = [d for d in log if not d["delivered"] and _account_of(d) == run.account_id]
        run.count("webhook_lost", len(lost))
    finally:
        run.stack.restart_receiver(kill=False)
        run.admin.configure_webhooks(max_attempts=KIND_WEBHOOKS["max_attempts"])


def skew(run: Run, step: Step) -> None:
    run.admin.skew_clock(run.scenario.skew_seconds + float(step.args["seconds"]))
    run.count("clock_skew")


STEPS = {
    "change": change,
    "sync": sync,
    "receiver_kill": receiver_kill,
    "webhooks_lost": webhooks_lost,
    "skew": skew,
}


def _account_of(delivery: dict[str, Any]) -> str | None:
    try:
        return str(json.loads(delivery["body"])["linked_account"]["id"])
    except (KeyError, TypeError, ValueError):
        return None


def converge(run: Run) -> None:
    """Faults lifted, receiver up, deliveries settled, lag waited out; sync until it succeeds."""
    admin = run.admin
    admin.clear_faults()
    if not run.stack.receiver.running:
        run.stack.restart_receiver(kill=False)
    _settle_deliveries(run)
    time.sleep(float(run.scenario.adversity.get("visibility_lag_seconds", 0.0)) + 0.2)
    codes = []
    # changed-parents lists a nested model's children under new or changed parents only, and
    # every parent once per relist period: convergence is "after that bound", so it is tiny here
    overrides = {**run.overrides, "MERGE_PIPELINE_NESTED_FULL_RELIST_HOURS": "0.0001"}
    for _ in range(CONVERGENCE_ATTEMPTS):
        process = run.stack.start_sync(run.account_id, **overrides)
        try:
            codes.append(process.wait(SYNC_TIMEOUT_S))
        except subprocess.TimeoutExpired:
            run.stack.kill(process)
            codes.append(-1)
        if codes[-1] == 0:
            return
    run.outcome.differences.append(f"no convergence: the last syncs exited {codes}")


def under_deleted_parents(run: Run, model: CommonModel) -> set[str]:
    """Keys of a nested model's records whose parent Merge deleted.

    The engine lists a deleted parent's children once more after it sees the deletion, then
    leaves them as Merge last listed them (``merge_pipeline.sync.nested_policy``): Merge does
    not change what hangs under a deleted record. The sandbox's random changes do not know
    that rule, so such children are left out of the comparison (and counted).
    """
    if not model.is_nested:
        return set()
    parent_model = f"{model.category}.{model.path_params[0].model}"
    parents = run.admin.parent_keys(run.account_id, model.model_id)
    truth = run.admin.records(run.account_id, parent_model)
    gone = set(truth.deleted) | (set(parents.values()) - set(truth.by_key()))
    return {child for child, parent in parents.items() if parent in gone}


def verdict(run: Run) -> None:
    """The oracle over every model of the account, and the inbox against the deliveries."""
    catalog = load_catalog()
    for model_id in catalog.category(run.scenario.category).models:
        model = catalog.model(f"{run.scenario.category}.{model_id}")
        exempt = under_deleted_parents(run, model)
        rows = mirror_rows(run.stack.engine, run.account_id, model.model_id)
        truth = truth_records(run.admin, run.account_id, model.model_id)
        comparison = compare(
            model,
            {k: v for k, v in rows.items() if k not in exempt},
            {k: v for k, v in truth.items() if k not in exempt},
        )
        run.outcome.records_compared += comparison.compared
        run.outcome.records_exempt += len(exempt & set(truth))
        run.outcome.differences += [f"{model.model_id} {d}" for d in comparison.differences]
    _compare_webhooks(run)


def _compare_webhooks(run: Run) -> None:
    log = [d for d in run.admin.deliveries()["deliveries"] if _account_of(d) == run.account_id]
    digest = lambda d: hashlib.sha256(d["body"].encode()).hexdigest()  # noqa: E731
    sent = {digest(d) for d in log}
    acknowledged = {digest(d) for d in log if d["delivered"]}
    with run.stack.engine.connect() as connection:
        stored = set(
            connection.scalars(
                sa.select(webhook_inbox.c.body_sha256).where(
                    webhook_inbox.c.linked_account_id == run.account_id
                )
            )
        )
    run.outcome.webhooks_compared += len(sent)
    run.outcome.differences += [
        f"webhook {h[:12]} acknowledged but not in the inbox" for h in acknowledged - stored
    ]
    run.outcome.differences += [f"webhook {h[:12]} in the inbox, never sent" for h in stored - sent]
    firsts = [d for d in log if d.get("attempt") == 1]
    run.count("webhook_duplicated", sum(1 for d in firsts if d.get("copy") == 1))
    run.count("webhook_delayed", sum(1 for d in firsts if "delayed" in d.get("notes", ())))
    run.count("webhook_reordered", sum(1 for d in firsts if "reordered" in d.get("notes", ())))


def run_scenario(stack: ChaosStack, scenario: Scenario) -> Outcome:
    """Every step, the convergence and the verdict; a step that raises is a difference too."""
    started = time.monotonic()
    outcome = Outcome(scenario.seed, scenario.family)
    run = prepare(stack, scenario, outcome)
    outcome.timings.append(("prepare", time.monotonic() - started))
    for number, step in enumerate(scenario.steps, 1):
        begun = time.monotonic()
        try:
            STEPS[step.kind](run, step)
        except Exception as error:  # the harness reports, it does not stop
            outcome.differences.append(f"step {number} {step} raised {error!r:.200}")
        outcome.timings.append((str(step), time.monotonic() - begun))
    begun = time.monotonic()
    converge(run)
    outcome.timings.append(("converge", time.monotonic() - begun))
    begun = time.monotonic()
    verdict(run)
    outcome.timings.append(("verdict", time.monotonic() - begun))
    stack.admin.skew_clock(0)
    outcome.seconds = time.monotonic() - started
    return outcome
