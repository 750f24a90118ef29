"""The demo's special linked accounts: one for each way Merge says an account is unwell.

Beyond the healthy accounts, the demo asks the sandbox (over its control API, as a test would:
the pipeline never imports the sandbox) for an account whose syncs always fail, one with a
model turned off, one paused for inactivity and one whose credentials broke, so the asset
checks have something to flag and the README's relink walkthrough has an account to relink.
"""

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class SpecialAccount:
    """One special account: how the sandbox is told to make it, and what the operator sees."""

    key: str
    category: str
    organization: str
    expect: str

    @property
    def origin_id(self) -> str:
        """``end_user_origin_id``: what ``/link-token`` matches to relink this account."""
        return f"demo-{self.key}"


#: the model held DISABLED on the ``disabled-model`` account
DISABLED_MODEL = "TimeOff"
RECORDS_PER_SPECIAL_ACCOUNT = 300
RELINK_REASON = "Invalid login credentials"
SPECIAL_ACCOUNTS = (
    SpecialAccount(
        "failing-syncs",
        "crm",
        "Failing Syncs Inc",
        "every Merge sync FAILED: its merge_sync_status checks fail (error)",
    ),
    SpecialAccount(
        "disabled-model",
        "hris",
        "Disabled Model Ltd",
        f"{DISABLED_MODEL} DISABLED in Merge: that model's merge_sync_status check fails (error)",
    ),
    SpecialAccount(
        "paused",
        "ats",
        "Paused Corp",
        "IDLE for 2 weeks, every model PAUSED: its merge_sync_status checks warn",
    ),
    SpecialAccount(
        "relink-needed",
        "accounting",
        "Relink Needed LLC",
        "RELINK_NEEDED + an ongoing issue: no_relink_needed fails, no runs until relinked",
    ),
)


def create_special_accounts(sandbox_root: str) -> list[tuple[SpecialAccount, dict[str, Any]]]:
    """Create each special account in the sandbox; returns each with its summary (token too)."""
    created = []
    with httpx.Client(base_url=sandbox_root.rstrip("/") + "/_sandbox", timeout=30) as admin:
        for special in SPECIAL_ACCOUNTS:
            summary = _call(
                admin,
                "POST",
                "/accounts",
                {
                    "category": special.category,
                    "records": RECORDS_PER_SPECIAL_ACCOUNT,
                    "end_user_origin_id": special.origin_id,
                    "end_user_organization_name": special.organization,
                },
            )
            _make_special(admin, special, f"/accounts/{summary['id']}")
            created.append((special, _call(admin, "GET", f"/accounts/{summary['id']}")))
    return created


def _make_special(admin: httpx.Client, special: SpecialAccount, account: str) -> None:
    if special.key == "failing-syncs":
        _call(admin, "PUT", f"{account}/scheduled-syncs", {"result": "FAILED"})
        _call(admin, "POST", f"{account}/sync", {"status": "FAILED"})  # failed once already
    elif special.key == "disabled-model":
        _call(admin, "POST", f"{account}/models/{DISABLED_MODEL}/status", {"status": "DISABLED"})
    elif special.key == "paused":
        _call(admin, "POST", f"{account}/pause", {"paused": True})
    elif special.key == "relink-needed":
        _call(admin, "POST", f"{account}/relink-needed", {"error_description": RELINK_REASON})


def _call(admin: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = admin.request(method, path, json=body)
    if response.status_code >= 400:
        raise RuntimeError(f"sandbox {method} {path}: {response.status_code} {response.text}")
    return response.json()


def special_banner_lines(created: list[tuple[SpecialAccount, dict[str, Any]]]) -> list[str]:
    """One banner line per special account: its id, its category and what to look for."""
    return [
        f"  {special.key:<15} {summary['id']} ({special.category}): {special.expect}"
        for special, summary in created
    ]
