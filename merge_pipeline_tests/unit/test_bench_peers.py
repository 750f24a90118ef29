"""The peer benchmark's judges: the comparator against ground truth, Airbyte's messages folded
into an overwrite destination, the ratios and medians, and dlt's connection string.

No virtualenv is made here: the peers themselves only run under ``make bench-peers``.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from benchmarks.peers.airbyte_runner import STREAMS, configured_catalog, parse_messages
from benchmarks.peers.correctness import Row, Verdict, compare, instant
from benchmarks.peers.dlt_runner import database_parameters
from benchmarks.peers.summary import medians, with_ratios
from benchmarks.peers.venvs import NoInterpreter, Peer, interpreter

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)


def test_a_destination_equal_to_the_truth_has_nothing_wrong() -> None:
    truth = {"a": Row(T0, False), "b": Row(LATER, True)}
    assert compare(truth, {"a": Row(T0, False), "b": Row(LATER, True)}) == Verdict(2)


@pytest.mark.parametrize(
    ("held", "expected"),
    [
        ({}, Verdict(1, missing=1)),  # live at Merge, never mirrored
        ({"a": Row(T0 - timedelta(seconds=1), False)}, Verdict(1, stale=1)),  # an old version
        ({"a": Row(None, False)}, Verdict(1, stale=1)),  # no modified_at: cannot be current
        ({"a": Row(T0, True)}, Verdict(1, wrongly_deleted=1)),  # live at Merge, gone here
        ({"a": Row(LATER, False)}, Verdict(1)),  # newer than the truth: not stale
        ({"a": Row(T0, False), "z": Row(T0, False)}, Verdict(1, extra=1)),  # a key Merge never had
    ],
)
def test_each_kind_of_wrong_row_is_counted_once(held: dict[str, Row], expected: Verdict) -> None:
    assert compare({"a": Row(T0, False)}, held) == expected


def test_a_deletion_not_applied_is_stale_and_one_never_seen_is_right() -> None:
    truth = {"gone": Row(LATER, True), "never seen": Row(LATER, True)}
    verdict = compare(truth, {"gone": Row(T0, False)})
    assert (verdict.stale, verdict.missing, verdict.wrong) == (1, 0, 1)


def test_timestamps_from_json_and_from_the_driver_compare_equal() -> None:
    assert instant("2026-01-01T00:00:00Z") == instant(T0) == T0
    assert instant("2026-01-01T01:00:00+01:00") == T0
    assert instant(None) is None


def test_airbyte_messages_become_the_latest_read_of_each_stream() -> None:
    lines = [
        json.dumps(
            {
                "type": "RECORD",
                "record": {
                    "stream": "jobs",
                    "data": {"id": "j1", "modified_at": "2026-01-01T00:00:00Z"},
                },
            }
        ),
        json.dumps({"type": "RECORD", "record": {"stream": "sync_status", "data": {"id": "x"}}}),
        json.dumps({"type": "STATE", "state": {"type": "STREAM"}}),
        json.dumps({"type": "TRACE", "trace": {"type": "ERROR", "error": {"message": "404"}}}),
        "a line that is no message",
    ]
    read = parse_messages(lines)
    assert read.tables["ats.Job"] == {"j1": Row(T0, False)}
    assert read.records == 1  # sync_status is no Common Model
    assert (read.state, read.errors) == ([{"type": "STREAM"}], ["404"])


def test_the_configured_catalog_asks_every_common_model_stream_in_full() -> None:
    streams = configured_catalog()["streams"]
    assert [s["stream"]["name"] for s in streams] == list(STREAMS)
    assert {s["sync_mode"] for s in streams} == {"full_refresh"}


def _row(trial: int, peer: str, seconds: float, calls: int, stale: int = 0) -> dict[str, object]:
    return {
        "trial": trial,
        "phase": "initial",
        "peer": peer,
        "seconds": seconds,
        "CPU s": seconds / 2,
        "peak RSS MiB": 100.0,
        "calls": calls,
        "missing": 0,
        "stale": stale,
        "wrongly deleted": 0,
        "extra": 0,
        "wrong": stale,
        "checked": 10,
    }


def test_ratios_are_per_trial_and_the_summary_takes_their_median() -> None:
    rows = [
        _row(1, "ours", 10, 32),
        _row(1, "dlt", 20, 32),
        _row(2, "ours", 40, 32),
        _row(2, "dlt", 40, 64, stale=3),
        _row(3, "ours", 10, 32),
        _row(3, "dlt", 50, 32),
    ]
    ratios = with_ratios(rows, "ours")
    assert [r["x ours s"] for r in ratios if r["peer"] == "dlt"] == [2.0, 1.0, 5.0]
    [_, dlt] = medians(ratios, ["initial"], ["ours", "dlt"])
    # the median of the ratios (2), not the ratio of the medians (40 / 10 = 4)
    assert (dlt["x ours s"], dlt["seconds"], dlt["x ours calls"]) == (2.0, 40.0, 1.0)
    assert dlt["stale"] == 3  # wrong rows at their worst trial, never averaged away


def test_dlt_reaches_a_unix_socket_database_through_libpq_host_parameter() -> None:
    url = sa.make_url("postgresql+psycopg2://postgres:@/bench?host=/tmp/pg")
    text = database_parameters(url)
    parsed = sa.make_url(text)
    assert (parsed.drivername, parsed.host, parsed.database) == ("postgresql", "localhost", "bench")
    assert parsed.query["host"] == "/tmp/pg"


def test_a_peer_without_its_python_says_which_versions_it_needs() -> None:
    with pytest.raises(NoInterpreter, match=r"needs Python 2\.1 or 2\.0"):
        interpreter(Peer("ancient", ("x",), ("2.1", "2.0")))
