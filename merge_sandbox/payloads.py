"""JSON shapes of the platform objects (CONTRACT §4-§6), built from sandbox state.

Field names follow ``catalog.platform_types``; ``merge_pipeline_tests/sandbox`` checks that every
key produced here is one the catalog lists.
"""

from collections.abc import Iterable
from typing import Any

from merge_sandbox.accounts import Issue, LinkedAccount, ModelSync
from merge_sandbox.config import SandboxConfig
from merge_sandbox.integrations import Integration, image_url
from merge_sandbox.schema import Schema
from merge_sandbox.timefmt import to_iso


def _iso(us: int | None) -> str | None:
    return None if us is None else to_iso(us)


def _without_nulls(body: dict[str, Any], optional: tuple[str, ...]) -> dict[str, Any]:
    """Leave out optional keys that have no value: Merge's OpenAPI says absent, not null."""
    return {k: v for k, v in body.items() if not (v is None and k in optional)}


_SYNC_OPTIONAL = (
    "last_sync_start",
    "next_sync_start",
    "last_sync_result",
    "last_sync_finished",
    "selective_sync_configurations_usage",
)


def sync_status(row: ModelSync, omit: Iterable[str] = ()) -> dict[str, Any]:
    body = {
        "model_name": row.model_name,
        "model_id": row.model_id,
        "last_sync_start": _iso(row.last_sync_start),
        "next_sync_start": _iso(row.next_sync_start),
        "last_sync_result": row.last_sync_result,
        "last_sync_finished": _iso(row.last_sync_finished),
        "status": row.current_status,
        "is_initial_sync": row.is_initial_sync,
        "selective_sync_configurations_usage": None,
    }
    left_out = set(omit) & set(_SYNC_OPTIONAL)
    return {k: v for k, v in _without_nulls(body, _SYNC_OPTIONAL).items() if k not in left_out}


def account_type(account: LinkedAccount, config: SandboxConfig) -> str:
    return config.test_account_type if account.is_test else config.account_type


def account_details(account: LinkedAccount, config: SandboxConfig) -> dict[str, Any]:
    """The webhook's ``linked_account`` fields plus three more, in Merge's key order."""
    body = {
        **webhook_linked_account(account, config),
        "completed_at": _iso(account.completed_at_us),
        "instance_id": None,
        "instance_display_value": None,
    }
    return _without_nulls(body, ("instance_id", "instance_display_value"))


def _model_operations(account: LinkedAccount, schema: Schema) -> list[dict[str, Any]]:
    return [
        {
            "model_name": spec.name,
            "available_operations": ["FETCH"],
            "required_post_parameters": [],
            "supported_fields": list(spec.model.field_names),
        }
        for spec in schema.models_of(account.category)
    ]


def linked_account(account: LinkedAccount, config: SandboxConfig, schema: Schema) -> dict[str, Any]:
    """``AccountDetailsAndActions``, as ``/linked-accounts`` lists it."""
    integration = account.integration
    body = {
        "id": account.id,
        "category": account.category,
        "status": account.status,
        "status_detail": None,
        "end_user_origin_id": account.end_user_origin_id,
        "end_user_organization_name": account.end_user_organization_name,
        "end_user_email_address": account.end_user_email_address,
        "subdomain": None,
        "webhook_listener_url": account.listener_url,
        "is_duplicate": None if account.is_test else False,
        "integration": {
            "name": integration.name,
            "categories": [account.category],
            "image": image_url(integration),
            "square_image": image_url(integration, square=True),
            "color": integration.color,
            "slug": integration.slug,
            "passthrough_available": True,
            "available_model_operations": _model_operations(account, schema),
        },
        "account_type": account_type(account, config),
        "completed_at": _iso(account.completed_at_us),
        "integration_specific_fields": None,
    }
    return _without_nulls(body, ("status_detail", "subdomain", "integration_specific_fields"))


def link_token(
    token: str, integration_name: str | None, magic_link_url: str | None
) -> dict[str, Any]:
    body = {
        "link_token": token,
        "integration_name": integration_name,
        "magic_link_url": magic_link_url,
    }
    return _without_nulls(body, ("integration_name", "magic_link_url"))


def account_integration(integration: Integration, category: str) -> dict[str, Any]:
    """``AccountIntegration``, as the public-token exchange returns it."""
    return {
        "name": integration.name,
        "abbreviated_name": None,
        "categories": [category],
        "image": image_url(integration),
        "square_image": image_url(integration, square=True),
        "color": integration.color,
        "slug": integration.slug,
        "api_endpoints_to_documentation_urls": {},
        "webhook_setup_guide_url": None,
        "category_beta_status": {},
    }


def account_token(account: LinkedAccount) -> dict[str, Any]:
    return {
        "account_token": account.account_token,
        "integration": account_integration(account.integration, account.category),
        "id": account.id,
    }


def issue(row: Issue, account: LinkedAccount | None) -> dict[str, Any]:
    end_user = (
        {
            "end_user_origin_id": account.end_user_origin_id,
            "end_user_organization_name": account.end_user_organization_name,
            "end_user_email_address": account.end_user_email_address,
        }
        if account is not None
        else {}
    )
    return {
        "id": row.id,
        "status": row.status,
        "error_description": row.error_description,
        "end_user": end_user,
        "first_incident_time": _iso(row.first_incident_us),
        "last_incident_time": _iso(row.last_incident_us),
        "is_muted": row.is_muted,
        "error_details": list(row.error_details),
    }


def webhook_linked_account(account: LinkedAccount, config: SandboxConfig) -> dict[str, Any]:
    """The ``linked_account`` part of every webhook envelope (CONTRACT §6)."""
    return {
        "id": account.id,
        "integration": account.integration.name,
        "integration_slug": account.integration.slug,
        "category": account.category,
        "end_user_origin_id": account.end_user_origin_id,
        "end_user_organization_name": account.end_user_organization_name,
        "end_user_email_address": account.end_user_email_address,
        "status": account.status,
        "webhook_listener_url": account.listener_url,
        "is_duplicate": None if account.is_test else False,
        "account_type": account_type(account, config),
    }


def available_actions(account: LinkedAccount, schema: Schema) -> dict[str, Any]:
    """``AvailableActions``: the account's integration and its (read-only) model operations."""
    return {
        "integration": account_integration(account.integration, account.category),
        "passthrough_available": True,
        "available_model_operations": _model_operations(account, schema),
    }


def common_model_scopes(category: str, schema: Schema) -> dict[str, Any]:
    """``CommonModelScopeAPI``: every model of the category readable, every field enabled."""
    return {
        "common_models": [
            {
                "model_name": spec.name,
                "model_permissions": {"READ": {"is_enabled": True}},
                "field_permissions": {
                    "enabled_fields": list(spec.model.field_names),
                    "disabled_fields": [],
                },
            }
            for spec in schema.models_of(category)
        ]
    }


def per_model_lists(category: str, schema: Schema) -> dict[str, list[Any]]:
    """Field mappings, remote fields, target fields: one (empty) list per model of the category."""
    return {spec.name: [] for spec in schema.models_of(category)}
