"""Sync status transitions and per-model holds."""

from merge_pipeline_tests.sandbox.helpers import account_of, client, fetch_all


def _statuses(api, category="hris"):
    return {s["model_id"]: s for s in fetch_all(api, f"/{category}/v1/sync-status", page_size=100)}


def test_sync_status_lists_every_model_of_the_category(fresh):
    with client(fresh, account_of(fresh, "hris")) as api:
        statuses = _statuses(api)
    assert len(statuses) == 16
    employee = statuses["hris.Employee"]
    assert employee["model_name"] == "Employee"
    assert employee["status"] == "DONE" and employee["last_sync_result"] == "DONE"
    assert employee["is_initial_sync"] is False
    assert (
        employee["last_sync_start"] < employee["last_sync_finished"] < employee["next_sync_start"]
    )


def test_sync_goes_syncing_then_done(fresh):
    account = account_of(fresh, "hris")
    with client(fresh, account) as api:
        before = _statuses(api)["hris.Employee"]
        fresh.admin.advance_clock(60)
        fresh.admin.sync(account.id, updates=5, finish=False)
        running = _statuses(api)["hris.Employee"]
        fresh.admin.advance_clock(60)
        fresh.admin.finish_sync(account.id)
        done = _statuses(api)["hris.Employee"]
    assert running["status"] == "SYNCING"
    assert running["last_sync_start"] > before["last_sync_start"]
    assert running["last_sync_finished"] == before["last_sync_finished"]
    assert done["status"] == "DONE" and done["last_sync_result"] == "DONE"
    assert done["last_sync_finished"] > running["last_sync_start"]
    assert done["next_sync_start"] > done["last_sync_finished"]


def test_partially_synced_and_failed_results(fresh):
    account = account_of(fresh, "hris")
    fresh.admin.sync(
        account.id, status="PARTIALLY_SYNCED", model_statuses={"hris.TimeOff": "FAILED"}
    )
    with client(fresh, account) as api:
        statuses = _statuses(api)
    assert statuses["hris.TimeOff"]["status"] == "FAILED"
    assert statuses["hris.TimeOff"]["last_sync_result"] == "FAILED"
    assert statuses["hris.Employee"]["status"] == "PARTIALLY_SYNCED"
    fresh.admin.sync(account.id, status="FAILED")
    with client(fresh, account) as api:
        assert {s["last_sync_result"] for s in _statuses(api).values()} == {"FAILED"}


def test_disabled_and_paused_models_are_skipped_by_syncs(fresh):
    account = account_of(fresh, "hris")
    fresh.admin.set_model_status(account.id, "Employee", "DISABLED")
    fresh.admin.set_model_status(account.id, "Team", "PAUSED")
    with client(fresh, account) as api:
        before = _statuses(api)
        result = fresh.admin.sync(account.id, updates=50)
        after = _statuses(api)
    assert after["hris.Employee"]["status"] == "DISABLED"
    assert after["hris.Team"]["status"] == "PAUSED"
    assert after["hris.Employee"]["last_sync_start"] == before["hris.Employee"]["last_sync_start"]
    assert "hris.Employee" not in result["changes"]["updated"]
    fresh.admin.set_model_status(account.id, "Employee", None)
    with client(fresh, account) as api:
        assert _statuses(api)["hris.Employee"]["status"] == "DONE"


def test_model_can_be_set_failed(fresh):
    account = account_of(fresh, "hris")
    fresh.admin.set_model_status(account.id, "Employee", "FAILED")
    with client(fresh, account) as api:
        employee = _statuses(api)["hris.Employee"]
    assert employee["status"] == "FAILED" and employee["last_sync_result"] == "FAILED"


def test_resync_returns_a_plain_array_of_syncing_models(fresh):
    account = account_of(fresh, "hris")
    with client(fresh, account) as api:
        response = api.post("/hris/v1/sync-status/resync")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list) and len(body) == 16
    assert {s["status"] for s in body} == {"SYNCING"}


def test_sync_changes_records_with_modified_at_now(fresh):
    account = account_of(fresh, "hris")
    now = fresh.admin.clock()["now"]
    changes = fresh.admin.sync(account.id, creates=3, updates=4, deletes=2)["changes"]
    touched = {k for kind in changes.values() for keys in kind.values() for k in keys}
    with client(fresh, account) as api:
        recent = []
        for spec_path in ("employees", "employments", "time-off", "benefits", "groups", "teams"):
            recent += fetch_all(
                api, f"/hris/v1/{spec_path}", modified_after=now, include_deleted_data="true"
            )
    assert recent and all(r["modified_at"] >= now for r in recent)
    assert {r["id"] for r in recent} <= touched
