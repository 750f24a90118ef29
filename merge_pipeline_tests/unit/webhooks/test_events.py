"""Reading a verified webhook body: the event, its account, and the token taken out of it."""

import orjson
import pytest

from merge_pipeline.webhooks.events import MAX_DEPTH, InvalidWebhook, parse_event, without_token

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


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"hook": {"event": "Employee.synced\x00"}}, "hook.event holds a NUL character"),
        (
            {"hook": {"event": "Employee.synced"}, "linked_account": {"id": "a\x00"}},
            "linked_account.id holds a NUL character",
        ),
        (
            {"hook": {"event": LINKED}, "linked_account": {"id": "acct-1", "category": "hris"},
             "data": {"account_token": "tok\x00en"}},
            "the account token in the linked-account event of acct-1 has control or non-ASCII "
            "characters",
        ),
        (
            {"hook": {"event": LINKED}, "linked_account": {"id": "acct-1", "category": "hris"},
             "data": {"account_token": f"{TOKEN}\n"}},
            "the account token in the linked-account event of acct-1 has whitespace at either "
            "end (often a newline from a file or a Secret)",
        ),
        (
            {"hook": {"event": "Employee.synced"}, "data": [[[[[[[[[[]]]]]]]]]] * 1},
            None,
        ),
    ],
    ids=["nul-event", "nul-account-id", "nul-token", "newline-token", "ten-levels-is-fine"],
)  # fmt: skip
def test_what_postgresql_could_not_store_or_merge_could_not_be_sent_is_refused_by_name(
    body: dict[str, object], reason: str | None
) -> None:
    raw = orjson.dumps(body)
    if reason is None:
        assert parse_event(raw, LINKED, CATEGORIES).payload == body
        return
    with pytest.raises(InvalidWebhook) as refused:
        parse_event(raw, LINKED, CATEGORIES)
    assert str(refused.value) == reason and TOKEN not in str(refused.value)


def test_nuls_elsewhere_are_replaced_in_the_stored_payload() -> None:
    body = {"hook": {"event": "Employee.synced"}, "data": {"na\x00me": ["a\x00b", 1]}}
    event = parse_event(orjson.dumps(body), LINKED, CATEGORIES)
    assert event.payload["data"] == {"na\ufffdme": ["a\ufffdb", 1]}
    account_json = {"id": "acct-1", "category": "hris", "integration": "Bamboo\x00"}
    linked = {
        "hook": {"event": LINKED},
        "data": {"account_token": TOKEN},
        "linked_account": account_json,
    }
    account, _ = parse_event(orjson.dumps(linked), LINKED, CATEGORIES).linked or (None, None)
    assert account is not None and account.integration == "Bamboo\ufffd"


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    deep: object = 1
    for _ in range(MAX_DEPTH):
        deep = [deep]
    body = orjson.dumps({"hook": {"event": "Employee.synced"}, "data": deep})
    with pytest.raises(InvalidWebhook, match=f"nested deeper than {MAX_DEPTH} levels"):
        parse_event(body, LINKED, CATEGORIES)


def test_a_token_is_taken_out_of_any_event_that_carries_one() -> None:
    body = {"hook": {"event": "Employee.synced"}, "data": {"account_token": TOKEN, "n": 1}}
    assert parse_event(orjson.dumps(body), LINKED, CATEGORIES).payload["data"] == {"n": 1}
