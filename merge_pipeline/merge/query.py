"""Pure helpers that turn our arguments into Merge paths and query parameters."""

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, urlsplit

from merge_pipeline.catalog import CommonModel

#: Merge's documented maximum page size (CONTRACT.md §2; above 100 is unconfirmed behaviour).
MAX_PAGE_SIZE = 100

QueryValue = str | int | bool | datetime | Sequence[str]

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def format_timestamp(value: datetime) -> str:
    """ISO-8601 UTC with microseconds and ``Z``; naive datetimes are refused as ambiguous."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp {value!r} has no timezone; pass an aware (UTC) datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def query_value(value: QueryValue) -> str:
    """One query parameter value as Merge expects it (lowercase booleans, comma lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, int | str):
        return str(value)
    return ",".join(value)


def page_size_for(requested: int | None, default: int) -> int:
    """The page size to ask for: the request, else the setting, never above Merge's maximum."""
    size = default if requested is None else requested
    if size < 1:
        raise ValueError(f"page_size must be at least 1, got {size}")
    return min(size, MAX_PAGE_SIZE)


def expand_value(model: CommonModel, expand: Sequence[str]) -> str | None:
    """``expand`` on the wire (comma-joined, no spaces), after checking each relation exists."""
    if isinstance(expand, str):
        raise TypeError("expand must be a sequence of relation names, not a string")
    unknown = [name for name in expand if name not in model.expand]
    if unknown:
        allowed = ", ".join(model.expand) or "none"
        raise ValueError(
            f"{model.model_id} cannot expand {', '.join(map(repr, unknown))} (allowed: {allowed})"
        )
    return ",".join(dict.fromkeys(expand)) or None


def list_params(
    model: CommonModel,
    *,
    modified_after: datetime | None,
    expand: Sequence[str],
    include_deleted_data: bool,
    include_remote_data: bool,
    page_size: int,
) -> dict[str, str]:
    """The query of a Common Model list call, limited to what its endpoint accepts.

    Explicit requests the endpoint cannot honour (``modified_after``, ``expand``) raise: silently
    dropping them would turn an incremental sync into a full one unnoticed. Boolean flags the
    endpoint lacks are left out, which is what Merge does when they are absent.
    """
    accepted = model.list_params
    params: dict[str, str] = {}
    if "page_size" in accepted:
        params["page_size"] = str(page_size)
    if modified_after is not None:
        if "modified_after" not in accepted:
            raise ValueError(
                f"{model.model_id} does not accept modified_after; sync it in full "
                "(CommonModel.supports_modified_after is False)"
            )
        params["modified_after"] = format_timestamp(modified_after)
    expanded = expand_value(model, expand)
    if expanded is not None:
        if "expand" not in accepted:
            raise ValueError(f"{model.model_id} does not accept expand")
        params["expand"] = expanded
    if include_deleted_data and "include_deleted_data" in accepted:
        params["include_deleted_data"] = "true"
    if include_remote_data and "include_remote_data" in accepted:
        params["include_remote_data"] = "true"
    return params


def checked_filters(
    filters: Mapping[str, QueryValue], allowed: frozenset[str], endpoint: str
) -> dict[str, str]:
    """Filters as query parameters, refusing names the endpoint does not document."""
    unknown = sorted(set(filters) - allowed)
    if unknown:
        raise ValueError(
            f"{endpoint} has no filter {', '.join(unknown)} (known: {', '.join(sorted(allowed))})"
        )
    return {name: query_value(value) for name, value in filters.items()}


def fill_path(template: str, values: Mapping[str, str]) -> str:
    """``/ats/v1/jobs/{job_id}/screening-questions`` with every placeholder filled, url-quoted."""
    wanted = _PLACEHOLDER.findall(template)
    missing = [name for name in wanted if not values.get(name)]
    extra = sorted(set(values) - set(wanted))
    if missing or extra:
        raise ValueError(
            f"{template} needs path parameters {wanted}; "
            f"missing {missing or 'none'}, unexpected {extra or 'none'}"
        )
    return _PLACEHOLDER.sub(lambda match: quote(values[match.group(1)], safe=""), template)


def cursor_from_next(next_value: object) -> str | None:
    """The cursor to send as ``?cursor=`` from a page's ``next``.

    Merge documents a bare opaque cursor; one of its own repositories shows a full URL. Accept
    both, taking the ``cursor`` query parameter out of a URL.
    """
    if next_value is None or next_value == "":
        return None
    if not isinstance(next_value, str):
        raise ValueError(f"'next' must be a string or null, got {type(next_value).__name__}")
    if next_value.startswith(("http://", "https://")):
        cursors = parse_qs(urlsplit(next_value).query).get("cursor")
        if not cursors:
            raise ValueError("'next' is a URL without a cursor parameter")
        return cursors[0]
    return next_value
