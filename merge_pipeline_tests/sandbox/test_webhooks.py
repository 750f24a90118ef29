"""Webhook envelopes, signatures (verified as CONTRACT §6 says), retries, duplicates."""

import base64
import hashlib
import hmac

import pytest

from merge_pipeline_tests.sandbox.helpers import account_of, client
from merge_sandbox.testing import webhook_receiver

SIGNING_KEY = "whsec-test-key"


def contract_signature(raw_body: bytes, key: str) -> str:
    """CONTRACT §6, verbatim recipe: base64url of HMAC-SHA256 over the raw body."""
    return base64.urlsafe_b64encode(
        hmac.new(key.encode(), raw_body, hashlib.sha256).digest()
    ).decode()


@pytest.fixture
def receiver(fresh):
    with webhook_receiver() as rx:
        fresh.admin.configure_webhooks(url=rx.url, signing_key=SIGNING_KEY, backoff_seconds=0.05)
        yield rx


def test_sync_fires_model_and_account_synced_webhooks(fresh, receiver):
    account = account_of(fresh, "hris")
    fresh.admin.sync(account.id, updates=3)
    hooks = receiver.wait_for(17)
    events = [h.event for h in hooks]
    assert "Employee.synced" in events and "LinkedAccount.synced" in events
    employee = next(h.json() for h in hooks if h.event == "Employee.synced")
    assert set(employee) == {"hook", "linked_account", "data"}
    assert employee["hook"]["target"] == receiver.url
    assert employee["linked_account"]["id"] == account.id
    assert "first_name" in employee["data"]["synced_fields"]
    assert employee["data"]["sync_status"]["model_id"] == "hris.Employee"
    assert employee["data"]["sync_status"]["last_sync_result"] == "DONE"
    summary = next(h.json() for h in hooks if h.event == "LinkedAccount.synced")
    assert summary["data"]["is_initial_sync"] is False
    assert summary["data"]["sync_status"]["hris.Employee"]["last_sync_result"] == "DONE"


def test_signature_matches_the_contract_recipe(fresh, receiver):
    fresh.admin.sync(account_of(fresh, "ats").id)
    for hook in receiver.wait_for(1):
        header = hook.headers["X-Merge-Webhook-Signature"]
        assert hmac.compare_digest(header, contract_signature(hook.body, SIGNING_KEY))
        assert header.endswith("=")  # padding kept by default


def test_signature_padding_can_be_stripped(fresh, receiver):
    fresh.admin.configure_webhooks(strip_padding=True)
    fresh.admin.sync(account_of(fresh, "ats").id)
    hook = receiver.wait_for(1)[0]
    header = hook.headers["X-Merge-Webhook-Signature"]
    assert "=" not in header
    assert header == contract_signature(hook.body, SIGNING_KEY).rstrip("=")


def test_event_names_are_configurable(fresh, receiver):
    fresh.admin.configure_webhooks(event_names={"account_synced": "LinkedAccount.sync_completed"})
    fresh.admin.sync(account_of(fresh, "hris").id, models=["hris.Employee"])
    receiver.wait_for(2)
    assert sorted(receiver.events()) == ["Employee.synced", "LinkedAccount.sync_completed"]


def test_issue_events_on_relink_needed_and_relink(fresh, receiver):
    account = account_of(fresh, "hris")
    issue = fresh.admin.make_relink_needed(account.id)
    new = receiver.wait_for(1)[0].json()
    assert new["hook"]["event"] == "Issue.new"
    assert new["data"]["id"] == issue["id"] and new["data"]["status"] == "ONGOING"
    assert new["linked_account"]["status"] == "RELINK_NEEDED"
    body = {
        "end_user_email_address": "a@b.example",
        "end_user_organization_name": "B",
        "end_user_origin_id": account.end_user_origin_id,
        "categories": ["hris"],
    }
    with client(fresh) as api:
        link = api.post("/hris/v1/link-token", json=body).json()
    fresh.admin.complete_link(link["link_token"])
    hooks = {h.event: h.json() for h in receiver.wait_for(3)}
    assert hooks["Issue.resolved"]["data"]["status"] == "RESOLVED"
    assert hooks["LinkedAccount.linked"]["data"] == {
        "account_token": account.account_token,
        "is_relink": True,
    }


def test_reordered_delivery_is_overtaken_by_a_later_event(fresh, receiver):
    account = account_of(fresh, "hris")
    fresh.admin.configure_webhooks(reorder_probability=1.0)
    fresh.admin.make_relink_needed(account.id)
    fresh.admin.configure_webhooks(reorder_probability=0.0)
    fresh.admin.sync(account.id, models=["hris.Employee"])
    receiver.wait_for(3)
    assert receiver.events()[-1] == "Issue.new"


def test_failed_deliveries_are_retried_with_backoff(fresh):
    with webhook_receiver(statuses=[500, 503]) as rx:
        fresh.admin.configure_webhooks(url=rx.url, backoff_seconds=0.05, backoff_factor=2.0)
        fresh.admin.sync(account_of(fresh, "hris").id, models=["hris.Employee"])
        log = fresh.admin.wait_for_deliveries(lambda log: sum(d["delivered"] for d in log) == 2)
    by_event: dict[str, list[dict]] = {}
    for delivery in log:
        by_event.setdefault(delivery["event_id"], []).append(delivery)
    assert len(by_event) == 2
    for attempts in by_event.values():
        assert [d["attempt"] for d in attempts] == list(range(1, len(attempts) + 1))
        assert attempts[-1]["status_code"] == 200
        assert {d["status_code"] for d in attempts[:-1]} <= {500, 503}
        assert len({d["body"] for d in attempts}) == 1
    assert len(rx.received) == 4


def test_unreachable_url_is_retried_then_given_up(fresh):
    fresh.admin.configure_webhooks(
        url="http://127.0.0.1:9/unreachable", max_attempts=3, backoff_seconds=0.02
    )
    fresh.admin.sync(account_of(fresh, "hris").id, models=["hris.Employee"])
    log = fresh.admin.wait_for_deliveries(lambda log: len(log) == 6)
    assert all(d["error"] and not d["delivered"] for d in log)


def test_duplicate_deliveries_carry_the_same_body(fresh):
    with webhook_receiver() as rx:
        fresh.admin.configure_webhooks(url=rx.url, duplicate_probability=1.0)
        fresh.admin.sync(account_of(fresh, "hris").id, models=["hris.Employee"])
        hooks = rx.wait_for(4)
    bodies = [h.body for h in hooks]
    assert len(set(bodies)) == 2 and all(bodies.count(b) == 2 for b in bodies)


def test_delayed_deliveries_arrive_later(fresh):
    with webhook_receiver() as rx:
        fresh.admin.configure_webhooks(url=rx.url, delay_probability=1.0, delay_seconds=0.5)
        fresh.admin.sync(account_of(fresh, "hris").id, models=["hris.Employee"])
        assert fresh.admin.deliveries()["pending"] == 2
        assert rx.received == []
        rx.wait_for(2, timeout=5)
    assert all("delayed" in d["notes"] for d in fresh.admin.deliveries()["deliveries"])


def test_a_partial_sync_lists_only_the_fields_that_synced(fresh, receiver):
    """Merge's synced_fields names the fields that synced; a partial sync leaves some out."""
    account = account_of(fresh, "hris")

    def employee_fields(status: str, count: int) -> list[str]:
        fresh.admin.sync(account.id, models=["hris.Employee"], status=status)
        hooks = receiver.wait_for(count)
        return next(h.json() for h in reversed(hooks) if h.event == "Employee.synced")["data"][
            "synced_fields"
        ]

    every = employee_fields("DONE", 2)
    partial = employee_fields("PARTIALLY_SYNCED", 4)
    assert partial and set(partial) < set(every)


def test_an_older_sdk_shape_leaves_out_result_and_finish(fresh, receiver):
    """Older SDK generations lack last_sync_result/last_sync_finished (CONTRACT §4)."""
    fresh.admin.update_config(sync_status_omits=["last_sync_result", "last_sync_finished"])
    account = account_of(fresh, "hris")
    fresh.admin.sync(account.id, models=["hris.Employee"])
    hooks = receiver.wait_for(2)
    employee = next(h.json() for h in hooks if h.event == "Employee.synced")
    rows = client(fresh, account).get("/hris/v1/sync-status").json()["results"]
    assert "last_sync_finished" not in employee["data"]["sync_status"]
    assert all("last_sync_result" not in r and "last_sync_finished" not in r for r in rows)
