"""A real receiver (uvicorn on a free port, in a thread) fed by a real sandbox, on PostgreSQL."""

import contextlib
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import URL

from merge_pipeline.merge.client import MergeClient
from merge_pipeline.settings import Settings
from merge_pipeline.warehouse.pipeline_tables import linked_accounts, webhook_inbox
from merge_pipeline.warehouse.vault import TokenVault
from merge_pipeline.webhooks.server import bind, make_server
from merge_pipeline.webhooks.signature import SIGNATURE_HEADER
from merge_pipeline_tests.conftest import SENTINEL_API_KEY, SENTINEL_SIGNING_KEY
from merge_sandbox.admin import SandboxAdmin
from merge_sandbox.testing import RunningSandbox, running_sandbox
from merge_sandbox.webhooks import sign

SENTINEL_RECEIVER_TOKEN = "rcv-SENTINEL-RECEIVER-TOKEN-5d1c07"
MAX_BODY_BYTES = 8192
_WAIT_SECONDS = 15.0


@contextlib.contextmanager
def running_receiver(
    settings: Settings, engine: sa.Engine, sock: socket.socket | None = None
) -> Iterator[str]:
    """Serve the receiver on ``sock`` (default: a free port of 127.0.0.1); yields its URL."""
    sock = sock or bind("127.0.0.1", 0)
    server = make_server(settings, engine, log_level="info")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + _WAIT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the receiver did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def receiver_settings(
    database_url: URL, encryption_key: str, base_url: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "api_key": SecretStr(SENTINEL_API_KEY),
        "token_encryption_key": SecretStr(encryption_key),
        "webhook_signing_key": SecretStr(SENTINEL_SIGNING_KEY),
        "receiver_token": SecretStr(SENTINEL_RECEIVER_TOKEN),
        "webhook_max_body_bytes": MAX_BODY_BYTES,
        "database_url": database_url.render_as_string(hide_password=False),
        "base_url": base_url,
        "rate_limit_per_minute": 100_000,
        **overrides,
    }
    return Settings(**values, _env_file=None)


@dataclass
class Stack:
    """A sandbox whose webhooks go to the receiver, and ways to look at what was stored."""

    sandbox: RunningSandbox
    receiver_url: str
    settings: Settings
    engine: sa.Engine
    vault: TokenVault

    @property
    def admin(self) -> SandboxAdmin:
        return self.sandbox.admin

    @property
    def webhook_url(self) -> str:
        return f"{self.receiver_url}/webhooks/merge"

    def link_account(self, category: str = "hris") -> dict[str, Any]:
        """An end user completes Merge Link: ``{public_token, account_id, is_relink}``."""
        origin = f"origin-{uuid.uuid4().hex[:10]}"
        with MergeClient(self.settings) as client:
            link = client.create_link_token(category, origin, "Acme", "it@acme.example", [category])
        return dict(
            self.admin.complete_link(link["link_token"], records=20, finish_initial_sync=False)
        )

    def sandbox_token(self, account_id: str) -> str:
        return next(a.account_token for a in self.admin.accounts() if a.id == account_id)

    def post_signed(self, body: bytes, key: str = SENTINEL_SIGNING_KEY) -> httpx.Response:
        headers = {SIGNATURE_HEADER: sign(body, key), "Content-Type": "application/json"}
        return httpx.post(self.webhook_url, content=body, headers=headers, timeout=10)

    def inbox_rows(self, **where: str) -> list[dict[str, Any]]:
        query = sa.select(webhook_inbox).where(
            *(webhook_inbox.c[name] == value for name, value in where.items())
        )
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def account_rows(self, account_id: str) -> list[dict[str, Any]]:
        query = sa.select(linked_accounts).where(linked_accounts.c.id == account_id)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def wait_until(self, condition: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + _WAIT_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up waiting for {what}")
            time.sleep(0.05)

    def delivered(self, event: str, account_id: str) -> list[dict[str, Any]]:
        """Delivery attempts of ``event`` for one account, as the sandbox logged them."""
        return [
            d
            for d in self.admin.deliveries()["deliveries"]
            if d.get("event") == event and account_id in d.get("body", "")
        ]


def receiver_log(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured log line but the sandbox's access log (it plays Merge, whose own request
    paths carry public tokens; uvicorn shares one access logger between servers of a process)."""
    return "\n".join(
        record.getMessage()
        for record in caplog.records
        if not (record.name == "uvicorn.access" and "/api/" in record.getMessage())
    )


def linked_body(account_id: str, token: str, category: str = "hris", nonce: str = "") -> bytes:
    """A linked-account webhook as Merge sends it (CONTRACT §6)."""
    return orjson.dumps(
        {
            "hook": {"id": f"hook-{nonce}", "event": "LinkedAccount.linked", "target": "x"},
            "linked_account": {
                "id": account_id,
                "integration": "BambooHR",
                "integration_slug": "bamboohr",
                "category": category,
                "end_user_origin_id": f"origin-{account_id}",
                "status": "COMPLETE",
            },
            "data": {"account_token": token, "is_relink": bool(nonce)},
        }
    )


@pytest.fixture(scope="package")
def stack(engine: sa.Engine, database_url: URL, encryption_key: str) -> Iterator[Stack]:
    """The receiver's port is bound first, so the sandbox starts knowing where to deliver."""
    sock = bind("127.0.0.1", 0)
    receiver_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with running_sandbox(
        accounts=1,
        records=20,
        # Sandbox ids follow from the seed; the session database holds other tests' accounts.
        seed=secrets.randbits(31),
        api_key=SENTINEL_API_KEY,
        categories=["hris"],
        webhook_url=f"{receiver_url}/webhooks/merge",
        signing_key=SENTINEL_SIGNING_KEY,
    ) as sandbox:
        settings = receiver_settings(database_url, encryption_key, sandbox.base_url)
        sandbox.admin.configure_webhooks(max_attempts=3, backoff_seconds=0.05)
        with running_receiver(settings, engine, sock):
            vault = TokenVault(settings.token_encryption_key)
            yield Stack(sandbox, receiver_url, settings, engine, vault)


@pytest.fixture
def receiver(stack: Stack) -> Iterator[Stack]:
    """The stack, with the sandbox's webhook settings put back after the test."""
    before = stack.admin.webhook_settings()
    yield stack
    stack.admin.configure_webhooks(
        url=before["url"],
        signing_key=before["signing_key"],
        duplicate_probability=before["duplicate_probability"],
    )
