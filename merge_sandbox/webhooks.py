"""Merge -> you webhooks: envelope, signature, and delivery with retries and misbehaviour.

Deliveries run as asyncio tasks on the server's event loop: each event is POSTed to the
configured URL, retried with exponential backoff on a non-2xx answer or a connection failure,
and may be duplicated, delayed or overtaken by later events when a test asks for that.
"""

import asyncio
import base64
import hashlib
import hmac
import random
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import orjson

from merge_sandbox.config import DEFAULT_SIGNING_KEY
from merge_sandbox.timefmt import to_iso

SIGNATURE_HEADER = "X-Merge-Webhook-Signature"
#: Event names by role; the reference confirms only ``LinkedAccount.linked`` (CONTRACT §6).
DEFAULT_EVENT_NAMES = {
    "linked": "LinkedAccount.linked",
    "account_synced": "LinkedAccount.synced",
    "model_synced": "{model}.synced",
    "issue_new": "Issue.new",
    "issue_resolved": "Issue.resolved",
}
_REORDER_DELAY_SECONDS = 0.3
_DUPLICATE_GAP_SECONDS = 0.05


@dataclass
class WebhookSettings:
    """Where and how to deliver; every field can be changed through the admin API."""

    url: str | None = None
    signing_key: str = DEFAULT_SIGNING_KEY
    strip_padding: bool = False
    hook_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    event_names: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_EVENT_NAMES))
    max_attempts: int = 5
    backoff_seconds: float = 0.5
    backoff_factor: float = 2.0
    timeout_seconds: float = 5.0
    duplicate_probability: float = 0.0
    delay_probability: float = 0.0
    delay_seconds: float = 1.0
    reorder_probability: float = 0.0

    def event_name(self, role: str, model: str = "") -> str:
        return self.event_names.get(role, DEFAULT_EVENT_NAMES[role]).format(model=model)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sign(body: bytes, key: str, strip_padding: bool = False) -> str:
    """Base64url(HMAC-SHA256(key, raw body)), as CONTRACT §6 describes Merge's signature."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    text = base64.urlsafe_b64encode(digest).decode()
    return text.rstrip("=") if strip_padding else text


def verify(body: bytes, key: str, header: str) -> bool:
    """The receiver's check from CONTRACT §6: compare ignoring ``=`` padding, in constant time."""
    expected = sign(body, key, strip_padding=True)
    return hmac.compare_digest(expected, header.rstrip("="))


def envelope(
    settings: WebhookSettings, event: str, linked_account: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "hook": {"id": settings.hook_id, "event": event, "target": settings.url},
        "linked_account": linked_account,
        "data": data,
    }


class WebhookDispatcher:
    """Schedules deliveries on the running event loop and records every attempt."""

    def __init__(self, settings: WebhookSettings, seed: int) -> None:
        self.settings = settings
        self.log: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._random = random.Random(seed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    @property
    def pending(self) -> int:
        return sum(1 for t in self._tasks if not t.done())

    def emit(
        self, role: str, linked_account: dict[str, Any], data: dict[str, Any], model: str = ""
    ) -> str | None:
        """Queue one event for delivery (nothing happens without a configured URL)."""
        settings = self.settings
        name = settings.event_name(role, model)
        event_id = str(uuid.uuid4())
        self.events.append(
            {"event_id": event_id, "event": name, "emitted_at": to_iso(time.time_ns() // 1000)}
        )
        if not settings.url:
            return None
        body = orjson.dumps(envelope(settings, name, linked_account, data))
        delay = 0.0
        notes = []
        if self._random.random() < settings.delay_probability:
            delay += settings.delay_seconds
            notes.append("delayed")
        if self._random.random() < settings.reorder_probability:
            delay += _REORDER_DELAY_SECONDS
            notes.append("reordered")
        copies = 2 if self._random.random() < settings.duplicate_probability else 1
        for copy in range(copies):
            extra = delay + copy * _DUPLICATE_GAP_SECONDS
            self._spawn(self._deliver(event_id, name, body, settings.url, extra, copy, notes))
        return event_id

    def _spawn(self, coroutine: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # used without a server (unit tests): nothing can be delivered
            coroutine.close()
            self.log.append({"event": None, "delivered": False, "error": "no event loop"})
            return
        task = loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self,
        event_id: str,
        name: str,
        body: bytes,
        url: str,
        delay: float,
        copy: int,
        notes: list[str],
    ) -> None:
        if delay:
            await asyncio.sleep(delay)
        settings = self.settings
        signature = sign(body, settings.signing_key, settings.strip_padding)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature,
            "User-Agent": "Merge/Webhooks",
        }
        wait = settings.backoff_seconds
        for attempt in range(1, settings.max_attempts + 1):
            status, error = await self._post(url, body, headers, settings.timeout_seconds)
            ok = status is not None and 200 <= status < 300
            self.log.append(
                {
                    "event_id": event_id,
                    "event": name,
                    "attempt": attempt,
                    "copy": copy,
                    "notes": notes,
                    "status_code": status,
                    "error": error,
                    "delivered": ok,
                    "sent_at": to_iso(time.time_ns() // 1000),
                    "signature": signature,
                    "body": body.decode(),
                }
            )
            if ok or attempt == settings.max_attempts:
                return
            await asyncio.sleep(wait)
            wait *= settings.backoff_factor

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> tuple[int | None, str | None]:
        if self._client is None:
            self._client = httpx.AsyncClient()
        try:
            response = await self._client.post(url, content=body, headers=headers, timeout=timeout)
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"
        return response.status_code, None

    def clear_log(self) -> None:
        self.log.clear()
        self.events.clear()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
