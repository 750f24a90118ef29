"""Per-trial ratios against merge-pipeline and their medians over trials (pure functions)."""

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]
#: the figures compared, and the name of their ratio column
FIGURES = {
    "seconds": "x ours s",
    "CPU s": "x ours CPU",
    "peak RSS MiB": "x ours RSS",
    "calls": "x ours calls",
}
WRONG = ("missing", "stale", "wrongly deleted", "extra")


def _ratio(value: float, reference: float) -> float | None:
    if not reference or math.isnan(value) or math.isnan(reference):
        return None
    return round(value / reference, 3)


def with_ratios(rows: Sequence[Row], reference: str) -> list[dict[str, Any]]:
    """Each row with its figures over the ``reference`` peer's in the same trial and phase."""
    ours = {(r["trial"], r["phase"]): r for r in rows if r["peer"] == reference}
    out = []
    for row in rows:
        base = ours.get((row["trial"], row["phase"]))
        extra = {
            label: _ratio(float(row[figure]), float(base[figure])) if base else None
            for figure, label in FIGURES.items()
        }
        out.append({**row, **extra})
    return out


def median(values: Sequence[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return round(statistics.median(present), 3) if present else None


def medians(
    rows: Sequence[Row], phases: Sequence[str], peers: Sequence[str]
) -> list[dict[str, Any]]:
    """Per phase and peer: the median figure and ratio over trials; wrong rows at their worst."""
    summary = []
    for phase in phases:
        for peer in peers:
            group = [r for r in rows if r["phase"] == phase and r["peer"] == peer]
            if not group:
                continue
            entry: dict[str, Any] = {"phase": phase, "peer": peer, "trials": len(group)}
            for figure, label in FIGURES.items():
                entry[figure] = median([r[figure] for r in group])
                entry[label] = median([r.get(label) for r in group])
            for column in (*WRONG, "wrong", "checked"):
                entry[column] = max(int(r[column]) for r in group)
            entry["label"] = f"{phase}: {peer}"
            summary.append(entry)
    return summary
