"""The ASGI application: Merge API under ``/api``, control API under ``/_sandbox``.

Cross-cutting behaviour lives here: the ``Date`` header from the virtual clock on every
response, request counting, injected faults, and the background tasks (webhook deliveries run
on the same loop; optional steady record changes; optional scheduled syncs, ``schedule.py``).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

from merge_sandbox import errors
from merge_sandbox.admin_api import AdminApi, BackgroundMutations, admin_router
from merge_sandbox.api import PER_ACCOUNT, MergeApi, dumps
from merge_sandbox.errors import ApiError
from merge_sandbox.faults import GARBLES
from merge_sandbox.schedule import SyncSchedule, tick
from merge_sandbox.state import Sandbox
from merge_sandbox.sync import apply_changes, set_paused
from merge_sandbox.timefmt import to_http_date

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

API_PREFIX = "/api"
_BACKGROUND_TICK_SECONDS = 0.1
_SCHEDULE_TICK_SECONDS = 0.25
log = logging.getLogger("merge_sandbox")


class DroppedConnection(Exception):
    """Raised after sending part of a body so the server closes the connection mid-response."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


def quiet_dropped_connections() -> None:
    """Keep uvicorn from logging a traceback for every deliberately dropped connection."""
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


async def _send_json(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def _send_truncated(send: Send, status: int, body: bytes, fraction: float) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    cut = max(0, min(len(body) - 1, int(len(body) * fraction)))
    await send({"type": "http.response.body", "body": body[:cut], "more_body": True})
    raise DroppedConnection


class SandboxApp:
    """The whole HTTP surface of one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.api = MergeApi(sandbox)
        self.background = BackgroundMutations()
        self.background.per_second = sandbox.config.trickle_per_minute / 60
        self.schedule = SyncSchedule(
            every_seconds=sandbox.config.sync_every_seconds,
            duration_seconds=sandbox.config.sync_duration_seconds,
        )
        self.admin = admin_router(AdminApi(sandbox, self.background, self.schedule))
        self._tasks: list[asyncio.Task[None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        clock = self.sandbox.clock

        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", to_http_date(clock.now_us()).encode()))
                message["headers"] = headers
            await send(message)

        path: str = scope["path"]
        if path.startswith(API_PREFIX + "/"):
            await self._merge(scope, receive, send_dated)
        elif path.startswith("/_sandbox/"):
            await self.admin(scope, receive, send_dated)
        else:
            await _send_json(
                send_dated, 404, dumps({"detail": self.sandbox.config.errors.not_found})
            )

    async def _merge(self, scope: Scope, receive: Receive, send: Send) -> None:
        sandbox = self.sandbox
        request = Request(scope, receive)
        path = scope["path"][len(API_PREFIX) :]
        try:
            account = self.api.account_for(request)
            account_id = account.id if account else None
            sandbox.faults.count(account_id, path)
            # As on Merge, authentication comes first: without a valid key even a path that
            # does not exist is a 401, so an unauthenticated caller learns nothing about paths.
            self.api.check_api_key(request)
            match = self.api.resolve(request.method, path)
            if match.route.handler in PER_ACCOUNT and account is None:
                raise errors.invalid_account_token()
            if account is not None:
                if account.status == "IDLE" and sandbox.config.resume_paused_on_request:
                    set_paused(account, False)  # activity again (CONTRACT §4: PAUSED)
                wait = sandbox.faults.throttle_seconds(account.id, path=path)
                if wait is not None:
                    raise errors.throttled(wait)
            failure = sandbox.faults.take("error", account_id, path)
            if failure is not None:
                raise errors.injected(failure.status)
            slow = sandbox.faults.take("slow", account_id, path)
            if slow is not None:
                await asyncio.sleep(slow.seconds)
            status, body = await self.api.handle(match, account, request)
            payload = dumps(body)
            garble = sandbox.faults.take("garble", account_id, path)
            if garble is not None:
                payload = GARBLES[garble.shape](payload)
            drop = sandbox.faults.take("drop", account_id, path)
        except ApiError as error:
            detail = {"detail": error.detail(sandbox.config.errors)}
            await _send_json(send, error.status, dumps(detail), error.headers)
            return
        except Exception:
            log.exception("unexpected error serving %s", path)
            await _send_json(send, 500, dumps({"detail": sandbox.config.errors.server_error}))
            return
        if drop is not None:
            await _send_truncated(send, status, payload, drop.fraction)
        await _send_json(send, status, payload)

    # -- lifespan and background work ---------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                loop = asyncio.get_running_loop()
                self._tasks.append(loop.create_task(self._mutate_in_background()))
                self._tasks.append(loop.create_task(self._sync_on_schedule()))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self._tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await self.sandbox.webhooks.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _mutate_in_background(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(_BACKGROUND_TICK_SECONDS)
            now = time.monotonic()
            due = self.background.due(now - last)
            last = now
            if due:
                self._apply_background(due)

    async def _sync_on_schedule(self) -> None:
        while True:
            await asyncio.sleep(_SCHEDULE_TICK_SECONDS)
            try:
                tick(self.sandbox, self.schedule, time.monotonic())
            except Exception:  # one bad tick must not end Merge's syncs for good
                log.exception("scheduled sync tick failed")

    def _apply_background(self, count: int) -> None:
        sandbox = self.sandbox
        accounts = list(sandbox.accounts.values())
        if self.background.account_id:
            accounts = [a for a in accounts if a.id == self.background.account_id]
        for _ in range(count):
            if not accounts:
                return
            account = sandbox.random.choice(accounts)
            roll = sandbox.random.random()
            apply_changes(
                sandbox,
                account,
                creates=int(roll < 0.2),
                updates=int(0.2 <= roll < 0.9),
                deletes=int(roll >= 0.9),
            )


def create_app(sandbox: Sandbox) -> SandboxApp:
    quiet_dropped_connections()
    return SandboxApp(sandbox)
