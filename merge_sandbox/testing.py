"""Run a sandbox for tests: in a background thread, or as a ``merge-sandbox serve`` subprocess.

Both yield the Merge API base URL (``http://127.0.0.1:PORT/api``, paths exactly as for
``https://api.merge.dev/api``), a ``SandboxAdmin``, the accounts with their tokens and the API
key. ``WebhookReceiver`` is a minimal HTTP endpoint that records what the sandbox POSTs.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from merge_sandbox.admin import AccountInfo, SandboxAdmin
from merge_sandbox.adversity import Adversity, adversity_from_environment
from merge_sandbox.clock import VirtualClock
from merge_sandbox.config import DEFAULT_API_KEY, DEFAULT_SIGNING_KEY, SandboxConfig
from merge_sandbox.server import base_url as socket_base_url
from merge_sandbox.server import bind, make_server
from merge_sandbox.state import Sandbox
from merge_sandbox.webhooks import WebhookSettings

_READY_TIMEOUT_SECONDS = 60.0


class RunningSandbox(NamedTuple):
    """What the context managers yield; unpacks as ``base_url, admin, accounts, api_key``."""

    base_url: str
    admin: SandboxAdmin
    accounts: list[AccountInfo]
    api_key: str


@contextlib.contextmanager
def running_sandbox(
    accounts: int = 10,
    records: int = 2_000,
    seed: int = 1,
    api_key: str = DEFAULT_API_KEY,
    categories: Iterable[str] | None = None,
    webhook_url: str | None = None,
    signing_key: str = DEFAULT_SIGNING_KEY,
    config: SandboxConfig | None = None,
    adversity: Adversity | None = None,
    clock: VirtualClock | None = None,
) -> Iterator[RunningSandbox]:
    """Serve a fresh sandbox with uvicorn in a daemon thread on a free port of 127.0.0.1.

    Without ``adversity``, the switches come from ``MERGE_SANDBOX_ADVERSITY`` (all off if unset),
    so a whole test session can run against an adversarial sandbox.
    """
    config = config or SandboxConfig(api_key=api_key, seed=seed)
    sandbox = Sandbox(
        config=config,
        clock=clock,
        webhooks=WebhookSettings(url=webhook_url, signing_key=signing_key),
        adversity=adversity or adversity_from_environment(),
    )
    sandbox.populate(accounts, records, categories)
    sock = bind("127.0.0.1", 0)
    server = make_server(sandbox)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("sandbox server did not start")
        time.sleep(0.01)
    url = socket_base_url(sock)
    admin = SandboxAdmin(url)
    try:
        yield RunningSandbox(url, admin, admin.accounts(), config.api_key)
    finally:
        admin.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class SandboxProcess(NamedTuple):
    """A ``merge-sandbox serve`` subprocess; the first four fields match ``RunningSandbox``."""

    base_url: str
    admin: SandboxAdmin
    accounts: list[AccountInfo]
    api_key: str
    process: subprocess.Popen[bytes]
    startup_seconds: float


@contextlib.contextmanager
def sandbox_process(
    accounts: int = 10,
    records: int = 10_000,
    seed: int = 1,
    api_key: str = DEFAULT_API_KEY,
    extra_args: Iterable[str] = (),
    ready_timeout: float = _READY_TIMEOUT_SECONDS,
) -> Iterator[SandboxProcess]:
    """Run ``python -m merge_sandbox.cli serve`` on a free port in its own process group."""
    with tempfile.TemporaryDirectory() as workdir:
        accounts_file = Path(workdir) / "accounts.json"
        command = [
            sys.executable, "-m", "merge_sandbox.cli", "serve",
            "--accounts", str(accounts), "--records", str(records), "--seed", str(seed),
            "--api-key", api_key, "--host", "127.0.0.1", "--port", "0",
            "--accounts-file", str(accounts_file), *extra_args,
        ]  # fmt: skip
        started = time.monotonic()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, stdout=subprocess.PIPE, start_new_session=True, env=_child_env()
        )
        try:
            url = _wait_until_answering(process, accounts_file, ready_timeout)
            startup = time.monotonic() - started
            admin = SandboxAdmin(url)
            try:
                listed = admin.accounts()
                yield SandboxProcess(url, admin, listed, api_key, process, startup)
            finally:
                admin.close()
        finally:
            stop_process_group(process)


def _child_env() -> dict[str, str]:
    """Make ``merge_sandbox`` importable in the child whatever its working directory."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _wait_until_answering(
    process: subprocess.Popen[bytes], accounts_file: Path, timeout: float
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"merge-sandbox exited with {process.returncode}")
        if accounts_file.exists():
            with contextlib.suppress(ValueError, OSError):
                url = str(json.loads(accounts_file.read_text())["base_url"])
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(
                        url.removesuffix("/api") + "/_sandbox/health", timeout=1
                    ).is_success:
                        return url
        time.sleep(0.05)
    raise TimeoutError("merge-sandbox did not answer in time")


def stop_process_group(process: subprocess.Popen[bytes], grace_seconds: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it does not exit in time."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(grace_seconds)


# -- webhook receiver ---------------------------------------------------------------------


@dataclass
class ReceivedWebhook:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return str(self.json()["hook"]["event"])


@dataclass
class WebhookReceiver:
    """Records every POST; answers with ``statuses`` in turn (then 200)."""

    statuses: list[int] = field(default_factory=list)
    received: list[ReceivedWebhook] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self, webhook: ReceivedWebhook) -> int:
        with self._lock:
            self.received.append(webhook)
            return self.statuses.pop(0) if self.statuses else 200

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedWebhook]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"got {len(self.received)} webhooks, wanted {count}")
            time.sleep(0.02)
        return list(self.received)

    def events(self) -> list[str]:
        return [w.event for w in self.received]


@contextlib.contextmanager
def webhook_receiver(statuses: Iterable[int] = ()) -> Iterator[WebhookReceiver]:
    """Serve a ``WebhookReceiver`` on a free port of 127.0.0.1 in a daemon thread."""
    receiver = WebhookReceiver(statuses=list(statuses))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = receiver.next_status(ReceivedWebhook(dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/merge"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
