"""What a verified webhook body says: the envelope's event, account, and (once) a token.

Pure functions, no I/O. Only the linked-account event carries an account token
(``data.account_token``, CONTRACT §6); it is taken out here (of every event, in case another
ever carries one), so the payload that is stored and the event that is passed on never hold it.

JSON may carry U+0000 (``\\u0000``), which PostgreSQL's ``text`` and ``jsonb`` refuse: the stored
payload has each NUL replaced (``sync.storable``), while an event name, account id or token
holding one is refused, as no real one does (storing it would fail, and Merge retry, for ever).
"""

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import SecretStr

from merge_pipeline.merge.hygiene import header_value_problem
from merge_pipeline.sync.storable import NUL, storable
from merge_pipeline.warehouse.accounts import LinkedAccount

#: Merge's envelopes are a few levels deep; deeper bodies are refused before anything walks them
#: (orjson writes at most 254 levels back, and PostgreSQL's jsonb has its own stack limit).
MAX_DEPTH = 64


class InvalidWebhook(ValueError):
    """A signed body that is not a Merge webhook envelope we can act on (one-line reason)."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One verified delivery, ready for the inbox: its payload holds no account token."""

    event: str
    linked_account_id: str | None
    body_sha256: str
    payload: dict[str, Any]
    #: Set only for the linked-account event: the account and its token, to store encrypted.
    linked: tuple[LinkedAccount, SecretStr] | None = None


def parse_event(body: bytes, linked_event: str, categories: frozenset[str]) -> WebhookEvent:
    """Read a verified body; ``linked_event`` is the name of the linked-account event."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidWebhook("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidWebhook("the body is not a JSON object")
    if _deeper_than(payload, MAX_DEPTH):
        raise InvalidWebhook(f"the body is nested deeper than {MAX_DEPTH} levels")
    hook = payload.get("hook")
    event = hook.get("event") if isinstance(hook, dict) else None
    if not isinstance(event, str) or not event:
        raise InvalidWebhook("the body has no hook.event")
    if NUL in event:
        raise InvalidWebhook("hook.event holds a NUL character")
    account = payload.get("linked_account")
    account_id = account.get("id") if isinstance(account, dict) else None
    if account_id is not None and not isinstance(account_id, str):
        raise InvalidWebhook("linked_account.id is not a string")
    if account_id is not None and NUL in account_id:
        raise InvalidWebhook("linked_account.id holds a NUL character")
    digest = hashlib.sha256(body).hexdigest()
    if event != linked_event:
        return WebhookEvent(event, account_id, digest, storable(without_token(payload)))
    linked = _linked_account(payload, categories)
    return WebhookEvent(event, linked[0].id, digest, storable(without_token(payload)), linked)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects or arrays more than ``limit`` levels (no recursion)."""
    level: list[tuple[Any, int]] = [(value, 1)]
    while level:
        item, depth = level.pop()
        if depth > limit:
            return True
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        level.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def without_token(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with ``data.account_token`` removed (a copy; the input is left alone)."""
    data = payload.get("data")
    if not isinstance(data, dict) or "account_token" not in data:
        return payload
    return {**payload, "data": {k: v for k, v in data.items() if k != "account_token"}}


def _linked_account(
    payload: dict[str, Any], categories: frozenset[str]
) -> tuple[LinkedAccount, SecretStr]:
    account = payload.get("linked_account")
    data = payload.get("data")
    if not isinstance(account, dict) or not isinstance(account.get("id"), str):
        raise InvalidWebhook("the linked-account event has no linked_account.id")
    token = data.get("account_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise InvalidWebhook(f"the linked-account event of {account['id']} has no account token")
    problem = header_value_problem(token)
    if problem is not None:  # it could never be sent: named, never quoted
        raise InvalidWebhook(
            f"the account token in the linked-account event of {account['id']} {problem}"
        )
    account = storable(account)
    category = account.get("category")
    if category not in categories:
        raise InvalidWebhook(
            f"the linked-account event of {account['id']} has an unknown category {category!r}"
        )
    stored = LinkedAccount(
        id=account["id"],
        category=category,
        integration=_text(account.get("integration")),
        integration_slug=_text(account.get("integration_slug")),
        end_user_origin_id=_text(account.get("end_user_origin_id")),
        end_user_organization_name=_text(account.get("end_user_organization_name")),
        end_user_email_address=_text(account.get("end_user_email_address")),
        status=_text(account.get("status")),
        account_type=_text(account.get("account_type")),
    )
    return stored, SecretStr(token)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
