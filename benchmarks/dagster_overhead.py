"""What Dagster adds to a sync: run overhead with the in-process vs the multiprocess executor.

A real daemon on a PostgreSQL instance launches runs of the hris job for one small account
(nothing changed after the first sync, so the sync itself is a few dozen calls). Printed per
executor: the median time from submission to the run's end, from start to end, and the sync's
own duration inside the run (summed from the engine's results), so the difference is Dagster's.
Then, per job, where a run's time goes (median seconds between its event-log milestones:
queued, process start + imports, code load + plan, each step, the end) and its event-log rows
by type, so a change to the code location can be read against each phase.

Run: ``python -m benchmarks.dagster_overhead [--runs N]``.
"""

import argparse
import collections
import statistics
import threading
import time
from collections.abc import Mapping, Sequence

import dagster as dg
import psutil
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.report import publish, ratio
from benchmarks.support import bench_database
from merge_pipeline.warehouse.accounts import LinkedAccount, save_account
from merge_pipeline.warehouse.pipeline_tables import sync_runs
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_pipeline_tests.dagster_stack import DagsterStack, dagster_stack
from merge_sandbox.testing import running_sandbox

API_KEY = "bench-api-key"
JOBS = ("sync_hris", "sync_hris_multiprocess")
Timings = list[tuple[float, float, float]]


#: a run's milestones in its event log, in order: (phase ending there, how to recognise it)
def _kind(entry: dg.EventLogEntry) -> str:
    return entry.dagster_event_type.value if entry.dagster_event_type else "log message"


PHASES = (
    ("queued", lambda e: _kind(e) == "PIPELINE_STARTING"),
    ("process start + imports", lambda e: "Started process for run" in (e.message or "")),
    ("code load + plan", lambda e: _kind(e) == "PIPELINE_START"),
)


def run_phases(entries: Sequence[dg.EventLogEntry], sync_s: float) -> dict[str, float]:
    """Seconds between a run's milestones: the phases above, each step (the sync step split
    into the engine's sync and the rest), then the end (run success or failure)."""
    timed = sorted(entries, key=lambda e: e.timestamp)
    phases: dict[str, float] = {}
    previous = timed[0].timestamp
    for name, reached in PHASES:
        at = next((e.timestamp for e in timed if reached(e)), previous)
        phases[name] = at - previous
        previous = at
    starts = {e.step_key: e.timestamp for e in timed if _kind(e) == "STEP_START"}
    for entry in timed:
        if _kind(entry) in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key:
            phases[f"step {entry.step_key}"] = entry.timestamp - starts[entry.step_key]
    mirror = next((key for key in phases if key.endswith("_mirror")), None)
    if mirror is not None:
        phases[f"{mirror}: sync"] = sync_s
        phases[f"{mirror}: rest"] = phases.pop(mirror) - sync_s
    steps_end = max((e.timestamp for e in timed if e.step_key), default=previous)
    phases["end"] = timed[-1].timestamp - steps_end
    return phases


def event_counts(entries: Sequence[dg.EventLogEntry]) -> collections.Counter[str]:
    return collections.Counter(_kind(e) for e in entries)


def _timed_runs(
    stack: DagsterStack, engine: sa.Engine, job: str, account: str, runs: int
) -> tuple[Timings, list[dict[str, float]], list[collections.Counter[str]]]:
    """(submit -> end, start -> end, sync seconds), phases and event counts of each of ``runs``
    sequential runs."""
    figures, phases, counts = [], [], []
    cpu = ProcessCpu(stack.daemon.pid if stack.daemon else None)
    for _ in range(runs):
        before = len(stack.runs_of(account))
        cpu_before = cpu.totals()
        stack.launch(job, account)
        [*_, run] = stack.wait_for_runs(account, before + 1)
        [record] = stack.instance.get_run_records(filters=dg.RunsFilter(run_ids=[run.run_id]))
        with engine.connect() as connection:
            sync_s = sum(
                float(stats.get("duration_s", 0.0))
                for (stats,) in connection.execute(
                    sa.select(sync_runs.c.stats).where(sync_runs.c.sync_run_id == run.run_id)
                )
            )
        end = record.end_time or time.time()
        figures.append(
            (end - record.create_timestamp.timestamp(), end - (record.start_time or end), sync_s)
        )
        entries = stack.instance.all_logs(run.run_id)
        time.sleep(1.0)  # the worker exits just after its last event
        cpu_after = cpu.totals()
        phases.append(
            {
                **run_phases(entries, sync_s),
                **{name: cpu_after[name] - cpu_before[name] for name in cpu_before},
            }
        )
        counts.append(event_counts(entries))
    cpu.stop()
    return figures, phases, counts


class ProcessCpu:
    """CPU seconds of the daemon, its code server and the run workers the code server spawns,
    sampled every 0.1 s (a worker's last sample is at most that much short)."""

    def __init__(self, daemon_pid: int | None) -> None:
        self._daemon = psutil.Process(daemon_pid) if daemon_pid is not None else None
        self._workers: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1) and self._daemon is not None:
            try:
                for process in self._daemon.children(recursive=True):
                    if "spawn_main" in " ".join(process.cmdline()):
                        self._workers[process.pid] = sum(process.cpu_times()[:2])
            except psutil.Error:
                continue

    def totals(self) -> dict[str, float]:
        if self._daemon is None:
            return {}
        servers = 0.0
        for child in self._daemon.children():
            try:
                servers += sum(child.cpu_times()[:2])
            except psutil.Error:
                continue
        return {
            "cpu daemon": sum(self._daemon.cpu_times()[:2]),
            "cpu code server": servers,
            "cpu run workers": sum(self._workers.values()),
        }

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def median_table(samples: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per key, the median over samples (a key a sample lacks counts as 0)."""
    keys = dict.fromkeys(key for sample in samples for key in sample)
    return {key: statistics.median(sample.get(key, 0.0) for sample in samples) for key in keys}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Dagster run overhead per executor")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--jobs", nargs="+", default=list(JOBS), choices=JOBS, help="executors to compare"
    )
    args = parser.parse_args(argv)
    key = generate_key()
    with (
        running_sandbox(accounts=1, records=100, api_key=API_KEY, categories=["hris"]) as sandbox,
        bench_database("bench_dagster") as engine,
    ):
        [account] = sandbox.accounts
        with engine.begin() as connection:
            save_account(
                connection,
                LinkedAccount(id=account.id, category="hris"),
                SecretStr(account.account_token),
                TokenVault(SecretStr(key)),
            )
        environment = {
            "MERGE_PIPELINE_API_KEY": API_KEY,
            "MERGE_PIPELINE_BASE_URL": sandbox.base_url,
            "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": key,
            "MERGE_PIPELINE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "MERGE_PIPELINE_RATE_LIMIT_PER_MINUTE": "100000",
            "MERGE_PIPELINE_DISCOVERY_INTERVAL_S": "10",
        }
        with dagster_stack(engine.url, environment, module="benchmarks.overhead_location") as stack:
            stack.wait_for_runs(account.id, 1)  # the discovery sensor's initial sync
            results = {
                job: _timed_runs(stack, engine, job, account.id, args.runs) for job in args.jobs
            }
    rows = []
    for job, (figures, phases, counts) in results.items():
        print(f"{job}: median seconds per phase")
        for phase, seconds in median_table(phases).items():
            print(f"  {phase:40s} {seconds:7.2f}")
        print(f"{job}: event-log rows per run (median), by type")
        for kind, count in sorted(median_table(counts).items(), key=lambda kv: -kv[1]):
            print(f"  {kind:40s} {count:7.0f}")
        print(f"  {'total':40s} {statistics.median(sum(c.values()) for c in counts):7.0f}")
        submit, run, sync = (statistics.median(column) for column in zip(*figures, strict=True))
        rows.append(
            {
                "job": job,
                "submit->end s": submit,
                "start->end s": run,
                "sync s": sync,
                "overhead in run s": run - sync,
                "run / sync": ratio(run, sync),
            }
        )
    notes = []
    if len(rows) == 2:
        overhead = ratio(rows[1]["overhead in run s"], max(rows[0]["overhead in run s"], 1e-9))
        notes.append(f"multiprocess / in-process overhead: {overhead}x")
    publish(
        "dagster_overhead",
        f"Dagster run overhead, hris account, {args.runs} runs each (median seconds)",
        rows,
        ["job", "submit->end s", "start->end s", "sync s", "overhead in run s", "run / sync"],
        parameters=vars(args),
        plot={"x": "job", "y": ["submit->end s", "start->end s", "sync s"], "ylabel": "seconds"},
        notes=notes,
    )


if __name__ == "__main__":
    main()
