"""One child process measured: wall time, CPU (its own and its children's) and its own peak RSS.

The peak RSS is the child's ``VmHWM`` written at exit by ``benchmarks/peak_rss.py``, run by the
child's own interpreter (a peer's virtualenv or ours): ``wait4``'s ``ru_maxrss`` would carry
this benchmark's size across the fork (see ``benchmarks.peak_rss``).
"""

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PEAK_RSS_SCRIPT = Path(__file__).resolve().parents[1] / "peak_rss.py"


@dataclass(frozen=True)
class Measured:
    """What one child cost, and what it printed."""

    seconds: float
    cpu_s: float
    peak_rss_mib: float
    stdout: str
    exit_code: int = 0


class ChildFailed(RuntimeError):
    """A peer's child process exited non-zero; the message carries its last stderr line."""


def run_measured(
    python: str | Path,
    module: str,
    arguments: Sequence[str],
    *,
    environment: Mapping[str, str],
    module_path: str | Path | None = None,
    stdout_file: Path | None = None,
    check: bool = True,
) -> Measured:
    """Run ``python -m module arguments`` (``module_path`` put first on ``PYTHONPATH``).

    ``stdout_file``: stdout goes there instead of being kept in memory (an Airbyte read prints
    every record). ``check=False``: a failing child is measured like any other (its exit code
    is in the result) rather than raised.
    """
    env = dict(environment)
    if module_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(module_path), env.get("PYTHONPATH", "")) if p
        )
    with tempfile.TemporaryDirectory() as folder:
        peak = Path(folder) / "peak_kib"
        errors = Path(folder) / "stderr"
        out = stdout_file if stdout_file is not None else Path(folder) / "stdout"
        # a copy, so that the script's folder (first on the child's path) holds nothing else
        script = Path(folder) / "peak_rss.py"
        shutil.copyfile(PEAK_RSS_SCRIPT, script)
        command = [str(python), str(script), str(peak), module, *arguments]
        started = time.perf_counter()
        with out.open("wb") as sink, errors.open("wb") as error_sink:
            process = subprocess.Popen(command, env=env, stdout=sink, stderr=error_sink)
            _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        exit_code = os.waitstatus_to_exitcode(status)
        if check and exit_code != 0:
            said = errors.read_text(errors="replace").strip() or out.read_text(errors="replace")
            tail = said.strip().splitlines()[-3:]
            raise ChildFailed(f"{module} failed: {' | '.join(tail) or 'no stderr'}")
        peak_mib = int(peak.read_text()) / 1024 if peak.exists() else float("nan")
        text = "" if stdout_file is not None else out.read_text(errors="replace")
    return Measured(elapsed, usage.ru_utime + usage.ru_stime, peak_mib, text, exit_code)
