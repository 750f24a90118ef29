"""Airbyte's Merge source, run the Airbyte way: ``read`` with a config and a configured catalog.

The connector (``airbyte-source-merge`` 0.1.15) covers ATS only: twelve Common Model streams
(plus ``account_details`` and ``sync_status``, left out here as they are no Common Models), all
full refresh (it declares no cursor, so every sync re-reads everything; the state it emits is
still carried to the next read, as a platform would). Its records go to stdout; the
destination kept here is what a full-refresh *overwrite* destination would hold: each stream's
records of the latest read, reduced to ``(modified_at, remote_was_deleted)`` by id.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.peers.correctness import Row, instant
from benchmarks.peers.measure import Measured, run_measured

LAUNCHER_DIR = Path(__file__).resolve().parent
#: the connector's stream names and the Common Models they carry
STREAMS: Mapping[str, str] = {
    "activities": "ats.Activity",
    "applications": "ats.Application",
    "attachments": "ats.Attachment",
    "candidates": "ats.Candidate",
    "departments": "ats.Department",
    "eeocs": "ats.Eeoc",
    "interviews": "ats.ScheduledInterview",
    "job_interview_stages": "ats.JobInterviewStage",
    "jobs": "ats.Job",
    "offers": "ats.Offer",
    "offices": "ats.Office",
    "users": "ats.RemoteUser",
}
VARIANTS = ("as-published", "paging-fixed")


def configured_catalog() -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
            for name in STREAMS
        ]
    }


@dataclass
class AirbyteRead:
    """What one read brought: records per model, the state to carry, error messages."""

    tables: dict[str, dict[str, Row]] = field(default_factory=dict)
    state: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    records: int = 0


def parse_messages(lines: Any) -> AirbyteRead:
    """Fold the Airbyte protocol messages of a read into an overwrite destination."""
    read = AirbyteRead(tables={model: {} for model in STREAMS.values()})
    for line in lines:
        if not line.strip().startswith("{"):
            continue
        message = json.loads(line)
        kind = message.get("type")
        if kind == "RECORD":
            body = message["record"]
            model = STREAMS.get(body["stream"])
            if model is None:
                continue
            data = body["data"]
            read.records += 1
            read.tables[model][str(data["id"])] = Row(
                instant(data.get("modified_at")), bool(data.get("remote_was_deleted"))
            )
        elif kind == "STATE":
            read.state.append(message["state"])
        elif kind == "TRACE" and message["trace"].get("type") == "ERROR":
            read.errors.append(str(message["trace"]["error"].get("message", ""))[:200])
        elif kind == "LOG" and message["log"].get("level") in ("ERROR", "FATAL"):
            read.errors.append(str(message["log"].get("message", ""))[:200])
    return read


class AirbyteRunner:
    """One variant of the connector for one ATS account, state carried between reads."""

    def __init__(self, python: Path, base_url: str, variant: str, config: Mapping[str, str]):
        self.python = python
        self.base_url = base_url
        self.variant = variant
        self.folder = Path(tempfile.mkdtemp(prefix=f"peer-airbyte-{variant}-"))
        config_path = self.folder / "config.json"
        config_path.touch(mode=0o600)
        config_path.write_text(json.dumps(dict(config)))  # tokens: a 0600 file, as Airbyte does
        (self.folder / "catalog.json").write_text(json.dumps(configured_catalog()))
        self.state: list[Any] = []
        self.last: AirbyteRead | None = None

    def read(self) -> tuple[Measured, AirbyteRead]:
        arguments = [
            self.base_url, self.variant, "read",
            "--config", str(self.folder / "config.json"),
            "--catalog", str(self.folder / "catalog.json"),
        ]  # fmt: skip
        if self.state:
            (self.folder / "state.json").write_text(json.dumps(self.state))
            arguments += ["--state", str(self.folder / "state.json")]
        output = self.folder / "stdout.jsonl"
        measured = run_measured(
            self.python,
            "airbyte_launch",
            arguments,
            environment={**os.environ},
            module_path=LAUNCHER_DIR,
            stdout_file=output,
            check=False,  # the published connector fails its streams: that is a result
        )
        with output.open() as lines:
            read = parse_messages(lines)
        output.rename(output.with_suffix(".last"))
        if read.state:
            self.state = read.state
        self.last = read
        return measured, read

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
