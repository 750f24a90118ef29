"""Every body matches the catalog: field names, types, formats, enums, nullability.

This is what the OpenAPI contract test will check later; failing here is cheaper.
"""

import uuid
from datetime import datetime

import pytest

from merge_pipeline.catalog import load_catalog
from merge_pipeline_tests.sandbox.helpers import account_of, client, concrete_list_path
from merge_sandbox.render import inline_objects
from merge_sandbox.schema import load_schema

CATALOG = load_catalog()
SCHEMA = load_schema()
_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


def _check_string(field, value, where):
    if field.format == "uuid":
        uuid.UUID(value)
    elif field.format == "date-time":
        datetime.fromisoformat(value)
        assert value.endswith(("Z", "+00:00")), where
    elif field.format == "date":
        datetime.strptime(value, "%Y-%m-%d")
    if field.enum:
        assert value in field.enum, where


def check_value(field, value, where, expanded=False):
    if value is None:
        assert field.nullable, f"{where} is null but not nullable"
        return
    if field.ref is not None:
        items = value if field.many else [value]
        assert isinstance(items, list), where
        for item in items:
            if expanded:
                assert isinstance(item, dict), where
            else:
                uuid.UUID(item)
        return
    if field.type == "any":
        return
    assert isinstance(value, _JSON_TYPES[field.type]), f"{where}: {value!r} is not {field.type}"
    if field.type == "boolean" or field.type == "integer":
        assert isinstance(value, bool) == (field.type == "boolean"), where
    if field.type == "string":
        _check_string(field, value, where)
    if field.type == "array" and field.items and field.items.get("type") == "string":
        assert isinstance(value, list)
        for item in value:
            assert isinstance(item, str), where
            if field.items.get("enum"):
                assert item in field.items["enum"], where


def check_record(model, record, expand=frozenset()):
    assert list(record) == list(model.field_names), model.model_id
    expand = expand | set(inline_objects(SCHEMA.spec(model.model_id)))
    for field in model.fields:
        check_value(
            field, record[field.name], f"{model.model_id}.{field.name}", field.name in expand
        )


@pytest.mark.parametrize("model_id", [m.model_id for m in CATALOG])
def test_records_match_the_catalog(shared, model_id):
    model = CATALOG.model(model_id)
    spec = SCHEMA.spec(model_id)
    expandable = frozenset(
        e for e in model.expand if e in spec.references and spec.references[e].expandable
    )
    with client(shared, account_of(shared, model.category)) as api:
        path = concrete_list_path(model, api)
        plain = api.get(path, params={"page_size": 25, "include_remote_data": "true"}).json()[
            "results"
        ]
        assert plain
        for record in plain:
            check_record(model, record)
        if expandable:
            rich = api.get(path, params={"page_size": 25, "expand": ",".join(expandable)}).json()
            for record in rich["results"]:
                check_record(model, record, expandable)


def _platform_fields(name):
    return {f.name: f for f in CATALOG.platform_types[name].fields}


#: The catalog's CategoryEnum comes from the HRIS SDK and predates knowledgebase, chat,
#: calendar and email; accounts of those categories report their real category.
NEWER_CATEGORIES = {"knowledgebase", "chat", "calendar", "email"}


def _check_platform(name, body):
    fields = _platform_fields(name)
    assert set(body) <= set(fields), set(body) - set(fields)
    for field_name, field in fields.items():
        if field.required:
            assert field_name in body, f"{name}.{field_name} missing"
        value = body.get(field_name)
        if field.enum and value is not None and value not in NEWER_CATEGORIES:
            assert value in field.enum, (name, field_name, value)


def test_platform_bodies_use_catalog_field_names(shared):
    account = account_of(shared, "hris")
    with client(shared, account) as api:
        for status in api.get("/hris/v1/sync-status").json()["results"]:
            _check_platform("SyncStatus", status)
        _check_platform("AccountDetails", api.get("/hris/v1/account-details").json())
        for linked in api.get("/hris/v1/linked-accounts").json()["results"]:
            _check_platform("AccountDetailsAndActions", linked)
            _check_platform("AccountDetailsAndActionsIntegration", linked["integration"])


def test_link_token_issue_and_account_token_bodies_use_catalog_field_names(fresh):
    account = account_of(fresh, "hris")
    issue = fresh.admin.make_relink_needed(account.id)
    body = {
        "end_user_email_address": "a@b.example",
        "end_user_organization_name": "B",
        "end_user_origin_id": account.end_user_origin_id,
        "categories": ["hris"],
    }
    with client(fresh) as api:
        _check_platform("Issue", api.get(f"/hris/v1/issues/{issue['id']}").json())
        link = api.post("/hris/v1/link-token", json=body).json()
        _check_platform("LinkToken", link)
        done = fresh.admin.complete_link(link["link_token"])
        token = api.get(f"/hris/v1/account-token/{done['public_token']}").json()
    _check_platform("AccountToken", token)
    _check_platform("AccountIntegration", token["integration"])


def test_account_details_webhook_listener_url_is_a_uri(shared):
    """The documents type it as a non-null URI; an empty string is neither."""
    with client(shared, account_of(shared, "hris")) as api:
        url = api.get("/hris/v1/account-details").json()["webhook_listener_url"]
    assert url.startswith("https://") and len(url) > len("https://")
