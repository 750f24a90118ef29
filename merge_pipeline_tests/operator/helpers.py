"""Running the operator's commands as a newcomer does: real processes, a clean environment."""

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

MERGE_PIPELINE = str(Path(sys.executable).parent / "merge-pipeline")


def clean_environment(**extra: str) -> dict[str, str]:
    """The test's environment without any MERGE_PIPELINE_* or DAGSTER_* setting, plus ``extra``."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MERGE_PIPELINE_", "DAGSTER_"))
    }
    return kept | extra


def run_cli(
    *args: str,
    env: Mapping[str, str],
    cwd: Path,
    timeout_s: float = 120,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MERGE_PIPELINE, *args],
        env=dict(env),
        input=input_text,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def every_command_line() -> list[str]:
    """The command line of every process on the machine, as ``ps`` shows them to any user."""
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (OSError, UnicodeDecodeError):
                continue
    return lines
