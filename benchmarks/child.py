"""A ``merge-pipeline`` command in a child process: its wall time, CPU and own peak RSS."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(environment: dict[str, str], *arguments: str) -> tuple[float, float, float]:
    """(seconds, peak RSS in MiB, CPU seconds) of ``merge-pipeline ARGUMENTS``.

    The RSS is the child's own (``benchmarks.peak_rss``), not ``wait4``'s, which would include
    the benchmark process's size at fork.
    """
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "peak_kib"
        command = [
            sys.executable, "-m", "benchmarks.peak_rss", str(output), "merge_pipeline.cli",
            *arguments,
        ]  # fmt: skip
        path = os.pathsep.join(p for p in (str(ROOT), environment.get("PYTHONPATH", "")) if p)
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env={**environment, "PYTHONPATH": path}, stdout=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"merge-pipeline {arguments[0]} failed")
        peak_mib = int(output.read_text()) / 1024
    return elapsed, peak_mib, usage.ru_utime + usage.ru_stime
