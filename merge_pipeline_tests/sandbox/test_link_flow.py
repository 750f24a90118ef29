"""Linking a new end user, exchanging the public token, and relinking a broken account."""

from merge_pipeline_tests.sandbox.helpers import account_of, client, fetch_all
from merge_sandbox.testing import webhook_receiver

LINK_BODY = {
    "end_user_email_address": "it@acme.example",
    "end_user_organization_name": "Acme",
    "end_user_origin_id": "acme-1",
    "categories": ["ats"],
}


def test_link_token_requires_the_end_user_fields(fresh):
    with client(fresh) as api:
        response = api.post("/ats/v1/link-token", json={"categories": ["ats"]})
    assert response.status_code == 400
    assert "end_user" in response.json()["detail"]


def test_link_flow_yields_an_account_token_by_public_token_exchange(fresh):
    with client(fresh) as api:
        link = api.post("/ats/v1/link-token", json=LINK_BODY).json()
        assert (
            set(link) <= {"link_token", "integration_name", "magic_link_url"} and link["link_token"]
        )
        done = fresh.admin.complete_link(link["link_token"], records=120)
        exchanged = api.get(f"/ats/v1/account-token/{done['public_token']}")
    assert exchanged.status_code == 200
    token = exchanged.json()
    assert token["id"] == done["account_id"] and done["is_relink"] is False
    assert set(token["integration"]) >= {"name", "slug", "categories"}
    with client(fresh, token=token["account_token"]) as api:
        details = api.get("/ats/v1/account-details").json()
        candidates = fetch_all(api, "/ats/v1/candidates", page_size=100)
    assert details["id"] == done["account_id"] and details["end_user_origin_id"] == "acme-1"
    assert candidates


def test_unknown_public_token_is_404(fresh):
    with client(fresh) as api:
        assert api.get("/ats/v1/account-token/nope").status_code == 404


def test_new_account_starts_with_an_initial_sync(fresh):
    with client(fresh) as api:
        link = api.post("/ats/v1/link-token", json=LINK_BODY).json()
        done = fresh.admin.complete_link(link["link_token"], finish_initial_sync=False)
        token = api.get(f"/ats/v1/account-token/{done['public_token']}").json()["account_token"]
    with client(fresh, token=token) as api:
        statuses = fetch_all(api, "/ats/v1/sync-status", page_size=100)
        assert {(s["status"], s["is_initial_sync"]) for s in statuses} == {("SYNCING", True)}
        fresh.admin.finish_sync(done["account_id"])
        statuses = fetch_all(api, "/ats/v1/sync-status", page_size=100)
    assert {(s["status"], s["is_initial_sync"]) for s in statuses} == {("DONE", False)}


def test_relink_needed_then_relink_restores_the_same_account(fresh):
    account = account_of(fresh, "hris")
    issue = fresh.admin.make_relink_needed(account.id)
    assert issue["status"] == "ONGOING"
    assert issue["error_description"] == "Invalid login credentials"
    with client(fresh) as api:
        listed = api.get("/hris/v1/linked-accounts", params={"status": "RELINK_NEEDED"}).json()[
            "results"
        ]
        assert [a["id"] for a in listed] == [account.id]
        ongoing = api.get("/hris/v1/issues", params={"linked_account_id": account.id}).json()[
            "results"
        ]
        assert [i["status"] for i in ongoing] == ["ONGOING"]
        body = {
            **LINK_BODY,
            "end_user_origin_id": account.end_user_origin_id,
            "categories": ["hris"],
        }
        link = api.post("/hris/v1/link-token", json=body).json()
        done = fresh.admin.complete_link(link["link_token"])
        after = api.get("/hris/v1/linked-accounts", params={"id": account.id}).json()["results"][0]
        resolved = api.get(f"/hris/v1/issues/{issue['id']}").json()
    assert done["is_relink"] is True and done["account_id"] == account.id
    assert after["status"] == "COMPLETE"
    assert resolved["status"] == "RESOLVED"
    with client(fresh, account) as api:  # the old account token still works
        assert api.get("/hris/v1/employees").status_code == 200


def test_sync_of_relink_needed_account_fails(fresh):
    account = account_of(fresh, "hris")
    fresh.admin.make_relink_needed(account.id, error_description="Missing permission")
    result = fresh.admin.sync(account.id, updates=5)
    assert {s["last_sync_result"] for s in result["sync_status"]} == {"FAILED"}
    assert not result["changes"]["updated"]


def test_issue_description_is_configurable(fresh):
    fresh.admin.update_config(issue_error_description="Expired multi-factor authentication")
    issue = fresh.admin.make_relink_needed(account_of(fresh, "ats").id)
    assert issue["error_description"] == "Expired multi-factor authentication"


def test_linked_accounts_filters(fresh):
    hris = account_of(fresh, "hris")
    with client(fresh) as api:
        everyone = api.get("/ats/v1/linked-accounts").json()["results"]
        by_category = api.get("/ats/v1/linked-accounts", params={"category": "hris"}).json()[
            "results"
        ]
        by_origin = api.get(
            "/ats/v1/linked-accounts", params={"end_user_origin_id": hris.end_user_origin_id}
        ).json()["results"]
        tests_only = api.get("/ats/v1/linked-accounts", params={"is_test_account": "true"}).json()[
            "results"
        ]
    assert len(everyone) == 2
    assert [a["id"] for a in by_category] == [hris.id] == [a["id"] for a in by_origin]
    assert tests_only == []


def test_delete_account_invalidates_its_token(fresh):
    account = account_of(fresh, "ats")
    with client(fresh, account) as api:
        deleted = api.post("/ats/v1/delete-account")
        assert deleted.status_code == 200 and deleted.content == b""
        assert api.get("/ats/v1/candidates").status_code == 401


def test_linking_fires_linked_account_linked_with_the_token(fresh):
    with webhook_receiver() as receiver, client(fresh) as api:
        fresh.admin.configure_webhooks(url=receiver.url)
        link = api.post("/ats/v1/link-token", json=LINK_BODY).json()
        done = fresh.admin.complete_link(link["link_token"], finish_initial_sync=False)
        hooks = receiver.wait_for(1)
    body = hooks[0].json()
    assert body["hook"]["event"] == "LinkedAccount.linked"
    assert body["linked_account"]["id"] == done["account_id"]
    assert body["data"]["is_relink"] is False and body["data"]["account_token"]


def test_account_status_can_be_set_to_idle(fresh):
    account = account_of(fresh, "ats")
    fresh.admin.set_account_status(account.id, "IDLE")
    with client(fresh) as api:
        listed = api.get("/ats/v1/linked-accounts", params={"status": "IDLE"}).json()["results"]
    assert [a["id"] for a in listed] == [account.id]
