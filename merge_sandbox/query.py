"""Parse a Common Model request's query string into what the table and renderer need.

Only parameters the catalog lists for the model take effect; anything else is ignored, as Merge
ignores unknown parameters. Malformed values of known parameters are a 400.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from merge_sandbox.config import SandboxConfig
from merge_sandbox.errors import bad_request
from merge_sandbox.filters import (
    STANDARD_PARAMS,
    Predicate,
    compile_rule,
    parse_bool,
    parse_moment,
    rule_for,
)
from merge_sandbox.schema import ModelSpec


@dataclass(frozen=True)
class Rendering:
    """How to render records: which relations to inline and which optional parts to add."""

    expand: frozenset[str] = frozenset()
    include_remote_data: bool = False
    include_remote_fields: bool = False
    include_sensitive_fields: bool = False
    enum_origins: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ListQuery:
    page_size: int
    cursor: str | None
    modified_after: int | None
    modified_before: int | None
    created_after: int | None
    created_before: int | None
    include_deleted: bool
    remote_id: str | None
    predicates: tuple[Predicate, ...]
    rendering: Rendering


def _accepted(spec: ModelSpec, params: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k in spec.model.list_params}


def _flag(params: Mapping[str, str], name: str) -> bool:
    return name in params and parse_bool(name, params[name])


def _moment(params: Mapping[str, str], name: str) -> int | None:
    return parse_moment(name, params[name]) if name in params else None


def parse_page_size(params: Mapping[str, str], config: SandboxConfig) -> int:
    """DRF's reading, which Merge's pagination is (see ``cursor``): a ``page_size`` that is not a
    positive integer means the default size, one above the maximum means the maximum.
    ``config.invalid_page_size = "error"`` and ``page_size_over_max = "error"`` make them 400s."""
    raw = params.get("page_size")
    if raw is None or raw == "":
        return config.default_page_size
    try:
        size = int(raw)
    except ValueError:
        if config.invalid_page_size == "error":
            raise bad_request("invalid_integer", param="page_size") from None
        return config.default_page_size
    if size < 1:
        if config.invalid_page_size == "error":
            raise bad_request("page_size_out_of_range", maximum=config.max_page_size)
        return config.default_page_size
    if size > config.max_page_size and config.page_size_over_max == "error":
        raise bad_request("page_size_out_of_range", maximum=config.max_page_size)
    return min(size, config.max_page_size)


def parse_enum_origins(spec: ModelSpec, raw: str) -> frozenset[str]:
    """``show_enum_origins`` (or its deprecated name ``remote_fields``): enum fields of the model,
    comma-separated; the documents enumerate them, so another name is a 400."""
    names = [v for v in raw.split(",") if v]
    allowed = {f.name for f in spec.model.fields if f.enum}
    for name in names:
        if name not in allowed:
            raise bad_request("invalid_enum", param="show_enum_origins", value=name)
    return frozenset(names)


def parse_rendering(spec: ModelSpec, params: Mapping[str, str]) -> Rendering:
    """``expand`` and the ``include_*`` switches, for list and retrieve alike."""
    accepted = _accepted(spec, params)
    expand: frozenset[str] = frozenset()
    if accepted.get("expand"):
        values = [v for v in accepted["expand"].split(",") if v]
        unknown = [v for v in values if v not in spec.model.expand]
        if unknown:
            allowed = ", ".join(spec.model.expand)
            raise bad_request("unknown_expand", value=unknown[0], allowed=allowed)
        expand = frozenset(values)
    origins_raw = accepted.get("show_enum_origins") or accepted.get("remote_fields") or ""
    enum_origins = parse_enum_origins(spec, origins_raw)
    return Rendering(
        expand=expand,
        include_remote_data=_flag(accepted, "include_remote_data"),
        include_remote_fields=_flag(accepted, "include_remote_fields"),
        include_sensitive_fields=_flag(accepted, "include_sensitive_fields"),
        enum_origins=enum_origins,
    )


def parse_list_query(
    spec: ModelSpec, params: Mapping[str, str], config: SandboxConfig
) -> ListQuery:
    """Validate and interpret a list request (an empty filter value filters nothing)."""
    accepted = _accepted(spec, params)
    _flag(accepted, "include_shell_data")  # validated, no shell records exist here
    predicates = []
    for name, value in sorted(accepted.items()):
        if name in STANDARD_PARAMS or value == "":
            continue
        rule = rule_for(spec, name)
        if rule is not None:
            predicates.append(compile_rule(rule, value))
    return ListQuery(
        page_size=parse_page_size(params, config),
        cursor=params.get("cursor") or None,
        modified_after=_moment(accepted, "modified_after"),
        modified_before=_moment(accepted, "modified_before"),
        created_after=_moment(accepted, "created_after"),
        created_before=_moment(accepted, "created_before"),
        include_deleted=_flag(accepted, "include_deleted_data"),
        remote_id=accepted.get("remote_id") or None,
        predicates=tuple(predicates),
        rendering=parse_rendering(spec, params),
    )
