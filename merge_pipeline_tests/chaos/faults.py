"""The kinds of fault a chaos run injects; the report counts each one it really applied."""

#: kind -> what happens (the report's legend)
FAULT_KINDS: dict[str, str] = {
    "records_created": "Merge creates records (admin mutation or a Merge sync)",
    "records_updated": "Merge changes records",
    "soft_deletes": "Merge flags records remote_was_deleted",
    "hard_deletes": "deleted records vanish from listings (adversity hard_deletes)",
    "mutations_during_fetch": "records change while a sync is paging",
    "visibility_lag": "changes readable only seconds after their modified_at",
    "list_order": "listings descending or in an unstable order",
    "delete_without_bump": "deletions leave modified_at as it was",
    "late_parents": "children stored before their parents",
    "short_listings": "listings that end early with a well-formed last page",
    "webhook_duplicated": "Merge delivers a webhook twice",
    "webhook_delayed": "a webhook arrives late",
    "webhook_reordered": "a webhook overtaken by later ones",
    "webhook_lost": "a webhook never delivered (receiver down, no retry left)",
    "rate_limit_storm": "a storm of 429s with Retry-After",
    "server_error_burst": "a burst of 5xx answers",
    "slow_responses": "answers that take long",
    "dropped_connections": "connections closed mid-body",
    "sync_killed": "a sync process SIGKILLed while it runs",
    "receiver_killed": "the webhook receiver SIGKILLed mid-burst and restarted",
    "daemon_killed": "the Dagster daemon SIGKILLed and restarted",
    "code_server_killed": "the Dagster code server SIGKILLed (the daemon starts another)",
    "pg_connections_cut": "PostgreSQL backends terminated during a sync",
    "pg_restarted": "the PostgreSQL server stopped and started during a sync",
    "relink_needed": "the account goes RELINK_NEEDED during a sync, then comes back",
    "clock_skew": "Merge's clock runs ahead of or behind real time",
}

#: kinds only the Dagster family injects
DAGSTER_KINDS = frozenset({"daemon_killed", "code_server_killed"})
