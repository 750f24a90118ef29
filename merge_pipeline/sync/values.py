"""Whether a value fits its typed mirror column, and in what form it is stored (pure).

A value of the wrong type used to reach ``COPY`` and fail the whole page with a database error.
Each typed value is checked here first; one that does not fit makes its record *quarantined*
(kept whole, with the reason, in ``merge_pipeline.quarantined_records``) instead of stored with a
silently emptied column. Timestamps are parsed here, so every ISO 8601 form Merge might send
(``Z`` or any offset, with or without fractional seconds) becomes the same instant in
``timestamptz``; one without an offset is read as UTC, as Merge documents its times.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import orjson

from merge_pipeline.catalog import Field

_BIGINT = (-(2**63), 2**63 - 1)


class Kind(Enum):
    """How a plain (non-reference) field is stored."""

    TEXT = "text"
    TIMESTAMP = "timestamptz"
    INTEGER = "bigint"
    NUMBER = "double precision"
    BOOLEAN = "boolean"
    JSON = "jsonb"


class ValueProblem(ValueError):
    """A value that does not fit its column; the message names the field and the type only."""


def kind_of(field: Field) -> Kind:
    """The storage kind of a field (mirrors ``warehouse.mirror_tables.column_type``)."""
    if field.is_timestamp:
        return Kind.TIMESTAMP
    simple = {
        "string": Kind.TEXT,
        "integer": Kind.INTEGER,
        "number": Kind.NUMBER,
        "boolean": Kind.BOOLEAN,
    }
    return simple.get(field.type, Kind.JSON)


def parse_instant(value: str) -> datetime:
    """An ISO 8601 date-time as an aware datetime (UTC if it names no offset)."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _problem(name: str, kind: Kind, value: Any) -> ValueProblem:
    return ValueProblem(f"field {name!r} holds a {type(value).__name__}, not a {kind.value}")


def _text(name: str, value: Any) -> Any:
    # Merge passes raw third-party values through enum fields; keep them, as text.
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _timestamp(name: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise _problem(name, Kind.TIMESTAMP, value)
    try:
        return parse_instant(value)
    except ValueError:
        raise ValueProblem(f"field {name!r} is not an ISO 8601 date-time") from None


def _boolean(name: str, value: Any) -> bool:
    if value is not True and value is not False:
        raise _problem(name, Kind.BOOLEAN, value)
    return bool(value)


def _number(name: str, value: Any) -> float | int:
    if value is True or value is False or not isinstance(value, (int, float)):
        raise _problem(name, Kind.NUMBER, value)
    return value


def _integer(name: str, value: Any) -> int:
    if value is True or value is False or not isinstance(value, (int, float)):
        raise _problem(name, Kind.INTEGER, value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueProblem(f"field {name!r} holds a fraction, not a bigint")
        value = int(value)
    if not _BIGINT[0] <= value <= _BIGINT[1]:
        raise ValueProblem(f"field {name!r} is out of the bigint range")
    return value


#: how each kind's non-null values are checked and converted (None: stored as they are)
Converter = Callable[[str, Any], Any]
_CONVERTERS: dict[Kind, Converter | None] = {
    Kind.TEXT: _text,
    Kind.TIMESTAMP: _timestamp,
    Kind.INTEGER: _integer,
    Kind.NUMBER: _number,
    Kind.BOOLEAN: _boolean,
    Kind.JSON: None,
}


def converter_for(kind: Kind) -> Converter | None:
    """The converter of a kind, chosen once per field (shaping runs for every record)."""
    return _CONVERTERS[kind]


def stored_value(name: str, kind: Kind, value: Any) -> Any:
    """``value`` as its column stores it; :class:`ValueProblem` if it cannot be."""
    convert = _CONVERTERS[kind]
    return value if value is None or convert is None else convert(name, value)
