"""What one sync did: the numbers the Dagster layer turns into metadata, and operators read."""

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class SyncResult:
    """The outcome of syncing one (linked account, Common Model) pair."""

    linked_account_id: str
    model_id: str
    sync_run_id: str
    full_fetch: bool
    cursor_before: datetime | None
    cursor_after: datetime | None = None
    requested_modified_after: datetime | None = None
    records_received: int = 0
    records_inserted: int = 0
    records_updated: int = 0
    records_unchanged: int = 0
    #: rows that went from live to ``remote_was_deleted`` (transitions, not flags received)
    records_deleted: int = 0
    #: records of this model set aside this sync because they could not be mirrored
    records_quarantined: int = 0
    #: of those, records no id can fetch again (not an object, no usable id): the cursor stays
    quarantined_without_id: int = 0
    #: quarantined records of the pair stored (or found gone) this sync
    quarantine_resolved: int = 0
    #: quarantined records of the pair still waiting after this sync (the Dagster check's figure)
    quarantine_pending: int = 0
    #: rows a full listing (confirmed by a second one) left out: ``_absent_since`` set
    records_marked_absent: int = 0
    #: rows marked absent earlier that Merge listed again
    records_returned: int = 0
    #: rows left unmarked because marking them would have been a mass deletion (see guard)
    absence_refused: int = 0
    #: page transactions PostgreSQL aborted as deadlocks and that were re-run
    transaction_conflicts: int = 0
    #: second listings run to confirm that rows the first one left out are really gone
    confirmation_listings: int = 0
    related_upserted: dict[str, int] = field(default_factory=dict)
    #: every record of the model (a flat full-refresh model, or every parent of a nested one)
    #: was listed; for nested models the policy that chose the parents and what it chose
    full_relist: bool = False
    nested_policy: str | None = None
    parents_listed: int = 0
    parents_skipped: int = 0
    parents_not_found: int = 0
    pages: int = 0
    api_calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    bytes: int = 0
    rate_limit_wait_s: float = 0.0
    backoff_wait_s: float = 0.0
    cursor_cycles: int = 0
    lock_wait_s: float = 0.0
    duration_s: float = 0.0

    @property
    def records_per_second(self) -> float:
        return self.records_received / self.duration_s if self.duration_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly (timestamps as ISO strings); contains no secret by construction."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        data["records_per_second"] = round(self.records_per_second, 1)
        return data
