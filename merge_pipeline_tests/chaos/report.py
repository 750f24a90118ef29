"""The run's report: scenarios, faults injected by kind, records compared, differences."""

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from merge_pipeline_tests.chaos.faults import FAULT_KINDS
from merge_pipeline_tests.chaos.scenario import Outcome


@dataclass
class Failure:
    """A failing scenario: its seed, its steps as generated and as shrunk, what differed."""

    seed: int
    steps: str
    shrunk: str
    differences: list[str]


@dataclass
class Report:
    scenarios: int = 0
    planned: int = 0
    families: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    records_compared: int = 0
    records_exempt: int = 0
    webhooks_compared: int = 0
    differences: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    database: str = ""

    def add(self, outcome: Outcome) -> None:
        self.scenarios += 1
        self.families[outcome.family] += 1
        self.faults.update(outcome.faults)
        self.records_compared += outcome.records_compared
        self.records_exempt += outcome.records_exempt
        self.webhooks_compared += outcome.webhooks_compared
        self.differences += len(outcome.differences)

    def missing_kinds(self, expected: set[str]) -> list[str]:
        """Fault kinds expected but never injected."""
        return sorted(k for k in expected if not self.faults.get(k))

    def as_json(self) -> dict[str, Any]:
        return {
            "scenarios": self.scenarios,
            "planned": self.planned,
            "families": dict(self.families),
            "faults_by_kind": {k: self.faults.get(k, 0) for k in FAULT_KINDS},
            "records_compared": self.records_compared,
            "records_under_deleted_parents": self.records_exempt,
            "webhooks_compared": self.webhooks_compared,
            "differences": self.differences,
            "failures": [f.__dict__ for f in self.failures],
            "seconds": round(self.seconds, 1),
            "database": self.database,
        }

    def text(self) -> str:
        width = max(len(k) for k in FAULT_KINDS)
        families = ", ".join(f"{k} {v}" for k, v in self.families.items())
        lines = [
            f"scenarios: {self.scenarios} of {self.planned} planned ({families})",
            f"faults injected: {sum(self.faults.values())}",
            *(f"  {k:<{width}} {self.faults.get(k, 0):>6}" for k in FAULT_KINDS),
            f"records compared: {self.records_compared} "
            f"(and {self.records_exempt} under deleted parents, left out)",
            f"webhooks compared: {self.webhooks_compared}",
            f"differences: {self.differences}",
            f"wall time: {self.seconds:.0f}s  (PostgreSQL: {self.database})",
        ]
        for failure in self.failures:
            lines += [
                f"FAILED seed {failure.seed}; replay: python -m merge_pipeline_tests.chaos "
                f"--seed {failure.seed} --scenarios 1",
                failure.steps,
                "shrunk to:",
                failure.shrunk,
                *(f"  ! {d}" for d in failure.differences[:12]),
            ]
        return "\n".join(lines)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n")
