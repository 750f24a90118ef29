"""Merge's non-Common-Model endpoints we call: their paths and documented parameters.

Names are copied from CONTRACT.md §4-§5; a name not listed here is refused rather than sent, so a
typo fails loudly instead of silently filtering nothing.
"""

from urllib.parse import quote

from merge_pipeline.catalog import load_catalog

#: ``GET /{category}/v1/issues`` filters (cursor/page_size are the paginator's). The documented
#: ``account_token`` filter is left out on purpose: it would put a secret in the URL, and so in
#: httpx's request log; filter by ``linked_account_id`` instead.
ISSUE_FILTERS = frozenset(
    {
        "end_date",
        "end_user_organization_name",
        "first_incident_time_after",
        "first_incident_time_before",
        "include_muted",
        "integration_name",
        "last_incident_time_after",
        "last_incident_time_before",
        "linked_account_id",
        "start_date",
        "status",
    }
)

#: ``GET /{category}/v1/linked-accounts`` filters (cursor/page_size are the paginator's).
LINKED_ACCOUNT_FILTERS = frozenset(
    {
        "category",
        "end_user_email_address",
        "end_user_organization_name",
        "end_user_origin_id",
        "end_user_origin_ids",
        "id",
        "ids",
        "include_duplicates",
        "integration_name",
        "is_test_account",
        "status",
    }
)

#: the values ``/linked-accounts``' ``category`` filter takes (CONTRACT §5); other categories
#: (knowledgebase, chat, ...) are listed unfiltered
LINKED_ACCOUNT_CATEGORIES = frozenset(
    {"accounting", "ats", "crm", "filestorage", "hris", "mktg", "ticketing"}
)

#: Optional fields of the ``POST /{category}/v1/link-token`` body (``EndUserDetailsRequest``).
LINK_TOKEN_OPTIONS = frozenset(
    {
        "integration",
        "link_expiry_mins",
        "should_create_magic_link_url",
        "hide_admin_magic_link",
        "common_models",
        "category_common_model_scopes",
        "language",
        "are_syncs_disabled",
        "integration_specific_config",
        "linked_destination_id",
        "completed_account_initial_screen",
        "credential_id",
        "ekm_enabled",
    }
)


def category_prefix(category: str) -> str:
    """``/{category}/v1`` after checking the category is one Merge publishes."""
    known = load_catalog().categories
    if category not in known:
        raise ValueError(f"unknown Merge category {category!r} (known: {', '.join(known)})")
    return f"/{category}/v1"


def sync_status_path(category: str) -> str:
    return f"{category_prefix(category)}/sync-status"


def account_details_path(category: str) -> str:
    return f"{category_prefix(category)}/account-details"


def issues_path(category: str) -> str:
    return f"{category_prefix(category)}/issues"


def linked_accounts_path(category: str) -> str:
    return f"{category_prefix(category)}/linked-accounts"


def link_token_path(category: str) -> str:
    return f"{category_prefix(category)}/link-token"


def account_token_path(category: str, public_token: str) -> str:
    if not public_token:
        raise ValueError("public_token must not be empty")
    return f"{category_prefix(category)}/account-token/{quote(public_token, safe='')}"
