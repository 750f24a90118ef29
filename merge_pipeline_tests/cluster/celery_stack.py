"""The cluster profile as deployed, on this machine: a daemon launching runs onto Celery workers.

The instance is ``deploy/celery/dagster.yaml`` as shipped (runs go to the broker through
Dagster's CeleryRunLauncher); workers start with the documented command; everything they need
comes from the environment. A Redis MONITOR connection records every command the broker sees,
so a test can read what the tasks carried.
"""

import base64
import binascii
import os
import re
import secrets
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from merge_pipeline.processes import ManagedProcess
from merge_pipeline_tests.dagster_stack import BIN, REPOSITORY, DagsterStack

CLUSTER_INSTANCE = REPOSITORY / "deploy" / "celery" / "dagster.yaml"
WORKER_CONFIG = REPOSITORY / "deploy" / "celery" / "worker.yaml"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

#: a kombu message's body, base64 inside the JSON envelope the broker stores
_BODY = re.compile(r'"body":\s*"([A-Za-z0-9+/=]+)"')


def sized_instance(worker_slots: int) -> Path:
    """The cluster profile with ``max_concurrent_runs`` = the workers' slots, as documented: a
    run launched beyond them waits on the broker as STARTING, and run monitoring fails it once
    it has waited ``start_timeout_seconds``."""
    config = yaml.safe_load(CLUSTER_INSTANCE.read_text())
    config["concurrency"]["runs"]["max_concurrent_runs"] = worker_slots
    path = Path(tempfile.mkdtemp(prefix="mpc-")) / "dagster.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def broker_unavailable() -> str | None:
    """Why the cluster tests cannot run here (None: they can)."""
    try:
        import dagster_celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        return "the `cluster` extra (dagster-celery, celery[redis]) is not installed"
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(16).startswith(b"+PONG"):
                raise OSError("not Redis")
    except OSError:
        return f"no Redis broker answers on {REDIS_HOST}:{REDIS_PORT} (the cluster tests need one)"
    return None


def celery_environment() -> dict[str, str]:
    """The broker settings of one test session: a queue of its own on the shared Redis."""
    return {
        "DAGSTER_CELERY_BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
        "DAGSTER_CELERY_BACKEND_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/1",
        "DAGSTER_CELERY_QUEUE": f"mp-cluster-{os.getpid()}-{secrets.token_hex(3)}",
    }


@dataclass
class Workers:
    """Celery worker processes, each in its own process group (a host of its own, as it were)."""

    stack: DagsterStack
    processes: list[ManagedProcess] = field(default_factory=list)

    def start(self, name: str) -> ManagedProcess:
        env = {**self.stack.env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        worker = ManagedProcess(
            name,
            [
                str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                "-y", str(WORKER_CONFIG), "-q", env["DAGSTER_CELERY_QUEUE"], "-n", name,
                "--loglevel", "WARNING", "--", "--concurrency=1",
            ],
            env=env,
            cwd=self.stack.home,
            log_file=self.stack.home / f"{name}.log",
        )  # fmt: skip
        worker.start()
        self.processes.append(worker)
        return worker

    def owner_of(self, pid: int) -> ManagedProcess:
        """The worker whose process group ``pid`` belongs to."""
        group = os.getpgid(pid)
        [owner] = [
            w for w in self.processes if w.running and w._process and w._process.pid == group
        ]
        return owner

    def stop(self) -> None:
        for worker in self.processes:
            worker.stop()


@contextmanager
def workers(stack: DagsterStack, count: int) -> Iterator[Workers]:
    running = Workers(stack)
    try:
        for number in range(count):
            running.start(f"worker{number + 1}")
        yield running
    finally:
        running.stop()


@dataclass
class BrokerLog:
    """Every command the Redis broker received while it ran, and the task bodies decoded."""

    chunks: list[bytes] = field(default_factory=list)

    def text(self) -> str:
        """The commands and every message body in them, decoded: all the broker carried."""
        # MONITOR quotes each argument and escapes the quotes inside
        commands = b"".join(self.chunks).decode("utf-8", "replace").replace('\\"', '"')
        bodies = []
        for encoded in _BODY.findall(commands):
            try:
                bodies.append(base64.b64decode(encoded).decode("utf-8", "replace"))
            except (binascii.Error, ValueError):
                continue
        return "\n".join([commands, *bodies])


@contextmanager
def broker_log() -> Iterator[BrokerLog]:
    """Record the broker's traffic (Redis MONITOR) for as long as the block runs."""
    log = BrokerLog()
    stopping = threading.Event()
    connection = socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=5.0)
    connection.sendall(b"MONITOR\r\n")
    if not connection.recv(5).startswith(b"+OK"):
        raise RuntimeError("the broker refused MONITOR")
    connection.settimeout(0.5)

    def record() -> None:
        while not stopping.is_set():
            try:
                chunk = connection.recv(1 << 16)
            except TimeoutError:
                continue
            if not chunk:
                return
            log.chunks.append(chunk)

    thread = threading.Thread(target=record, daemon=True)
    thread.start()
    try:
        yield log
    finally:
        stopping.set()
        thread.join(timeout=10)
        connection.close()


def stop_schedules(stack: DagsterStack, names: list[str]) -> None:
    """Stop schedules as an operator would (``dagster schedule stop``)."""
    workspace = str(stack.home / "workspace.yaml")
    commands = [
        subprocess.Popen(
            [str(BIN / "dagster"), "schedule", "stop", name, "-w", workspace],
            env=stack.env, cwd=stack.home, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for name in names
    ]  # fmt: skip
    for command in commands:
        _, errors = command.communicate(timeout=300)
        if command.returncode:
            raise RuntimeError(f"dagster schedule stop failed: {errors.decode()[-2000:]}")


def worker_logs(stack: DagsterStack) -> str:
    """What the workers wrote (for assertion messages)."""
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in Path(stack.home).glob("*.log"))
