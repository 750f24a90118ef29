"""Every list endpoint of every category, nested and alternative paths included, pages to its end
under every real parent, and together the pages return each live record exactly once."""

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from merge_pipeline.catalog import CommonModel, load_catalog
from merge_pipeline_tests.sandbox.helpers import client, fetch_all, key
from merge_sandbox.admin import AccountInfo
from merge_sandbox.schema import load_schema
from merge_sandbox.testing import RunningSandbox, running_sandbox

CATALOG = load_catalog()
#: Small pages, so every endpoint with more than one record is paged, not read at once.
PAGE_SIZE = 25


@pytest.fixture(scope="module")
def walked() -> Iterator[RunningSandbox]:
    """A sandbox small enough to list every nested model under every one of its parents."""
    with running_sandbox(accounts=10, records=1_200, seed=3) as sb:
        yield sb


def _parent_ids(api: httpx.Client, category: str, parent: str) -> list[str]:
    model = CATALOG.category(category).model(parent)
    return [r["id"] for r in fetch_all(api, model.list_path, page_size=100)]


def _walk(api: httpx.Client, model: CommonModel, path: str) -> list[str]:
    """Keys of every record a path lists, following ``next`` until it is null."""
    [param] = [p.model for p in model.path_params] or [None]
    if param is None and "{" not in path:
        return [key(r) for r in fetch_all(api, path, page_size=PAGE_SIZE)]
    name = path[path.index("{") + 1 : path.index("}")]
    primary = param is not None and "{" + name + "}" in model.list_path
    parent = str(param) if primary else _alternative_parent(model, path)
    keys = []
    for parent_id in _parent_ids(api, model.category, parent):
        concrete = path.replace("{" + name + "}", parent_id)
        keys += [key(r) for r in fetch_all(api, concrete, page_size=PAGE_SIZE)]
    return keys


def _alternative_parent(model: CommonModel, path: str) -> str:
    """The model whose ids fill an alternative nested path (``/projects/{parent_id}/users``)."""
    collection = path.split("/{", maxsplit=1)[0].rsplit("/", 1)[-1]
    return next(
        m.name
        for m in CATALOG.category(model.category)
        if m.list_path.rsplit("/", 1)[-1] == collection
    )


def _account(sb: RunningSandbox, category: str) -> AccountInfo:
    return next(a for a in sb.accounts if a.category == category)


@pytest.mark.parametrize("category", list(CATALOG.categories))
def test_every_list_endpoint_pages_to_its_end_returning_each_live_record_once(
    walked: RunningSandbox, category: str
) -> None:
    account = _account(walked, category)
    found: dict[str, tuple[int, int, int]] = {}
    with client(walked, account) as api:
        for model in CATALOG.category(category):
            live = walked.admin.records(account.id, model.model_id).live()
            truth = {key(r) for r in live}
            keys = _walk(api, model, model.list_path)
            repeats = Counter(keys).most_common(1)[0][1] if keys else 0
            found[model.model_id] = (len(set(keys)), len(truth), repeats)
    mismatched = {m: f for m, f in found.items() if f[0] != f[1] or f[2] > 1}
    assert mismatched == {}, "model id: (distinct listed, live, most repeats of one record)"


ALTERNATIVES = [(m, p) for m in CATALOG for p in m.other_list_paths]


@pytest.mark.parametrize(("model", "path"), ALTERNATIVES, ids=[p for _, p in ALTERNATIVES])
def test_alternative_nested_paths_page_to_their_end_under_every_parent(
    walked: RunningSandbox, model: CommonModel, path: str
) -> None:
    spec = load_schema().spec(model.model_id)
    assert spec.model.other_list_paths, "the catalog lists the alternative path"
    with client(walked, _account(walked, model.category)) as api:
        keys = _walk(api, model, path)
    assert keys, f"no parent of {path} lists any {model.name}"
