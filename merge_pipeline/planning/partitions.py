"""Which linked accounts are partitions: the accounts Merge lists plus those we hold tokens for.

The rules that keep a mirror safe:

* a failed read of Merge's account list is *unknown*, never an empty list, so a transient
  error can never remove partitions;
* an account we hold a token for is never dropped on the listing's word alone: it is only a
  *candidate*, which the caller confirms with Merge (its token no longer works) before treating
  it as deleted;
* a partition with a run queued or in flight is never removed (the run would fail on an
  unknown partition); it is removed on a later tick.
"""

from collections.abc import Set
from dataclasses import dataclass


@dataclass(frozen=True)
class PartitionPlan:
    """What one category's partitions need: keys to add, keys to delete, deletions to confirm."""

    add: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    confirm_deleted: tuple[str, ...] = ()


def plan_partitions(
    *,
    listed: Set[str] | None,
    stored: Set[str],
    existing: Set[str],
    in_flight: Set[str],
) -> PartitionPlan:
    """Compare Merge's listing (None when it could not be read) and our tokens with partitions.

    ``stored`` holds the active accounts we have tokens for, ``existing`` the current partition
    keys, ``in_flight`` the keys with a run queued or running.
    """
    known = set(stored) | set(listed or ())
    add = tuple(sorted(known - existing))
    if listed is None:
        return PartitionPlan(add=add)
    confirm = tuple(sorted(set(stored) - set(listed)))
    orphaned = set(existing) - known  # neither listed by Merge nor holding a token
    delete = tuple(sorted(orphaned - set(in_flight)))
    return PartitionPlan(add=add, delete=delete, confirm_deleted=confirm)
