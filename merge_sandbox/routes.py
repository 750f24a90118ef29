"""The Merge API's URL space (relative to ``/api``), matched by path segments.

About 270 templates; grouping them by segment count keeps a match to a handful of comparisons.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from merge_sandbox.schema import ModelSpec, Schema

#: Per-category platform endpoints: (method, path under /{category}/v1, handler name).
PLATFORM_ROUTES = (
    ("GET", "sync-status", "sync_status"),
    ("POST", "sync-status/resync", "resync"),
    ("GET", "account-details", "account_details"),
    ("GET", "issues", "issues"),
    ("GET", "issues/{id}", "issue"),
    ("POST", "link-token", "link_token"),
    ("GET", "account-token/{public_token}", "account_token"),
    ("GET", "linked-accounts", "linked_accounts"),
    ("POST", "delete-account", "delete_account"),
    # Configuration reads a pipeline may make; the sandbox configures nothing, so they describe
    # every model as readable and nothing as mapped.
    ("GET", "available-actions", "available_actions"),
    ("GET", "linked-account-scopes", "linked_account_scopes"),
    ("GET", "default-scopes", "default_scopes"),
    ("GET", "field-mappings", "field_mappings"),
    ("GET", "remote-fields", "remote_fields"),
    ("GET", "target-fields", "target_fields"),
    ("GET", "webhook-receivers", "webhook_receivers"),
    ("GET", "audit-trail", "audit_trail"),
)


@dataclass(frozen=True)
class Route:
    method: str
    segments: tuple[str, ...]
    handler: str  # list | retrieve | one of PLATFORM_ROUTES' names
    category: str
    spec: ModelSpec | None = None
    parent: str | None = None  # model name whose id fills the path parameter (nested lists)
    primary: bool = True  # False for a model's alternative list paths

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(s[1:-1] for s in self.segments if s.startswith("{"))


@dataclass
class Match:
    route: Route
    values: dict[str, str] = field(default_factory=dict)


def _segments(path: str) -> tuple[str, ...]:
    return tuple(s for s in path.split("/") if s)


def _alt_parent(schema: Schema, spec: ModelSpec, path: str) -> str | None:
    """The model a nested alternative path belongs to (``/projects/{parent_id}/users``)."""
    segments = _segments(path)
    for position, segment in enumerate(segments):
        if segment.startswith("{") and position > 0:
            collection = segments[position - 1]
            for other in schema.models_of(spec.category):
                if other.model.list_path.rsplit("/", 1)[-1] == collection:
                    return other.name
    return None


def build_routes(schema: Schema) -> list[Route]:
    routes = []
    for category in schema.catalog.categories:
        for method, path, handler in PLATFORM_ROUTES:
            routes.append(Route(method, _segments(f"/{category}/v1/{path}"), handler, category))
    for spec in schema:
        model = spec.model
        routes.append(
            Route("GET", _segments(model.list_path), "list", spec.category, spec, spec.parent)
        )
        if model.retrieve_path:
            routes.append(
                Route(
                    "GET",
                    _segments(model.retrieve_path),
                    "retrieve",
                    spec.category,
                    spec,
                    spec.parent,
                )
            )
        for path in model.other_list_paths:
            parent = _alt_parent(schema, spec, path)
            routes.append(
                Route("GET", _segments(path), "list", spec.category, spec, parent, primary=False)
            )
    return routes


class Router:
    """Finds the route for a path; distinguishes "no such path" from "wrong method"."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._by_length: dict[int, list[Route]] = {}
        for route in sorted(routes, key=lambda r: len(r.params)):
            self._by_length.setdefault(len(route.segments), []).append(route)

    def match(self, method: str, path: str) -> tuple[Match | None, bool]:
        """``(match, path_exists)``: a None match with ``path_exists`` means 405."""
        segments = _segments(path)
        path_exists = False
        for route in self._by_length.get(len(segments), ()):
            values = _bind(route.segments, segments)
            if values is None:
                continue
            if route.method == method:
                return Match(route, values), True
            path_exists = True
        return None, path_exists


def _bind(template: tuple[str, ...], segments: tuple[str, ...]) -> dict[str, str] | None:
    values = {}
    for expected, actual in zip(template, segments, strict=True):
        if expected.startswith("{"):
            values[expected[1:-1]] = actual
        elif expected != actual:
            return None
    return values
