"""Merge's signed webhooks reach the receiver over HTTP and are stored once, or not at all."""

import logging
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from merge_pipeline.warehouse.accounts import account_token
from merge_pipeline_tests.conftest import SENTINEL_SIGNING_KEY
from merge_pipeline_tests.integration.webhooks.conftest import (
    MAX_BODY_BYTES,
    Stack,
    linked_body,
    receiver_log,
    running_receiver,
)
from merge_sandbox.webhooks import sign

LINKED = "LinkedAccount.linked"


def _stored_token(stack: Stack, account_id: str) -> str:
    with stack.engine.connect() as connection:
        return account_token(connection, account_id, stack.vault).get_secret_value()


def _linked_rows(stack: Stack, account_id: str) -> list[dict]:
    return stack.inbox_rows(event=LINKED, linked_account_id=account_id)


def test_account_linked_in_merge_arrives_with_its_token_stored_encrypted(receiver: Stack) -> None:
    linked = receiver.link_account()
    account_id = linked["account_id"]
    receiver.wait_until(lambda: receiver.account_rows(account_id), "the linked account")
    assert _stored_token(receiver, account_id) == receiver.sandbox_token(account_id)


def test_account_token_is_neither_in_the_inbox_nor_in_plaintext(receiver: Stack) -> None:
    account_id = receiver.link_account()["account_id"]
    receiver.wait_until(lambda: _linked_rows(receiver, account_id), "the linked event")
    token = receiver.sandbox_token(account_id).encode()
    stored = [
        str(_linked_rows(receiver, account_id)[0]["payload"]).encode(),
        bytes(receiver.account_rows(account_id)[0]["token_ciphertext"]),
    ]
    assert [token in blob for blob in stored] == [False, False]


def test_duplicated_deliveries_collapse_into_one_inbox_row(receiver: Stack) -> None:
    receiver.admin.configure_webhooks(duplicate_probability=1.0)
    account_id = receiver.link_account()["account_id"]
    receiver.wait_until(
        lambda: sum(d["delivered"] for d in receiver.delivered(LINKED, account_id)) == 2,
        "both copies to be acknowledged",
    )
    assert len(_linked_rows(receiver, account_id)) == 1


def test_redelivered_body_is_acknowledged_again_and_stored_once(receiver: Stack) -> None:
    body = linked_body("acct-retried", "tok-retried-1")
    answers = [receiver.post_signed(body).json() for _ in range(3)]
    assert (answers, len(_linked_rows(receiver, "acct-retried"))) == (
        [
            {"stored": True},
            {"stored": False, "duplicate": True},
            {"stored": False, "duplicate": True},
        ],
        1,
    )


def test_relink_replaces_the_stored_token(receiver: Stack) -> None:
    receiver.post_signed(linked_body("acct-relinked", "tok-before"))
    receiver.post_signed(linked_body("acct-relinked", "tok-after", nonce="relink"))
    assert _stored_token(receiver, "acct-relinked") == "tok-after"


def test_late_redelivery_of_an_old_link_does_not_bring_back_its_token(receiver: Stack) -> None:
    first = linked_body("acct-late", "tok-old")
    receiver.post_signed(first)
    receiver.post_signed(linked_body("acct-late", "tok-new", nonce="relink"))
    receiver.post_signed(first)
    assert _stored_token(receiver, "acct-late") == "tok-new"


def test_wrongly_signed_webhooks_leave_no_trace(
    receiver: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.admin.configure_webhooks(signing_key="not-the-organisations-key")
    account_id = receiver.link_account()["account_id"]
    receiver.wait_until(
        lambda: len(receiver.delivered(LINKED, account_id)) == 3, "every attempt to be refused"
    )
    statuses = {d["status_code"] for d in receiver.delivered(LINKED, account_id)}
    token = receiver.sandbox_token(account_id)
    assert (
        statuses,
        receiver.inbox_rows(linked_account_id=account_id),
        receiver.account_rows(account_id),
    ) == (
        {401},
        [],
        [],
    )
    assert [s for s in (token, account_id, "end_user_origin_id") if s in receiver_log(caplog)] == []


def test_refused_webhook_is_logged_as_one_line_without_its_body(
    receiver: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="merge_pipeline")
    receiver.post_signed(linked_body("acct-forged", "tok-forged-77"), key="forged")
    refusals = [r.getMessage() for r in caplog.records if r.name.startswith("merge_pipeline")]
    assert len(refusals) == 1 and "bad signature" in refusals[0] and "forged" not in refusals[0]


def test_webhook_without_signature_is_refused_and_stores_nothing(receiver: Stack) -> None:
    body = linked_body("acct-unsigned", "tok-unsigned")
    response = httpx.post(receiver.webhook_url, content=body, timeout=10)
    assert (response.status_code, receiver.account_rows("acct-unsigned")) == (401, [])


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_oversized_body_is_refused_with_413(receiver: Stack, declared: bool) -> None:
    filler = "x" * MAX_BODY_BYTES
    body = linked_body("acct-huge", filler)
    headers = {"X-Merge-Webhook-Signature": "irrelevant"}

    def chunks() -> Iterator[bytes]:
        yield body[: len(body) // 2]
        yield body[len(body) // 2 :]

    content = body if declared else chunks()
    response = httpx.post(receiver.webhook_url, content=content, headers=headers, timeout=10)
    assert (response.status_code, receiver.account_rows("acct-huge")) == (413, [])


def test_signed_body_that_is_not_an_event_is_refused_with_its_reason(receiver: Stack) -> None:
    response = receiver.post_signed(b'{"data": {}}')
    assert (response.status_code, response.json()) == (
        422,
        {"detail": "the body has no hook.event"},
    )


def test_health_says_the_database_answers(receiver: Stack) -> None:
    response = httpx.get(f"{receiver.receiver_url}/health", timeout=10)
    assert response.json() == {"status": "ok"}


def test_every_event_merge_sends_is_stored(receiver: Stack) -> None:
    """Not only the linked event: the sensors read sync and issue events from the inbox too."""
    account_id = receiver.link_account()["account_id"]
    receiver.admin.finish_sync(account_id)
    receiver.wait_until(
        lambda: receiver.admin.deliveries()["pending"] == 0, "the sync webhooks to be delivered"
    )
    sent = {
        d["event"] for d in receiver.admin.deliveries()["deliveries"] if account_id in d["body"]
    }
    stored = {row["event"] for row in receiver.inbox_rows(linked_account_id=account_id)}
    assert stored == sent


def test_inbox_rows_name_their_account_and_event(receiver: Stack) -> None:
    receiver.post_signed(linked_body("acct-named", "tok-named"))
    (row,) = _linked_rows(receiver, "acct-named")
    assert (row["event"], row["payload"]["linked_account"]["id"]) == (LINKED, "acct-named")


def test_the_signing_key_never_leaves_the_receiver(
    receiver: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [
        receiver.post_signed(linked_body("acct-key", "tok-key")).text,
        receiver.post_signed(linked_body("acct-key2", "tok-key2"), key="wrong").text,
        httpx.get(f"{receiver.receiver_url}/health", timeout=10).text,
    ]
    assert SENTINEL_SIGNING_KEY not in receiver_log(caplog) + "".join(answers)


@pytest.fixture
def receiver_without_database(stack: Stack) -> Iterator[str]:
    """A receiver whose database refuses connections (a port nothing listens on)."""
    unreachable = sa.create_engine("postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    with running_receiver(stack.settings, unreachable) as url:
        yield url
    unreachable.dispose()


def test_event_that_cannot_be_stored_is_not_acknowledged(
    stack: Stack, receiver_without_database: str
) -> None:
    """Merge retries anything but a 2xx, so a 503 here loses nothing."""
    body = linked_body("acct-db-down", "tok-db-down")
    headers = {"X-Merge-Webhook-Signature": sign(body, SENTINEL_SIGNING_KEY)}
    response = httpx.post(
        f"{receiver_without_database}/webhooks/merge", content=body, headers=headers, timeout=30
    )
    assert response.status_code == 503


def test_health_fails_while_the_database_is_unreachable(
    stack: Stack, receiver_without_database: str
) -> None:
    response = httpx.get(f"{receiver_without_database}/health", timeout=30)
    assert (response.status_code, response.json()["status"]) == (503, "unhealthy")
