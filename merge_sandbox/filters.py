"""Model-specific list filters (``employment_status``, ``company_id``, ``started_after``...).

Each query parameter the catalog lists for a model is mapped, once, to a predicate on the
record's fields. Parameters whose field cannot be identified are accepted and ignored, which is
also what Merge does with parameters it does not know.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from merge_pipeline.catalog.model import Field
from merge_sandbox.errors import bad_request
from merge_sandbox.schema import ModelSpec
from merge_sandbox.timefmt import parse_iso

Predicate = Callable[[Mapping[str, Any]], bool]

#: Parameters every list endpoint handles itself (pagination, standard filters, rendering).
STANDARD_PARAMS = frozenset(
    {
        "cursor",
        "page_size",
        "include_deleted_data",
        "include_remote_data",
        "include_shell_data",
        "created_after",
        "created_before",
        "modified_after",
        "modified_before",
        "remote_id",
        "expand",
        "show_enum_origins",
        "remote_fields",
        "include_remote_fields",
        "include_sensitive_fields",
    }
)
#: Accepted but without effect on which records match.
IGNORED_PARAMS = frozenset({"order_by", "include_cancelled"})
#: Date fields a ``<stem>_after``/``<stem>_before`` parameter may filter, beyond the obvious.
_DATE_STEMS = {
    "started": ("start_date", "start_time", "started_at", "start_at"),
    "starts": ("start_time", "start_date", "starts_at"),
    "ended": ("end_date", "end_time", "ended_at", "end_at"),
    "terminated": ("termination_date",),
    "completed": ("completed_at",),
    "due": ("due_date",),
}
#: Keys whose values a filter on a list of objects compares (``phone_numbers=...``).
TEXT_KEYS = frozenset({"value", "email_address", "phone_number", "number", "name", "id"})
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True, slots=True)
class FilterRule:
    """How one parameter filters: ``kind`` is eq, any, member, bool, after or before."""

    param: str
    field: str
    kind: str
    choices: tuple[str, ...] | None = None  # an enum field's values: anything else is a 400


def parse_bool(param: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise bad_request("invalid_boolean", param=param)


def parse_moment(param: str, value: str) -> int:
    try:
        return parse_iso(value)
    except ValueError:
        raise bad_request("invalid_datetime", param=param) from None


def _is_list(field: Field) -> bool:
    return field.type == "array"


def _date_rule(spec: ModelSpec, param: str, kind: str) -> FilterRule | None:
    stem = param.rsplit("_", 1)[0]
    candidates = (stem, f"{stem}_at", f"{stem}_date", f"{stem}_time", *_DATE_STEMS.get(stem, ()))
    for name in candidates:
        if spec.has_field(name) and spec.model.field(name).format in ("date-time", "date"):
            return FilterRule(param, name, kind)
    return None


def _list_field(spec: ModelSpec, *names: str) -> str | None:
    for name in names:
        if spec.has_field(name) and _is_list(spec.model.field(name)):
            return name
    return None


def rule_for(spec: ModelSpec, param: str) -> FilterRule | None:
    """The filter a model-specific parameter stands for, or None when it cannot be mapped."""
    if param in STANDARD_PARAMS or param in IGNORED_PARAMS:
        return None
    if param.endswith(("_after", "_before")):
        return _date_rule(spec, param, param.rsplit("_", 1)[1])
    if spec.has_field(param):
        field = spec.model.field(param)
        if field.type == "boolean":
            return FilterRule(param, param, "bool")
        if _is_list(field):
            return FilterRule(param, param, "member")
        return FilterRule(param, param, "eq", field.enum)
    if param.endswith("_ids"):
        stem = param[: -len("_ids")]
        for name in (stem, f"{stem}s", f"{stem}es"):
            if spec.has_field(name):
                kind = "member" if _is_list(spec.model.field(name)) else "any"
                return FilterRule(param, name, kind)
    if param.endswith("_id"):
        stem = param[: -len("_id")]
        if spec.has_field(stem):
            return FilterRule(param, stem, "member" if _is_list(spec.model.field(stem)) else "eq")
        plural = _list_field(spec, f"{stem}s", f"{stem}es", stem.removesuffix("_address"))
        if plural:
            return FilterRule(param, plural, "member")
    if param.endswith("s") and spec.has_field(param[:-1]):
        return FilterRule(param, param[:-1], "any")
    plural = _list_field(spec, f"{param}s")
    if plural:
        return FilterRule(param, plural, "member")
    return None


def unmapped_params(spec: ModelSpec) -> list[str]:
    """Model-specific parameters the sandbox accepts but cannot filter on (for reports)."""
    return sorted(
        p
        for p in spec.model.list_params
        if p not in STANDARD_PARAMS and p not in IGNORED_PARAMS and rule_for(spec, p) is None
    )


def _text_values(value: Any) -> list[str]:
    """Comparable texts of a list element: ids/strings as they are, objects by their value."""
    if isinstance(value, dict):
        return [str(v) for k, v in value.items() if k in TEXT_KEYS]
    return [] if value is None else [str(value)]


def compile_rule(rule: FilterRule, value: str) -> Predicate:
    """A predicate for one parameter value (400 for malformed dates/booleans and, as
    django-filter's choice filters answer, for a value outside an enum; empty means no filter)."""
    name = rule.field
    if rule.choices is not None and value and value not in rule.choices:
        raise bad_request("invalid_enum", param=rule.param, value=value)
    if rule.kind == "bool":
        wanted = parse_bool(rule.param, value)
        return lambda record: record.get(name) is wanted
    if rule.kind in ("after", "before"):
        moment = parse_moment(rule.param, value)
        after = rule.kind == "after"

        def dated(record: Mapping[str, Any]) -> bool:
            raw = record.get(name)
            if not raw:
                return False
            stamp = parse_iso(raw)
            return stamp > moment if after else stamp < moment

        return dated
    wanted_set = {v for v in value.split(",") if v} if rule.kind in ("any", "member") else {value}
    if rule.kind == "member":

        def member(record: Mapping[str, Any]) -> bool:
            items = record.get(name) or []
            return any(t in wanted_set for item in items for t in _text_values(item))

        return member
    return lambda record: (
        str(record.get(name)) in wanted_set if record.get(name) is not None else False
    )
