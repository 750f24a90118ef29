"""The receiver: an ASGI app that stores Merge's signed webhooks once and exchanges Link tokens.

``POST /webhooks/merge`` answers 2xx only once the event is committed to the inbox (Merge
retries anything else), so nothing acknowledged is ever lost; it does nothing else, so it
answers fast. Bodies that are unsigned, wrongly signed or too large are refused before they are
parsed, stored nowhere and logged without their content. ``POST /link/account-token`` lets a
company's backend hand over a Merge Link public token; ``GET /health`` says whether the
database answers.
"""

import hmac
import logging
from dataclasses import dataclass

import orjson
import sqlalchemy as sa
import sqlalchemy.exc
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from merge_pipeline.catalog import load_catalog
from merge_pipeline.merge.client import MergeClient
from merge_pipeline.merge.errors import MergeError, MergeNotFound
from merge_pipeline.settings import Settings, SettingsError
from merge_pipeline.warehouse.accounts import LinkedAccount
from merge_pipeline.warehouse.database import ping
from merge_pipeline.warehouse.vault import TokenVault
from merge_pipeline.webhooks.events import InvalidWebhook, parse_event
from merge_pipeline.webhooks.exchange import exchange_and_store
from merge_pipeline.webhooks.signature import SIGNATURE_HEADER, signature_matches
from merge_pipeline.webhooks.store import store_webhook

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/merge"
EXCHANGE_PATH = "/link/account-token"
HEALTH_PATH = "/health"
#: A public-token exchange request is two short strings; anything bigger is not one.
_EXCHANGE_MAX_BODY_BYTES = 4096


class _BodyTooLarge(Exception):
    """The request body is over the limit (raised before it is read whole)."""


@dataclass(frozen=True)
class _Receiver:
    """What every handler needs; built once when the app is created."""

    settings: Settings
    engine: sa.Engine
    vault: TokenVault
    signing_key: SecretStr
    categories: frozenset[str]


def create_app(settings: Settings, engine: sa.Engine) -> Starlette:
    """The receiver app; refuses to be built without Merge's webhook signature key."""
    if settings.webhook_signing_key is None:
        raise SettingsError(
            "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY is required by the webhook receiver "
            "(Merge dashboard > Webhooks > Security)"
        )
    receiver = _Receiver(
        settings=settings,
        engine=engine,
        vault=TokenVault(settings.token_encryption_key),
        signing_key=settings.webhook_signing_key,
        categories=frozenset(load_catalog().categories),
    )

    async def webhook(request: Request) -> JSONResponse:
        return await _receive_webhook(receiver, request)

    async def exchange(request: Request) -> JSONResponse:
        return await _exchange_public_token(receiver, request)

    async def health(request: Request) -> JSONResponse:
        return await _health(receiver)

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route(EXCHANGE_PATH, exchange, methods=["POST"]),
            Route(HEALTH_PATH, health, methods=["GET"]),
        ]
    )


async def _receive_webhook(receiver: _Receiver, request: Request) -> JSONResponse:
    source = request.client.host if request.client else "unknown"
    try:
        body = await _bounded_body(request, receiver.settings.webhook_max_body_bytes)
    except _BodyTooLarge:
        logger.warning(
            "refused a webhook from %s: body over %d bytes",
            source,
            receiver.settings.webhook_max_body_bytes,
        )
        return _answer(413, "body too large")
    except ClientDisconnect:  # nothing to answer, nothing stored: Merge sends it again
        logger.warning("a webhook from %s was cut off before its whole body arrived", source)
        return _answer(400, "the body was cut off")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature_matches(body, receiver.signing_key, signature):
        reason = "bad signature" if signature else f"no {SIGNATURE_HEADER} header"
        logger.warning("refused a webhook from %s: %s (%d bytes)", source, reason, len(body))
        return _answer(401, "invalid signature")
    try:
        event = parse_event(body, receiver.settings.webhook_linked_event, receiver.categories)
    except InvalidWebhook as error:
        logger.warning("refused a signed webhook from %s: %s", source, error)
        return _answer(422, str(error))
    try:
        new = await run_in_threadpool(store_webhook, receiver.engine, event, receiver.vault)
    except sqlalchemy.exc.SQLAlchemyError as error:
        # The message would carry the statement's parameters: name the failure only.
        logger.error("could not store webhook %s: %s", event.event, type(error).__name__)
        return _answer(503, "could not store the event; retry later")
    account = event.linked_account_id or "-"
    if new:
        logger.info("stored webhook %s for linked account %s", event.event, account)
        return JSONResponse({"stored": True}, status_code=200)
    logger.info("webhook %s for linked account %s was already stored", event.event, account)
    return JSONResponse({"stored": False, "duplicate": True}, status_code=200)


async def _exchange_public_token(receiver: _Receiver, request: Request) -> JSONResponse:
    expected = receiver.settings.receiver_token
    if expected is None:
        return _answer(403, "the exchange endpoint is disabled: set MERGE_PIPELINE_RECEIVER_TOKEN")
    if not _bearer_matches(request.headers.get("Authorization"), expected):
        logger.warning("refused a public-token exchange: missing or wrong bearer token")
        return _answer(401, "missing or wrong bearer token")
    try:
        raw = await _bounded_body(request, _EXCHANGE_MAX_BODY_BYTES)
    except _BodyTooLarge:
        return _answer(413, "body too large")
    except ClientDisconnect:
        logger.warning("a public-token exchange was cut off before its whole body arrived")
        return _answer(400, "the body was cut off")
    request_fields = _exchange_request(raw, receiver.categories)
    if isinstance(request_fields, str):
        return _answer(422, request_fields)
    category, public_token = request_fields
    try:
        account = await run_in_threadpool(_exchange, receiver, category, public_token)
    except MergeNotFound:
        return _answer(404, "Merge does not know this public token (expired or mistyped?)")
    except (MergeError, ValueError) as error:
        logger.error("public-token exchange failed: %s", error)
        return _answer(502, f"Merge refused or failed the exchange: {error}")
    except sqlalchemy.exc.SQLAlchemyError as error:
        logger.error("could not store an exchanged account: %s", type(error).__name__)
        return _answer(503, "could not store the account; retry with a new public token")
    logger.info("stored linked account %s (%s) from a public token", account.id, category)
    return JSONResponse(
        {"linked_account_id": account.id, "category": category, "integration": account.integration}
    )


async def _health(receiver: _Receiver) -> JSONResponse:
    try:
        await run_in_threadpool(ping, receiver.engine)
    except sqlalchemy.exc.SQLAlchemyError as error:
        return JSONResponse({"status": "unhealthy", "database": type(error).__name__}, 503)
    return JSONResponse({"status": "ok"})


def _exchange(receiver: _Receiver, category: str, public_token: SecretStr) -> LinkedAccount:
    with MergeClient(receiver.settings) as client:
        return exchange_and_store(
            client, receiver.engine, receiver.vault, category=category, public_token=public_token
        )


def _exchange_request(raw: bytes, categories: frozenset[str]) -> tuple[str, SecretStr] | str:
    """``(category, public_token)`` from the JSON body, or a one-line reason it is not one."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return 'the body must be JSON: {"public_token": ..., "category": ...}'
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    token, category = body.get("public_token"), body.get("category")
    if not isinstance(token, str) or not token.strip():
        return "public_token is missing"
    if category not in categories:
        return f"category must be one of {', '.join(sorted(categories))}"
    return category, SecretStr(token.strip())


def _bearer_matches(header: str | None, expected: SecretStr) -> bool:
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.get_secret_value().encode())


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to exceed ``limit`` (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _BodyTooLarge
    return bytes(body)


def _answer(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)
