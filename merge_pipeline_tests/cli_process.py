"""Running ``merge-pipeline`` as an operator does: its own process, only the settings given."""

import os
import subprocess
import sys
import tempfile


def run_cli(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """The CLI with no inherited MERGE_PIPELINE_* setting, away from any developer's .env."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MERGE_PIPELINE_")}
    return subprocess.run(
        [sys.executable, "-m", "merge_pipeline.cli", *args],
        env={**clean, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tempfile.gettempdir(),
    )
