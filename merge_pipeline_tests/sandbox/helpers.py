"""Small client-side helpers the sandbox tests share."""

from collections.abc import Iterator
from typing import Any

import httpx

from merge_pipeline.catalog import CommonModel, load_catalog
from merge_sandbox.admin import AccountInfo
from merge_sandbox.testing import RunningSandbox


def client(
    sb: RunningSandbox, account: AccountInfo | None = None, token: str | None = None, **headers: str
) -> httpx.Client:
    """An httpx client for the Merge API, authenticated like the pipeline's."""
    base = {"Authorization": f"Bearer {sb.api_key}"}
    if account is not None or token is not None:
        base["X-Account-Token"] = token or account.account_token  # type: ignore[union-attr]
    base.update(headers)
    return httpx.Client(base_url=sb.base_url, headers=base, timeout=30)


def account_of(sb: RunningSandbox, category: str) -> AccountInfo:
    return next(a for a in sb.accounts if a.category == category)


def pages(api: httpx.Client, path: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every page of a list endpoint, following ``next`` cursors."""
    query = dict(params)
    while True:
        response = api.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        yield page
        if not page["next"]:
            return
        query["cursor"] = page["next"]


def fetch_all(api: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    return [record for page in pages(api, path, **params) for record in page["results"]]


def key(record: dict[str, Any]) -> str:
    return str(record.get("id") or record.get("remote_id"))


def concrete_list_path(model: CommonModel, api: httpx.Client) -> str:
    """A model's list path, a nested one filled with the id of its parent's first record."""
    if not model.path_params:
        return model.list_path
    [param] = model.path_params
    parent = load_catalog().category(model.category).model(str(param.model))
    parent_id = api.get(parent.list_path, params={"page_size": 1}).json()["results"][0]["id"]
    return model.list_path.replace("{" + param.name + "}", parent_id)
