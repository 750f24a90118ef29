"""Reading a verified webhook body: the event, its account, and the token taken out of it."""

import orjson
import pytest

from merge_pipeline.webhooks.events import InvalidWebhook, parse_event, without_token

LINKED = "LinkedAccount.linked"
CATEGORIES = frozenset({"hris", "ats"})
TOKEN = "tok-UNIT-SENTINEL-41"


def _body(event: str = LINKED, category: object = "hris", data: object = None) -> bytes:
    return orjson.dumps(
        {
            "hook": {"id": "h1", "event": event, "target": "https://example.test/webhooks/merge"},
            "linked_account": {
                "id": "acct-1",
                "integration": "BambooHR",
                "integration_slug": "bamboohr",
                "category": category,
                "end_user_origin_id": "origin-1",
                "status": "COMPLETE",
            },
            "data": {"account_token": TOKEN, "is_relink": False} if data is None else data,
        }
    )


def test_linked_event_yields_the_account_and_its_token() -> None:
    event = parse_event(_body(), LINKED, CATEGORIES)
    assert event.linked is not None
    account, token = event.linked
    assert (account.id, account.category, account.end_user_origin_id, token.get_secret_value()) == (
        "acct-1",
        "hris",
        "origin-1",
        TOKEN,
    )


def test_stored_payload_of_a_linked_event_holds_no_token() -> None:
    event = parse_event(_body(), LINKED, CATEGORIES)
    assert TOKEN not in orjson.dumps(event.payload).decode()


def test_linked_event_name_is_configurable() -> None:
    event = parse_event(_body(event="LinkedAccount.created"), "LinkedAccount.created", CATEGORIES)
    assert event.linked is not None


def test_other_events_are_kept_whole_without_an_account_to_store() -> None:
    data = {"synced_fields": ["first_name"], "sync_status": {"status": "DONE"}}
    event = parse_event(_body(event="Employee.synced", data=data), LINKED, CATEGORIES)
    assert (event.linked, event.linked_account_id, event.payload["data"]) == (None, "acct-1", data)


def test_identical_bodies_have_the_same_digest_and_different_ones_do_not() -> None:
    first, again = (
        parse_event(_body(), LINKED, CATEGORIES),
        parse_event(_body(), LINKED, CATEGORIES),
    )
    other = parse_event(_body(data={"account_token": "t2"}), LINKED, CATEGORIES)
    assert first.body_sha256 == again.body_sha256 != other.body_sha256


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"not json", "not JSON", id="not json"),
        pytest.param(b"[1, 2]", "not a JSON object", id="array"),
        pytest.param(b'{"data": {}}', "no hook.event", id="no event"),
        pytest.param(_body(data={"is_relink": False}), "no account token", id="linked, no token"),
        pytest.param(_body(category="payroll"), "unknown category", id="linked, odd category"),
    ],
)
def test_bodies_that_are_not_usable_events_are_explained(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidWebhook, match=reason):
        parse_event(body, LINKED, CATEGORIES)


def test_removing_the_token_leaves_the_original_payload_alone() -> None:
    payload = {"data": {"account_token": TOKEN, "is_relink": True}}
    assert (without_token(payload), payload["data"]["account_token"]) == (
        {"data": {"is_relink": True}},
        TOKEN,
    )
