"""Merge's behaviour over time: syncs that change records, sync-status transitions, relinks.

A sync of a linked account starts (models go SYNCING), changes records in the third party's
name (creates, updates, deletions with ``modified_at`` = now on the virtual clock) and finishes
(DONE / PARTIALLY_SYNCED / FAILED), firing the synced webhooks. Relinking and the link flow
live here too because they end in the same webhooks.
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from merge_sandbox.accounts import SYNC_STATUSES, Issue, LinkedAccount
from merge_sandbox.changes import change_moment, delete_row
from merge_sandbox.layout import weight
from merge_sandbox.payloads import issue as issue_payload
from merge_sandbox.payloads import sync_status, webhook_linked_account
from merge_sandbox.state import LinkRequest, Sandbox
from merge_sandbox.table import Row
from merge_sandbox.timefmt import US_PER_SECOND

HOLDS = ("DISABLED", "PAUSED")
_PICK_ATTEMPTS = 20


@dataclass
class ChangeSummary:
    """What a batch of changes did, per model id: lists of record keys."""

    created: dict[str, list[str]] = field(default_factory=dict)
    updated: dict[str, list[str]] = field(default_factory=dict)
    deleted: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, model_id: str, row: Row) -> None:
        getattr(self, kind).setdefault(model_id, []).append(row.key)

    def as_dict(self) -> dict[str, dict[str, list[str]]]:
        return {"created": self.created, "updated": self.updated, "deleted": self.deleted}


def active_models(account: LinkedAccount, models: Iterable[str] | None = None) -> list[str]:
    """Models a sync touches: the requested ones (default all) that are not DISABLED/PAUSED."""
    wanted = set(models) if models else set(account.sync)
    return [m for m, row in account.sync.items() if m in wanted and row.hold is None]


def _pick_model(sandbox: Sandbox, account: LinkedAccount, models: list[str]) -> str:
    weights = [weight(account.tables[m].spec) for m in models]
    return sandbox.random.choices(models, weights=weights)[0]


def _pick_live_index(sandbox: Sandbox, account: LinkedAccount, model_id: str) -> int | None:
    table = account.tables[model_id]
    if table.size == 0:
        return None
    for _ in range(_PICK_ATTEMPTS):
        index = sandbox.random.randrange(table.size)
        row = table.overlay.get(index)
        if table.exists(index) and (row is None or not row.deleted):
            return index
    return None


def create_record(sandbox: Sandbox, account: LinkedAccount, model_id: str) -> list[tuple[str, Row]]:
    """A new record (first) and, under ``late_parents``, the new parent created after it."""
    table = account.tables[model_id]
    if sandbox.adversity.late_parents and table.spec.parent is not None:
        return _create_under_late_parent(sandbox, account, model_id)
    parent = sandbox.random.randrange(table.parent_count) if table.parent_count else None
    return [(model_id, table.create(change_moment(sandbox), parent))]


def _create_under_late_parent(
    sandbox: Sandbox, account: LinkedAccount, model_id: str
) -> list[tuple[str, Row]]:
    """A child whose parent Merge creates only after it (``modified_at`` later than the
    child's): a client that lists children only under parents it already has, and moves one
    cursor for all of them, never asks for this child again."""
    table = account.tables[model_id]
    parent_id = f"{table.spec.category}.{table.spec.parent}"
    parent_table = account.tables[parent_id]
    parent_index = parent_table.next_index  # the parent about to be created
    child = table.create(change_moment(sandbox), parent_index)
    parent = parent_table.create(child.modified_us + 1)
    return [(model_id, child), (parent_id, parent)]


def apply_changes(
    sandbox: Sandbox,
    account: LinkedAccount,
    creates: int = 0,
    updates: int = 0,
    deletes: int = 0,
    models: Iterable[str] | None = None,
) -> ChangeSummary:
    """Change random records of ``models`` (weighted by volume), as a third party would."""
    summary = ChangeSummary()
    candidates = list(models) if models else active_models(account)
    if not candidates:
        return summary
    for _ in range(creates):
        model_id = _pick_model(sandbox, account, candidates)
        for created_model, created in create_record(sandbox, account, model_id):
            summary.add("created", created_model, created)
    for kind, count in (("updated", updates), ("deleted", deletes)):
        for _ in range(count):
            model_id = _pick_model(sandbox, account, candidates)
            index = _pick_live_index(sandbox, account, model_id)
            if index is None:
                continue
            table = account.tables[model_id]
            row = (
                table.update(index, change_moment(sandbox))
                if kind == "updated"
                else delete_row(sandbox, table, index)
            )
            if row is not None:
                summary.add(kind, model_id, row)
    return summary


def start_sync(
    sandbox: Sandbox, account: LinkedAccount, models: Iterable[str] | None = None
) -> list[str]:
    now = sandbox.clock.now_us()
    started = active_models(account, models)
    for model_id in started:
        row = account.sync[model_id]
        row.status = "SYNCING"
        row.last_sync_start = now
    account.sync_running = True
    return started


def finish_sync(
    sandbox: Sandbox,
    account: LinkedAccount,
    status: str = "DONE",
    model_statuses: Mapping[str, str] | None = None,
) -> None:
    """End the running sync: set results, schedule the next one, fire the synced webhooks."""
    if status not in SYNC_STATUSES:
        raise ValueError(f"unknown sync status {status!r}")
    if account.status == "RELINK_NEEDED":
        status = "FAILED"
    overrides = dict(model_statuses or {})
    now = sandbox.clock.now_us()
    interval = sandbox.config.sync_interval_seconds * US_PER_SECOND
    finished = []
    for model_id, row in account.sync.items():
        if row.status != "SYNCING" or row.hold is not None:
            continue
        result = overrides.get(model_id, status)
        row.status = result
        row.last_sync_result = result
        row.last_sync_finished = now
        row.next_sync_start = now + interval
        if result in ("DONE", "PARTIALLY_SYNCED"):
            row.is_initial_sync = False
        finished.append(model_id)
    was_initial = account.sync_is_initial
    account.sync_running = False
    if status in ("DONE", "PARTIALLY_SYNCED"):
        account.sync_is_initial = False
    _emit_synced(sandbox, account, finished, was_initial)


def synced_fields(status: str, names: Sequence[str]) -> list[str]:
    """``data.synced_fields`` of a model's synced webhook: every field of a DONE sync, none of a
    FAILED one, and for PARTIALLY_SYNCED all but the last (some fields failed, CONTRACT §4)."""
    if status == "FAILED":
        return []
    if status == "PARTIALLY_SYNCED" and len(names) > 1:
        return list(names[:-1])
    return list(names)


def _emit_synced(
    sandbox: Sandbox, account: LinkedAccount, finished: list[str], initial: bool
) -> None:
    linked = webhook_linked_account(account, sandbox.config)
    omit = sandbox.config.sync_status_omits
    for model_id in finished:
        row = account.sync[model_id]
        spec = account.tables[model_id].spec
        status = sync_status(row, omit)
        data = {
            "synced_fields": synced_fields(row.status, spec.model.field_names),
            "sync_status": {
                k: status[k]
                for k in (
                    "model_name",
                    "model_id",
                    "status",
                    "last_sync_result",
                    "last_sync_finished",
                    "is_initial_sync",
                )
                if k in status
            },
        }
        sandbox.webhooks.emit("model_synced", linked, data, model=spec.name)
    if finished:
        statuses = {
            m: {
                k: v
                for k, v in sync_status(account.sync[m], omit).items()
                if k in ("last_sync_finished", "last_sync_result")
            }
            or {"status": account.sync[m].status}
            for m in finished
        }
        sandbox.webhooks.emit(
            "account_synced", linked, {"is_initial_sync": initial, "sync_status": statuses}
        )


def run_sync(
    sandbox: Sandbox,
    account: LinkedAccount,
    creates: int = 0,
    updates: int = 0,
    deletes: int = 0,
    status: str = "DONE",
    finish: bool = True,
    models: Iterable[str] | None = None,
    model_statuses: Mapping[str, str] | None = None,
) -> ChangeSummary:
    """A whole sync: start, change records (unless the account needs relinking), finish."""
    started = start_sync(sandbox, account, models)
    summary = ChangeSummary()
    if account.status != "RELINK_NEEDED":
        summary = apply_changes(sandbox, account, creates, updates, deletes, started)
    if finish:
        finish_sync(sandbox, account, status, model_statuses)
    return summary


def set_model_status(
    sandbox: Sandbox, account: LinkedAccount, model_id: str, status: str | None
) -> None:
    """DISABLED/PAUSED hold a model; FAILED/DONE/... record a sync result; None lifts a hold."""
    row = account.sync[model_id]
    if status is None or status in HOLDS:
        row.hold = status
        return
    if status not in SYNC_STATUSES:
        raise ValueError(f"unknown sync status {status!r}")
    row.hold = None
    row.status = status
    if status != "SYNCING":
        row.last_sync_result = status
        row.last_sync_finished = sandbox.clock.now_us()


# -- issues and relinking -------------------------------------------------------------------


def mark_relink_needed(
    sandbox: Sandbox, account: LinkedAccount, description: str | None = None
) -> Issue:
    """Credentials broke: RELINK_NEEDED plus an ONGOING issue (reused if one is open)."""
    now = sandbox.clock.now_us()
    text = description or sandbox.config.issue_error_description
    account.status = "RELINK_NEEDED"
    for issue in sandbox.issues.values():
        if (
            issue.account_id == account.id
            and issue.status == "ONGOING"
            and issue.error_description == text
        ):
            issue.last_incident_us = now
            return issue
    issue = Issue(str(uuid.uuid4()), account.id, text, now, now)
    sandbox.issues[issue.id] = issue
    _emit_issue(sandbox, account, issue, "issue_new")
    return issue


def _emit_issue(sandbox: Sandbox, account: LinkedAccount, issue: Issue, role: str) -> None:
    linked = webhook_linked_account(account, sandbox.config)
    sandbox.webhooks.emit(role, linked, issue_payload(issue, account))


def resolve_issues(sandbox: Sandbox, account: LinkedAccount) -> list[Issue]:
    resolved = []
    for issue in sandbox.issues.values():
        if issue.account_id == account.id and issue.status == "ONGOING":
            issue.status = "RESOLVED"
            resolved.append(issue)
            _emit_issue(sandbox, account, issue, "issue_resolved")
    return resolved


def complete_link(
    sandbox: Sandbox,
    request: LinkRequest,
    records: int,
    finish_initial_sync: bool = True,
    is_test: bool = False,
) -> tuple[LinkedAccount, str, bool]:
    """The end user finished Merge Link: (account, public token, whether it was a relink)."""
    relink = request.relink_account_id is not None and request.relink_account_id in sandbox.accounts
    if relink:
        account = sandbox.accounts[str(request.relink_account_id)]
        account.status = "COMPLETE"
        resolve_issues(sandbox, account)
    else:
        account = sandbox.create_account(
            request.category,
            records,
            end_user_origin_id=request.end_user_origin_id,
            end_user_organization_name=request.end_user_organization_name,
            end_user_email_address=request.end_user_email_address,
            integration=request.integration,
            is_test=is_test,
            initial_sync_done=False,
        )
    sandbox.link_requests.pop(request.link_token, None)
    public_token = sandbox.make_token("public-token")
    sandbox.public_tokens[public_token] = account.id
    linked = webhook_linked_account(account, sandbox.config)
    sandbox.webhooks.emit(
        "linked", linked, {"account_token": account.account_token, "is_relink": relink}
    )
    if not relink and finish_initial_sync:
        finish_sync(sandbox, account, "DONE")
    return account, public_token, relink


def set_paused(account: LinkedAccount, paused: bool) -> None:
    """No activity for two weeks: Merge marks the account IDLE and its models PAUSED
    (CONTRACT §4-5) and stops syncing it; activity again makes it COMPLETE and lifts the holds.
    A model held DISABLED stays DISABLED either way."""
    account.status = "IDLE" if paused else "COMPLETE"
    for row in account.sync.values():
        if paused and row.hold is None:
            row.hold = "PAUSED"
        elif not paused and row.hold == "PAUSED":
            row.hold = None
