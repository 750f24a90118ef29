"""A service that dies is named with how it ended, and the demo says what it stops because of it."""

import os
import signal
import sys

import pytest

from merge_pipeline.processes import ManagedProcess, death_notice, describe_exit


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0, "merge-sandbox exited with code 0"),
        (3, "merge-sandbox exited with code 3"),
        (-signal.SIGKILL, "merge-sandbox was killed by SIGKILL (exit code -9)"),
        (-signal.SIGSEGV, "merge-sandbox was killed by SIGSEGV (exit code -11)"),
        (None, "merge-sandbox is still running"),
    ],
)
def test_describe_exit(code: int | None, expected: str) -> None:
    assert describe_exit("merge-sandbox", code) == expected


def test_the_notice_names_what_else_is_stopped_and_who_that_hurts() -> None:
    assert death_notice("merge-sandbox", 1, ["dagster", "PostgreSQL"]) == (
        "merge-sandbox exited with code 1 unexpectedly; stopping dagster, PostgreSQL as well: "
        "commands still using them (a sync in another terminal) will fail, and report what "
        "they lost"
    )
    assert death_notice("dagster", -9, []) == (
        "dagster was killed by SIGKILL (exit code -9) unexpectedly"
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import sys; sys.exit(7)", "exited with code 7"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "killed by SIGKILL"),
    ],
)
def test_a_real_process_that_dies_is_described_by_its_end(code: str, expected: str) -> None:
    process = ManagedProcess("victim", [sys.executable, "-c", code])
    process.start()
    try:
        process._process.wait(timeout=60)  # type: ignore[union-attr]
        assert expected in describe_exit(process.name, process.exit_code)
    finally:
        process.stop()


def test_kill_ends_a_process_that_ignores_sigterm_and_it_can_start_again() -> None:
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    process = ManagedProcess("stubborn", [sys.executable, "-c", stubborn])
    process.start()
    try:
        pid = process._process.pid  # type: ignore[union-attr]
        process.kill()
        assert not process.running
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # the whole group is gone
        process.start()
        assert process.running
    finally:
        process.stop(grace_s=0.1)
