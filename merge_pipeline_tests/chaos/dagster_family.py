"""Scenarios through the deployed shape: a Dagster daemon and its code server, sensors and runs.

One daemon (PostgreSQL-backed instance, the repository's dagster.yaml) serves every scenario
of the family; they run before the CLI family, so its sensors see only their own accounts.
An account is stored, the discovery sensor makes it a partition and requests its first sync;
Merge syncs send webhooks to the receiver, the webhook sensor turns them into runs. Meanwhile
the daemon's whole process group (code server and run workers with it) is SIGKILLed and
started again, the code server alone is SIGKILLed (the daemon starts another), and Merge
answers with 429s and 5xx. Convergence: faults lifted, one more Merge sync, and the sensors
and runs alone must bring the mirror to the ground truth within a bound.
"""

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from merge_pipeline_tests.chaos.scenario import (
    Outcome,
    Run,
    _api_fault,
    _settle_deliveries,
    change,
    prepare,
    verdict,
)
from merge_pipeline_tests.chaos.stack import ChaosStack
from merge_pipeline_tests.chaos.steps import Scenario, Step
from merge_pipeline_tests.dagster_stack import DagsterStack, dagster_stack

#: how long sensors and runs get to converge after the faults (the bound the brief asks for)
CONVERGENCE_BOUND_S = 300.0
#: a Merge sync (and so webhooks) this often while not converged
NUDGE_EVERY_S = 60.0


@contextlib.contextmanager
def dagster_family_stack(stack: ChaosStack) -> Iterator[DagsterStack]:
    """The daemon, with sensors ticking fast, on the chaos stack's warehouse and receiver."""
    assert stack.postgres.server_url is not None
    environment = {k: v for k, v in stack.environment().items() if k.startswith("MERGE_PIPELINE_")}
    environment |= {
        "MERGE_PIPELINE_DISCOVERY_INTERVAL_S": "10",
        "MERGE_PIPELINE_WEBHOOK_SENSOR_INTERVAL_S": "5",
        "MERGE_PIPELINE_SYNC_STATUS_INTERVAL_S": "10",
        "MERGE_PIPELINE_WATCHDOG_INTERVAL_S": "5",
        "MERGE_PIPELINE_WATCHDOG_GRACE_S": "15",
        # changed-parents re-lists every parent once per period: the convergence bound here
        "MERGE_PIPELINE_NESTED_FULL_RELIST_HOURS": "0.0001",
    }
    with dagster_stack(stack.postgres.server_url, environment) as running:
        yield running


def code_server_pids(daemon_pid: int) -> list[int]:
    """The daemon's code servers: processes of its session whose command line says grpc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            session = int(stat.rsplit(")", 1)[1].split()[3])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            if session == daemon_pid and int(entry.name) != daemon_pid and b"grpc" in command:
                found.append(int(entry.name))
    return found


def _daemon_kill(run: Run, dagster: DagsterStack, step: Step) -> None:
    assert dagster.daemon is not None
    time.sleep(float(step.args["after"]))
    dagster.daemon.kill()
    run.count("daemon_killed")
    time.sleep(0.5)
    dagster.daemon.start()


def _code_server_kill(run: Run, dagster: DagsterStack, step: Step) -> None:
    assert dagster.daemon is not None and dagster.daemon.pid is not None
    time.sleep(float(step.args["after"]))
    for pid in code_server_pids(dagster.daemon.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            run.count("code_server_killed")


def _converge(run: Run) -> bool:
    """Faults lifted; Merge syncs now and then; True once the oracle finds nothing."""
    run.admin.clear_faults()
    if not run.stack.receiver.running:
        run.stack.restart_receiver(kill=False)
    deadline = time.monotonic() + CONVERGENCE_BOUND_S
    nudged = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() - nudged > NUDGE_EVERY_S:
            run.admin.sync(run.account_id)  # Merge's next sync: its webhooks wake the sensor
            nudged = time.monotonic()
        time.sleep(5.0)
        probe = Outcome(run.outcome.seed, run.outcome.family)
        verdict(Run(run.stack, run.scenario, probe, run.account_id, run.overrides))
        if not probe.differences:
            return True
    return False


def run_dagster_scenario(stack: ChaosStack, dagster: DagsterStack, scenario: Scenario) -> Outcome:
    """The scenario's steps against the daemon; convergence by sensors and runs; the verdict."""
    started = time.monotonic()
    outcome = Outcome(scenario.seed, scenario.family)
    run = prepare(stack, scenario, outcome)
    for number, step in enumerate(scenario.steps, 1):
        begun = time.monotonic()
        try:
            if step.kind == "change":
                change(run, step)
            elif step.kind == "daemon_kill":
                _daemon_kill(run, dagster, step)
            elif step.kind == "code_server_kill":
                _code_server_kill(run, dagster, step)
            elif step.kind == "api_fault":
                _api_fault(run, step.args["fault"], int(step.args["count"]))
                run.count(step.args["fault"])
            elif step.kind == "wait":
                time.sleep(float(step.args["seconds"]))
        except Exception as error:  # the harness reports, it does not stop
            outcome.differences.append(f"step {number} {step} raised {error!r:.200}")
        outcome.timings.append((str(step), time.monotonic() - begun))
    begun = time.monotonic()
    _settle_deliveries(run)
    converged = _converge(run)
    outcome.timings.append(("converge", time.monotonic() - begun))
    verdict(run)
    if not converged:
        runs = dagster.runs_of(run.account_id)
        failures = [dagster.failure_of(r)[:300] for r in runs if r.status.value == "FAILURE"]
        outcome.differences.insert(
            0,
            f"not converged within {CONVERGENCE_BOUND_S:.0f}s; runs "
            f"{[r.status.value for r in runs]}; failures {failures[-2:]}",
        )
    stack.admin.skew_clock(0)
    outcome.seconds = time.monotonic() - started
    return outcome
