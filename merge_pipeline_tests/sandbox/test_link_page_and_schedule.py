"""Over HTTP: Merge's scheduled syncs fire webhooks, and an operator relinks an account by
opening ``magic_link_url`` in a browser (a GET shows the page, the button POSTs it)."""

from collections.abc import Iterator

import httpx
import pytest

from merge_pipeline_tests.sandbox.helpers import account_of, client
from merge_sandbox.testing import RunningSandbox, WebhookReceiver, running_sandbox, webhook_receiver


@pytest.fixture
def hooked() -> Iterator[tuple[RunningSandbox, WebhookReceiver]]:
    with (
        webhook_receiver() as receiver,
        running_sandbox(
            accounts=2, records=400, seed=31, categories=["hris", "ats"], webhook_url=receiver.url
        ) as sb,
    ):
        yield sb, receiver


def _synced_accounts(receiver: WebhookReceiver) -> set[str]:
    return {
        w.json()["linked_account"]["id"]
        for w in list(receiver.received)
        if w.event == "LinkedAccount.synced"
    }


def test_scheduled_syncs_reach_the_webhook_receiver_and_honour_a_failing_account(
    hooked: tuple[RunningSandbox, WebhookReceiver],
) -> None:
    sb, receiver = hooked
    hris, ats = account_of(sb, "hris"), account_of(sb, "ats")
    sb.admin.set_scheduled_result(ats.id, "FAILED")
    settings = sb.admin.sync_schedule(every_seconds=0.5, duration_seconds=0.1)
    assert settings["results"] == {ats.id: "FAILED"}
    sb.admin.wait_for_deliveries(
        lambda _: _synced_accounts(receiver) >= {hris.id, ats.id}, timeout=30
    )
    results = {
        w.json()["linked_account"]["id"]: {
            s["last_sync_result"] for s in w.json()["data"]["sync_status"].values()
        }
        for w in list(receiver.received)
        if w.event == "LinkedAccount.synced"
    }
    assert (results[hris.id], results[ats.id]) == ({"DONE"}, {"FAILED"})


def test_an_operator_relinks_an_account_through_the_magic_link_page(
    hooked: tuple[RunningSandbox, WebhookReceiver],
) -> None:
    sb, receiver = hooked
    account = account_of(sb, "hris")
    sb.admin.make_relink_needed(account.id)
    body = {
        "end_user_origin_id": account.end_user_origin_id,
        "end_user_organization_name": account.end_user_organization_name,
        "end_user_email_address": "it@example.com",
        "categories": ["hris"],
        "should_create_magic_link_url": True,
    }
    with client(sb) as api:
        link = api.post("/hris/v1/link-token", json=body).json()
    url = link["magic_link_url"]
    assert url == f"{sb.admin.root}/_sandbox/link/{link['link_token']}"
    page = httpx.get(url)
    assert page.status_code == 200 and "Reconnect" in page.text and account.id in page.text
    assert sb.admin.account(account.id)["status"] == "RELINK_NEEDED"  # a GET completes nothing
    done = httpx.post(url)
    assert done.status_code == 200 and "relinked" in done.text
    assert sb.admin.account(account.id)["status"] == "COMPLETE"
    # the Issue webhooks of the break and the fix may arrive before it, in any order
    sb.admin.wait_for_deliveries(
        lambda _: any(w.event == "LinkedAccount.linked" for w in list(receiver.received)),
        timeout=10,
    )
    linked = [w.json() for w in list(receiver.received) if w.event == "LinkedAccount.linked"]
    assert [(w["linked_account"]["id"], w["data"]["is_relink"]) for w in linked] == [
        (account.id, True)
    ]
    assert httpx.post(url).status_code == 404  # a used link is gone


@pytest.mark.parametrize(("resume", "after"), [(False, "IDLE"), (True, "COMPLETE")])
def test_a_paused_account_is_idle_and_resumes_on_a_request_only_when_configured(
    hooked: tuple[RunningSandbox, WebhookReceiver], resume: bool, after: str
) -> None:
    sb, _ = hooked
    account = account_of(sb, "ats")
    sb.admin.update_config(resume_paused_on_request=resume)
    paused = sb.admin.pause_account(account.id)
    assert paused["status"] == "IDLE"
    assert {s["status"] for s in paused["sync_status"]} == {"PAUSED"}
    with client(sb, account) as api:
        assert api.get("/ats/v1/sync-status").status_code == 200
    assert sb.admin.account(account.id)["status"] == after
    assert sb.admin.pause_account(account.id, paused=False)["status"] == "COMPLETE"
