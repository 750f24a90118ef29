"""When an incremental model is listed in full instead (pure): the deletion sweep.

``modified_after`` only finds what Merge re-stamped. Three kinds of change it can never find:
a record that vanishes from listings (a hard delete, or a deletion in a model that has no
``remote_was_deleted`` field, e.g. ``crm.EngagementType``), and a deletion that sets the flag
without bumping ``modified_at``. Only a full listing sees them, so each incremental model is
listed in full when its last full listing is older than the sweep interval.
"""

from datetime import datetime, timedelta


def needs_full_listing(
    *,
    supports_modified_after: bool,
    forced: bool,
    has_cursor: bool,
    last_full_listing: datetime | None,
    now: datetime,
    sweep_interval: timedelta | None,
) -> bool:
    """True when this sync must list every record (and may then mark the unlisted absent)."""
    if forced or not supports_modified_after or not has_cursor:
        return True
    if sweep_interval is None:
        return False
    return last_full_listing is None or now - last_full_listing >= sweep_interval
