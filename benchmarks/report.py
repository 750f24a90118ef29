"""Every benchmark's output: a table on stdout, its figures as JSON and a PNG plot.

Files go to ``benchmarks/results/`` (git-ignored; ``MERGE_PIPELINE_BENCH_RESULTS`` moves it):
``<name>.json`` holds the rows and the run's parameters, ``<name>.png`` a bar or line plot of
one figure. matplotlib is an optional (dev) dependency: without it the PNG is skipped and the
table says so in one line.
"""

import json
import os
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Row = Mapping[str, Any]


def results_dir() -> Path:
    default = Path(__file__).resolve().parent / "results"
    path = Path(os.environ.get("MERGE_PIPELINE_BENCH_RESULTS", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def ratio(value: float, reference: float) -> float | None:
    """``value / reference``, or None when there is nothing to compare against."""
    return round(value / reference, 3) if reference else None


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def format_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """Fixed-width text: one header line, one line per row."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


def publish(
    name: str,
    title: str,
    rows: Sequence[Row],
    columns: Sequence[str],
    *,
    parameters: Mapping[str, Any],
    plot: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Print ``title``, the table and ``notes``; write ``name.json`` and ``name.png``.

    ``plot``: ``{"x": column, "y": [columns], "kind": "bar" | "line", "ylabel": text}``.
    """
    print(title)
    print(format_table(rows, columns))
    for note in notes:
        print(f"  {note}")
    folder = results_dir()
    document = {
        "benchmark": name,
        "title": title,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "parameters": dict(parameters),
        "rows": [dict(r) for r in rows],
        "notes": list(notes),
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    if plot is not None:
        written = _plot(folder / f"{name}.png", title, rows, plot)
        print(f"  -> {path}" + (f", {written}" if written else " (no PNG: matplotlib missing)"))
    else:
        print(f"  -> {path}")
    return path


def _plot(path: Path, title: str, rows: Sequence[Row], plot: Mapping[str, Any]) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    labels = [str(r.get(plot["x"])) for r in rows]
    series: list[str] = list(plot["y"])
    figure, axes = plt.subplots(figsize=(max(6.0, 0.5 * len(labels) + 3), 4.5))
    if plot.get("kind", "bar") == "line":
        for column in series:
            axes.plot(labels, [r.get(column) or 0 for r in rows], marker="o", label=column)
    else:
        width = 0.8 / len(series)
        for index, column in enumerate(series):
            axes.bar(
                [i + index * width for i in range(len(labels))],
                [r.get(column) or 0 for r in rows],
                width=width,
                label=column,
            )
        axes.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))])
        axes.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    if plot.get("log"):
        axes.set_yscale("log")
    axes.set_ylabel(str(plot.get("ylabel", "")))
    axes.set_title(title[:90], fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
