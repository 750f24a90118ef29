"""Ports: a taken Dagster port fails at once in one line, and readiness means *our* answer."""

import json
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from merge_pipeline.demo import _free_port, is_dagster_answer
from merge_pipeline.processes import ManagedProcess, PortTaken, require_free_port
from merge_pipeline_tests.operator.helpers import clean_environment, run_cli


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


class _NotDagster(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"detail": "not found"}).encode()
        self.send_response(404 if self.path != "/server_info" else 200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[int]:
    """Another program's web server, answering everything (even /server_info) with JSON."""
    server = HTTPServer(("127.0.0.1", 0), _NotDagster)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_demo_stops_at_once_with_one_line_naming_the_taken_port(
    taken_port: int, tmp_path: Path
) -> None:
    result = run_cli(
        "demo", "--port", str(taken_port), "--data-dir", str(tmp_path / "d"),
        env=clean_environment(), cwd=tmp_path, timeout_s=60,
    )  # fmt: skip
    assert (result.returncode, result.stderr.strip().splitlines()) == (
        2,
        [
            f"Error: port {taken_port} (Dagster UI) is already in use by another program; "
            f"choose another: make demo PORT={taken_port + 1} (or --port {taken_port + 1})"
        ],
    )


def test_a_taken_receiver_port_also_stops_the_demo_at_once_in_one_line(
    taken_port: int, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    result = run_cli(
        "demo", "--port", str(free), "--receiver-port", str(taken_port),
        "--data-dir", str(tmp_path / "d"), env=clean_environment(), cwd=tmp_path, timeout_s=60,
    )  # fmt: skip
    assert (result.returncode, result.stderr.strip().splitlines()) == (
        2,
        [
            f"Error: port {taken_port} (webhook receiver) is already in use by another program; "
            f"choose another: make demo RECEIVER_PORT={taken_port + 1} "
            f"(or --receiver-port {taken_port + 1})"
        ],
    )


def test_require_free_port_names_the_port_and_the_service(taken_port: int) -> None:
    with pytest.raises(PortTaken, match=f"port {taken_port} \\(merge-sandbox\\)"):
        require_free_port(taken_port, "merge-sandbox", "pick another")


def test_a_taken_sandbox_port_is_swapped_for_a_free_one(taken_port: int) -> None:
    assert _free_port(taken_port) != taken_port


def test_another_servers_answer_does_not_count_as_dagster_ready(other_server: int) -> None:
    waiting = ManagedProcess(
        "dagster",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        ready_url=f"http://127.0.0.1:{other_server}/server_info",
        ready_check=is_dagster_answer,
    )
    waiting.start()
    try:
        with pytest.raises(TimeoutError, match="dagster did not answer"):
            waiting.wait_ready(timeout_s=1.0)
    finally:
        waiting.stop()


def test_a_service_that_dies_before_ready_is_named_with_its_exit_code(other_server: int) -> None:
    dying = ManagedProcess(
        "merge-sandbox",
        [sys.executable, "-c", "raise SystemExit(3)"],
        ready_url=f"http://127.0.0.1:{other_server}/_sandbox/health",
    )
    dying.start()
    with pytest.raises(RuntimeError, match=r"merge-sandbox exited \(code 3\) before it was ready"):
        dying.wait_ready(timeout_s=60)
