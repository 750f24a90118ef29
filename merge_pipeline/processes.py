"""Child processes that stop cleanly: each in its own session, stopped as a whole group.

``dagster dev`` started from a non-interactive shell ignores SIGINT/SIGTERM and leaves code
servers behind (STACK-NOTES.md), so the demo starts every service in a new session with default
signal handling and, to stop it, signals the whole process group, escalating to SIGKILL.

A service is ready only when its own answer comes back: another program on the same port answers
too (a 404 is still an answer), so each service names a check of the response's content.
"""

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

log = logging.getLogger(__name__)
ReadyCheck = Callable[[httpx.Response], bool]


class PortTaken(RuntimeError):
    """The port a service must listen on already has a listener (another program)."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` can be bound now (nobody listens there)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def require_free_port(port: int, service: str, hint: str, host: str = "127.0.0.1") -> None:
    """Fail at once, in one line naming the port, instead of waiting on a server that can't bind."""
    if not port_is_free(port, host):
        raise PortTaken(f"port {port} ({service}) is already in use by another program; {hint}")


def describe_exit(name: str, code: int | None) -> str:
    """How a service ended, in words: its exit code, or the signal that killed it."""
    if code is None:
        return f"{name} is still running"
    if code < 0:
        try:
            signal_name = signal.Signals(-code).name
        except ValueError:
            signal_name = f"signal {-code}"
        return f"{name} was killed by {signal_name} (exit code {code})"
    return f"{name} exited with code {code}"


def death_notice(name: str, code: int | None, stopping: Sequence[str]) -> str:
    """What the demo says when a service dies: which one, how, and what it stops because of it
    (so a command still using the stack, e.g. a sync in another terminal, is not left to guess)."""
    what = f"{describe_exit(name, code)} unexpectedly"
    if not stopping:
        return what
    return (
        f"{what}; stopping {', '.join(stopping)} as well: commands still using them (a sync in "
        "another terminal) will fail, and report what they lost"
    )


def answers_ok(response: httpx.Response) -> bool:
    """The weakest readiness check: a 200 (use a content check where the service has one)."""
    return response.status_code == 200


@dataclass
class ManagedProcess:
    """A service process: started in its own session, stopped with its whole group."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    ready_url: str | None = None
    ready_check: ReadyCheck = answers_ok
    cwd: Path | None = None
    #: where its output goes (appended); None: the demo's own terminal
    log_file: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        output = None
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            output = self.log_file.open("ab")
        try:
            self._process = subprocess.Popen(  # noqa: S603 - argv is ours, never a shell string
                list(self.argv),
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,
                restore_signals=True,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
            )
        finally:
            if output is not None:
                output.close()  # the child holds its own copy
        log.info("started %s (pid %d)", self.name, self._process.pid)

    @property
    def exit_code(self) -> int | None:
        """The exit code once the process has ended, else None."""
        return None if self._process is None else self._process.poll()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id (its group's and session's too) once started, else None."""
        return None if self._process is None else self._process.pid

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Poll ``ready_url`` until *this* service answers; fail early if the process dies."""
        if self.ready_url is None:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                code = self._process.returncode if self._process else None
                raise RuntimeError(f"{self.name} exited (code {code}) before it was ready")
            try:
                if self.ready_check(httpx.get(self.ready_url, timeout=2.0)):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"{self.name} did not answer {self.ready_url} within {timeout_s:.0f}s")

    def kill(self) -> None:
        """SIGKILL the process group at once, as a crash would end it (no clean shutdown);
        ``start`` may then start it again."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=30)
        log.info("killed %s", self.name)
        self._process = None

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after ``grace_s``."""
        if self._process is None:
            return
        pgid = self._process.pid
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self._process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            if not _group_alive(pgid):
                break
        log.info("stopped %s", self.name)
        self._process = None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
