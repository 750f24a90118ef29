"""dlt, run as its user would: ``dlt_peer`` in the dlt virtualenv, one process per sync.

The job file holds no secret (the database is reached with trust authentication); the API key
and account tokens go through the child's environment. dlt keeps its incremental cursors in its
pipelines folder (and in the destination), which lives as long as this runner: one trial.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import sqlalchemy as sa

from benchmarks.peers.destinations import PeerModel
from benchmarks.peers.measure import Measured, run_measured

SCRIPT_DIR = Path(__file__).resolve().parent
PREFIX = "dlt"


def database_parameters(url: sa.URL) -> str:
    """dlt's connection string for the benchmark's database. dlt insists on a host; for a unix
    socket, libpq's ``host`` query parameter (the socket folder) overrides the placeholder."""
    plain = url.set(drivername="postgresql")
    if not plain.host:
        plain = plain.set(host="localhost")
    if not plain.username:
        plain = plain.set(username="postgres")
    return plain.render_as_string(hide_password=False)


class DltRunner:
    """One dlt setup (pipelines folder, datasets) for the accounts of one trial."""

    def __init__(
        self,
        python: Path,
        base_url: str,
        models: Sequence[PeerModel],
        url: sa.URL,
        api_key: str,
        tokens: Mapping[str, str],
    ) -> None:
        self.python = python
        self.folder = Path(tempfile.mkdtemp(prefix="peer-dlt-"))
        categories = sorted({m.category for m in models})
        job = {
            "base_url": base_url.rstrip("/"),
            "categories": categories,
            "models": [asdict(m) for m in models],
            "database": database_parameters(url),
            "pipelines_dir": str(self.folder / "pipelines"),
            "dataset_prefix": PREFIX,
        }
        (self.folder / "job.json").write_text(json.dumps(job))
        self.environment = {
            **os.environ,
            "PEER_MERGE_API_KEY": api_key,
            **{f"PEER_ACCOUNT_TOKEN_{c.upper()}": t for c, t in tokens.items()},
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "RUNTIME__LOG_LEVEL": "WARNING",
        }

    def sync(self) -> Measured:
        return run_measured(
            self.python,
            "dlt_peer",
            [str(self.folder / "job.json")],
            environment=self.environment,
            module_path=SCRIPT_DIR,
        )

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
