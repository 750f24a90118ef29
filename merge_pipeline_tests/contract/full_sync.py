"""Every response a full sync of one category produces, validated, with violations counted.

A full sync is what the pipeline does on a first run: every model of the category paged to its
end (``include_deleted_data=true``, 100 per page), nested models under every parent, once
plain and once with every ``expand`` value; plus the platform reads around it (sync status,
account details, the configuration reads) and the errors a sync can meet. Each response is
checked by the same ``ContractValidator`` as the rest of the suite; a violation is counted (and
kept, for the failure message) instead of stopping the walk, so one run reports them all.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from merge_pipeline.catalog import load_catalog
from merge_pipeline.catalog.model import CommonModel
from merge_pipeline_tests.contract.spec import DOCUMENTS, normalised_document
from merge_pipeline_tests.contract.validator import ContractValidator, ContractViolation

#: As the pipeline asks (``merge_pipeline.sync.engine``).
SYNC_PARAMS = {"page_size": "100", "include_deleted_data": "true"}
#: Platform reads per account (the configuration reads are answered by every category).
PLATFORM_READS = (
    "sync-status",
    "account-details",
    "available-actions",
    "linked-account-scopes",
    "field-mappings",
    "remote-fields",
    "target-fields",
    "webhook-receivers",
)
#: How many violation messages a tally keeps (the count is always complete).
KEPT = 20


@dataclass
class Tally:
    """Responses validated and contract violations found, for one category."""

    category: str
    responses: int = 0
    violations: int = 0
    messages: list[str] = field(default_factory=list)

    def record(self, problem: str | None) -> None:
        self.responses += 1
        if problem is not None:
            self.violations += 1
            if len(self.messages) < KEPT:
                self.messages.append(problem)


def _pages(api: httpx.Client, path: str, params: dict[str, str]) -> Iterator[httpx.Response]:
    """Every page of a list endpoint; stops (after yielding it) at the first non-200."""
    query = dict(params)
    while True:
        response = api.get(path, params=query)
        yield response
        if response.status_code != 200:
            return
        cursor = response.json().get("next")
        if not cursor:
            return
        query["cursor"] = cursor


def _ids(api: httpx.Client, model: CommonModel) -> list[str]:
    """Every record id of a top-level model (the parents a nested model is listed under)."""
    ids = []
    for response in _pages(api, model.list_path, {"page_size": "100"}):
        if response.status_code == 200:
            ids += [r["id"] for r in response.json()["results"]]
    return ids


def list_paths(api: httpx.Client, model: CommonModel) -> list[str]:
    """The paths a sync lists ``model`` at: its list path, or it under every parent."""
    if not model.path_params:
        return [model.list_path]
    (param,) = model.path_params
    parent = load_catalog().category(model.category).model(str(param.model))
    return [model.list_path.format(**{param.name: pid}) for pid in _ids(api, parent)]


def sync_responses(api: httpx.Client, category: str) -> Iterator[httpx.Response]:
    """Every response of a full sync of ``category``, plain and expanded."""
    for model in load_catalog().category(category):
        variants = [SYNC_PARAMS]
        if model.expand:
            variants.append({**SYNC_PARAMS, "expand": ",".join(model.expand)})
        for path in list_paths(api, model):
            for params in variants:
                yield from _pages(api, path, params)


def platform_reads(category: str) -> list[str]:
    """The platform reads the category's documents describe (calendar and email, checked
    against the catalog, which describes sync status and account details)."""
    if category not in DOCUMENTS:
        return list(PLATFORM_READS[:2])
    paths = {
        path
        for relative in DOCUMENTS[category]
        for path in normalised_document(relative, category)["paths"]
    }
    return [read for read in PLATFORM_READS if f"/{category}/v1/{read}" in paths]


def _problem(validator: ContractValidator, response: httpx.Response, status: int) -> str | None:
    try:
        if status < 300:
            validator.check(response)
        else:
            validator.check_error(response, status)
    except ContractViolation as violation:
        return str(violation)
    return None


def validate_full_sync(
    validator: ContractValidator, api: httpx.Client, category: str, errors: dict[str, int]
) -> Tally:
    """Validate a full sync of ``category``; ``errors`` maps extra paths to their error status."""
    tally = Tally(category)
    for response in sync_responses(api, category):
        tally.record(_problem(validator, response, 200))
    for read in platform_reads(category):
        tally.record(_problem(validator, api.get(f"/{category}/v1/{read}"), 200))
    for path, status in errors.items():
        tally.record(_problem(validator, api.get(path), status))
    return tally


def error_calls(category: str) -> dict[str, int]:
    """Errors a sync can meet, one per kind: an unknown id, a bad filter, an undecodable cursor,
    and a documented endpoint the sandbox's integrations do not support."""
    model = next(
        m
        for m in load_catalog().category(category)
        if m.retrieve_path and m.expand and not m.path_params and m.supports_modified_after
    )
    retrieve = str(model.retrieve_path).format(id="00000000-0000-4000-8000-000000000000")
    return {
        retrieve: 404,
        f"{model.list_path}?expand=not-a-relation": 400,
        f"{model.list_path}?modified_after=yesterday": 400,
        f"{model.list_path}?cursor=%25%25": 404,
        f"/{category}/v1/async-passthrough/00000000-0000-4000-8000-000000000000": 404,
    }
