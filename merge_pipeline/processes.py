"""Child processes that stop cleanly: each in its own session, stopped as a whole group.

``dagster dev`` started from a non-interactive shell ignores SIGINT/SIGTERM and leaves code
servers behind (STACK-NOTES.md), so the demo starts every service in a new session with default
signal handling and, to stop it, signals the whole process group, escalating to SIGKILL.
"""

import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

log = logging.getLogger(__name__)


@dataclass
class ManagedProcess:
    """A service process: started in its own session, stopped with its whole group."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    ready_url: str | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - argv is ours, never a shell string
            list(self.argv),
            env={**os.environ, **self.env},
            start_new_session=True,
            restore_signals=True,
        )
        log.info("started %s (pid %d)", self.name, self._process.pid)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Poll ``ready_url`` until it answers; fail early if the process dies."""
        if self.ready_url is None:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited before it was ready")
            try:
                if httpx.get(self.ready_url, timeout=2.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"{self.name} did not answer {self.ready_url} within {timeout_s:.0f}s")

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
