"""Linked accounts and what Merge tracks about them: sync status per model, issues, tokens."""

from dataclasses import dataclass, field

from merge_sandbox.integrations import Integration
from merge_sandbox.records import AccountRecords
from merge_sandbox.table import ModelTable

SYNC_STATUSES = ("SYNCING", "DONE", "FAILED", "DISABLED", "PAUSED", "PARTIALLY_SYNCED")
ACCOUNT_STATUSES = ("COMPLETE", "INCOMPLETE", "RELINK_NEEDED", "IDLE")


@dataclass
class ModelSync:
    """One model's row of ``/sync-status``; ``hold`` is an admin-set DISABLED or PAUSED."""

    model_name: str
    model_id: str
    status: str = "DONE"
    last_sync_start: int | None = None
    last_sync_finished: int | None = None
    last_sync_result: str | None = None
    next_sync_start: int | None = None
    is_initial_sync: bool = False
    hold: str | None = None

    @property
    def current_status(self) -> str:
        return self.hold or self.status


@dataclass
class Issue:
    id: str
    account_id: str
    error_description: str
    first_incident_us: int
    last_incident_us: int
    status: str = "ONGOING"
    is_muted: bool = False
    error_details: list[str] = field(default_factory=list)


#: Where Merge's own webhook listeners live (the documents' example ``webhook_listener_url``).
WEBHOOK_LISTENER_BASE = "https://api.merge.dev/api/integrations/webhook-listener"


@dataclass
class LinkedAccount:
    """A linked account of one category, with its data and sync state."""

    id: str
    account_token: str
    category: str
    integration: Integration
    end_user_origin_id: str
    end_user_organization_name: str
    end_user_email_address: str
    records: AccountRecords
    tables: dict[str, ModelTable]
    sync: dict[str, ModelSync]
    status: str = "COMPLETE"
    is_test: bool = False
    completed_at_us: int | None = None
    webhook_listener_url: str = ""  # empty: derived from the id (see ``listener_url``)
    sync_running: bool = False
    sync_is_initial: bool = False

    @property
    def listener_url(self) -> str:
        """Merge's per-account URL for third-party webhooks: the documents type it as a URI
        that is never null, so an account without one set gets Merge's pattern for its id."""
        return self.webhook_listener_url or f"{WEBHOOK_LISTENER_BASE}/{self.id.replace('-', '')}"

    def table(self, model_id: str) -> ModelTable:
        return self.tables[model_id]

    @property
    def record_count(self) -> int:
        return sum(t.size for t in self.tables.values())
