"""Switches that make the sandbox behave as Merge plausibly may, rather than as is convenient.

Each switch is off by default: Merge's documents neither promise nor rule these behaviours
out, and a mirror is trusted only if it stays right under the worst plausible one. Tests turn
them on through the admin API (``PUT /_sandbox/adversity``, ``SandboxAdmin.set_adversity``), or
for a whole test session through the ``MERGE_SANDBOX_ADVERSITY`` variable
(``"hard_deletes,list_order=descending"``), which ``make adversarial`` uses to run every
end-to-end test under each switch in turn.
"""

import os
from dataclasses import dataclass, fields, replace
from typing import Any

ENVIRONMENT_VARIABLE = "MERGE_SANDBOX_ADVERSITY"
LIST_ORDERS = ("ascending", "descending", "unstable")


@dataclass(frozen=True)
class Adversity:
    """What the sandbox does that a kind emulator would not; every default is the kind one."""

    #: deleted records vanish from listings (and 404 on retrieve) instead of being listed with
    #: ``remote_was_deleted: true`` when ``include_deleted_data=true``
    hard_deletes: bool = False
    #: a deletion leaves ``modified_at`` as it was (only ``remote_was_deleted`` changes)
    delete_without_bump: bool = False
    #: a change stamped ``modified_at = T`` becomes readable only at T + this many seconds
    #: (replication lag, long Merge syncs writing with the time they started)
    visibility_lag_seconds: float = 0.0
    #: order of list results: by ``modified_at`` ascending (kind), descending, or unstable
    #: (a different order on every request)
    list_order: str = "ascending"
    #: every new child of a nested model gets a new parent, created (and stamped) just after
    #: it: Merge may store a child before its parent (its sync writes models in some order), so
    #: a child can be older than its parent and exist before the parent reaches a mirror
    late_parents: bool = False
    #: string values sometimes carry NUL characters (legal JSON, rejected by PostgreSQL text):
    #: Merge passes third parties' text through, and some systems store NULs in free text.
    #: One record in three gets a NUL in its first plain text field (merge_sandbox.oddities).
    nul_characters: bool = False
    #: timestamps without microseconds and with offsets other than Z: Merge documents ISO 8601
    #: without promising one form, and passes some third-party times through. One record in
    #: three writes every date-time as +02:00, as -05:30 (same instant) or in whole seconds.
    odd_timestamps: bool = False
    #: enum fields sometimes carry values the documents do not list: Merge adds enum values over
    #: time and passes unmapped third-party values through. One record in three.
    unknown_enum_values: bool = False
    #: records carry fields the documents do not list: Merge adds fields without a new API
    #: version. One record in three gets ``sandbox_unlisted_field`` (an object).
    extra_fields: bool = False
    #: the ``next`` cursor sometimes leads back to an earlier page (A -> B -> A): a paging bug
    #: at Merge or a third party would look like this. Once per listing (path, parent, filters),
    #: the last page names the cursor of the second page instead of ``null``; reading the
    #: listing again then ends normally.
    next_cycles: bool = False
    #: a listing sometimes ends early with a well-formed last page (``next: null``)
    short_listings: bool = False
    #: models without ``remote_was_deleted`` still lose records (they vanish from listings)
    unflagged_deletes: bool = False

    def describe(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def updated(self, changes: dict[str, Any]) -> "Adversity":
        """A copy with ``changes`` applied; ValueError names an unknown switch or bad value."""
        known = {f.name: f for f in fields(self)}
        typed: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown adversity switch {name!r}")
            typed[name] = _coerce(name, value, type(getattr(self, name)))
        return replace(self, **typed)


def _coerce(name: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on", "")
        return bool(value)
    if kind is float:
        return float(value)
    text = str(value)
    if name == "list_order" and text not in LIST_ORDERS:
        raise ValueError(f"list_order must be one of {', '.join(LIST_ORDERS)}")
    return text


def parse_adversity(spec: str) -> Adversity:
    """``"hard_deletes,visibility_lag_seconds=5"`` -> Adversity; a bare name switches it on."""
    changes: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        changes[name.strip()] = value.strip() if value else True
    return Adversity().updated(changes)


def adversity_from_environment() -> Adversity:
    """The switches named by ``MERGE_SANDBOX_ADVERSITY`` (all off when it is unset)."""
    return parse_adversity(os.environ.get(ENVIRONMENT_VARIABLE, ""))
