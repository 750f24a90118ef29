"""Which parents a nested model's sync lists this time, and whether a full re-list is due (pure).

A nested model (``/jobs/{job_id}/screening-questions``) is listed one parent at a time, so a
sync costs at least one call per parent listed; for the models Merge cannot filter by
``modified_after`` every child is re-read as well. Two policies:

* ``every-parent``: list the children of every parent on every sync (always a full re-list).
  Nothing is ever stale, and it costs one call per parent or more.
* ``changed-parents``: list only parents that are new, changed (their ``modified_at`` or
  deletion flag differs from when their children were last listed) or never listed; and list
  every parent once ``full_relist_every`` has passed since the last full re-list. Whether Merge
  bumps a parent's ``modified_at`` when a child changes is unconfirmed, so the full re-list is
  the guarantee: a child change under an unchanged parent is mirrored at the latest by the
  first sync after the next full re-list falls due.

Either way, a deleted parent's children are listed once more after the deletion is seen (so
whatever Merge then says about them is mirrored), and after that left as Merge last listed them:
their state is never inferred from the parent's.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class NestedPolicy(StrEnum):
    """How a nested model's sync chooses the parents it lists."""

    EVERY_PARENT = "every-parent"
    CHANGED_PARENTS = "changed-parents"


DEFAULT_FULL_RELIST_EVERY = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class ParentState:
    """A parent as the mirror holds it now."""

    parent_id: str
    modified_at: datetime | None
    deleted: bool


@dataclass(frozen=True, slots=True)
class ParentListing:
    """What was recorded when a parent's children were last listed completely."""

    listed_at: datetime  # start of that fetch, on Merge's clock: the parent's child cursor
    parent_modified_at: datetime | None
    parent_deleted: bool


@dataclass(frozen=True, slots=True)
class ParentPlan:
    """The parents to list (in order), how many were skipped, and whether this is a full re-list.

    ``full_relist`` means every parent the rules allow was planned, so the next full re-list is
    due ``full_relist_every`` after this one.
    """

    to_list: tuple[ParentState, ...]
    skipped: int
    full_relist: bool


def full_relist_due(
    policy: NestedPolicy,
    last_full_relist: datetime | None,
    now: datetime,
    every: timedelta,
    *,
    forced: bool = False,
) -> bool:
    """True when this sync must list every parent."""
    if forced or policy is NestedPolicy.EVERY_PARENT or last_full_relist is None:
        return True
    return now - last_full_relist >= every


def parent_changed(parent: ParentState, listing: ParentListing | None) -> bool:
    """New, never listed, or different from when its children were last listed."""
    if listing is None:
        return True
    return (
        parent.modified_at != listing.parent_modified_at or parent.deleted != listing.parent_deleted
    )


def should_list(parent: ParentState, listing: ParentListing | None, full_relist: bool) -> bool:
    """Whether one parent's children are listed this time."""
    if parent.deleted:
        # once more after the deletion is seen, then never: the children stay as Merge last
        # listed them (a deleted parent's path may answer 404, and Merge will not change them)
        return listing is None or not listing.parent_deleted
    return full_relist or parent_changed(parent, listing)


def plan_parents(
    policy: NestedPolicy,
    parents: Sequence[ParentState],
    listings: Mapping[str, ParentListing],
    *,
    last_full_relist: datetime | None,
    now: datetime,
    full_relist_every: timedelta = DEFAULT_FULL_RELIST_EVERY,
    forced_full: bool = False,
) -> ParentPlan:
    """The parents this sync lists, under ``policy``."""
    full = full_relist_due(policy, last_full_relist, now, full_relist_every, forced=forced_full)
    chosen = tuple(p for p in parents if should_list(p, listings.get(p.parent_id), full))
    return ParentPlan(to_list=chosen, skipped=len(parents) - len(chosen), full_relist=full)


def child_modified_after(
    listing: ParentListing | None, overlap: timedelta, *, full: bool
) -> datetime | None:
    """For a nested model Merge filters by ``modified_after``: that parent's own window.

    A parent never listed completely (new, or missing from the mirror when an earlier sync ran)
    is read in full, so none of its older children is skipped.
    """
    if full or listing is None:
        return None
    return listing.listed_at - overlap
