"""The benchmarks' yardsticks: the minimum calls, rate-limit use, and the output they write."""

import json
from pathlib import Path

import pytest

from benchmarks.calls import minimum_calls
from benchmarks.rate_use import account_use, peak_in_window
from benchmarks.report import format_table, publish, ratio


@pytest.mark.parametrize(
    ("records", "incremental", "expected"),
    [
        (0, True, 1),  # an incremental sync must ask even when nothing changed
        (0, False, 0),
        (1, True, 1),
        (100, True, 1),
        (101, True, 2),
        (1000, False, 10),
        (1001, False, 11),
    ],
)
def test_minimum_calls(records: int, incremental: bool, expected: int) -> None:
    assert minimum_calls(records, incremental) == expected


@pytest.mark.parametrize(
    ("moments", "window", "expected"),
    [
        ([], 6.0, 0),
        ([0.0], 6.0, 1),
        ([0.0, 1.0, 2.0, 6.0], 6.0, 3),  # 6.0 is outside [0, 6)
        ([0.0, 5.9, 6.1, 11.0], 6.0, 3),
        ([0.0, 0.0, 0.0], 1.0, 3),
    ],
)
def test_peak_in_window(moments: list[float], window: float, expected: int) -> None:
    assert peak_in_window(moments, window) == expected


@pytest.mark.parametrize(
    ("moments", "accepted", "limit", "window", "expected"),
    [
        # 30 calls at 10 per 6 s: a perfect client needs 12 s between the first and the last
        ([0.0, 12.0], 30, 10, 6.0, 1.0),
        ([0.0, 24.0], 30, 10, 6.0, 0.5),
        ([0.0, 1.0], 10, 10, 6.0, None),  # one window: nothing to wait for, no figure
        ([], 0, 10, 6.0, None),
    ],
)
def test_account_use(
    moments: list[float], accepted: int, limit: int, window: float, expected: float | None
) -> None:
    assert account_use(moments, accepted, limit, window) == expected


def test_ratio_and_table() -> None:
    assert ratio(3, 2) == 1.5
    assert ratio(3, 0) is None
    table = format_table(
        [{"model": "hris.Employee", "calls": 3, "x": None}], ["model", "calls", "x"]
    )
    header, line = table.splitlines()
    assert header.split() == ["model", "calls", "x"]
    assert line.split() == ["hris.Employee", "3", "-"]


def test_publish_writes_json_and_png(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MERGE_PIPELINE_BENCH_RESULTS", str(tmp_path))
    rows = [
        {"sync": "initial", "calls": 25, "minimum": 25},
        {"sync": "0%", "calls": 16, "minimum": 16},
    ]
    publish(
        "example",
        "Example",
        rows,
        ["sync", "calls", "minimum"],
        parameters={"records": 10},
        plot={"x": "sync", "y": ["calls", "minimum"]},
        notes=["a note"],
    )
    document = json.loads((tmp_path / "example.json").read_text())
    assert document["rows"] == rows
    assert document["parameters"] == {"records": 10}
    printed = capsys.readouterr().out
    assert "Example" in printed and "a note" in printed
    pytest.importorskip("matplotlib")
    assert (tmp_path / "example.png").read_bytes().startswith(b"\x89PNG")
