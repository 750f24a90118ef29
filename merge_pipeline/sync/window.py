"""Which ``modified_after`` to ask for, and what the next cursor is (pure).

Merge's syncing guide: fetch what changed since the *previous fetch began*, because data changes
while a fetch runs. ``modified_at`` is stamped by Merge's clock, so the fetch start is read from
Merge's side (the first response's ``Date`` header), not from ours, and made conservative:

* the ``Date`` header has one-second resolution and is stamped after Merge ran the query, so the
  start is taken as ``Date - elapsed - 1 s`` (the query ran no later than that);
* a configurable overlap re-reads a little before the stored cursor on the next fetch, a guard
  against the remaining uncertainty; re-read records are no-op upserts.

If Merge sends no ``Date`` header, our own clock at the start of the fetch is used, minus the
same margin; then the overlap must also cover the clock skew between us and Merge.
"""

from datetime import datetime, timedelta

DATE_HEADER_RESOLUTION = timedelta(seconds=1)


def request_modified_after(stored_cursor: datetime | None, overlap: timedelta) -> datetime | None:
    """The ``modified_after`` to send: the stored cursor minus the overlap; None = full fetch."""
    if stored_cursor is None:
        return None
    return stored_cursor - overlap


def fetch_started_at(
    server_date: datetime | None, first_response_elapsed: timedelta, local_start: datetime
) -> datetime:
    """A time no later than when Merge began answering this fetch, on Merge's clock if known."""
    if server_date is None:
        return local_start - DATE_HEADER_RESOLUTION
    return server_date - first_response_elapsed - DATE_HEADER_RESOLUTION
