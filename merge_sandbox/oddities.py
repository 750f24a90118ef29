"""Record-level adversity: NULs, odd timestamp formats, unknown enum values, unlisted fields.

Each switch alters about one record in three, chosen by a hash of the record's key, so the same
record always renders the same way: in listings, retrieves, expanded copies and the admin's
ground truth alike (the ground truth *is* what Merge holds; a timestamp written without its
microseconds is then that instant, as it would be at Merge).
"""

import zlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from merge_sandbox.adversity import Adversity
from merge_sandbox.schema import ModelSpec

#: a value no Merge document lists for any enum
UNKNOWN_ENUM_VALUE = "SANDBOX_UNLISTED_VALUE"
#: a field no Merge document lists for any model
EXTRA_FIELD = "sandbox_unlisted_field"
_OFFSETS = (timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30)))


def _chosen(key: Any, salt: str, ways: int = 3) -> int | None:
    """Which variant (0..ways-1) a record gets, or None for the two records in three left as is."""
    digest = zlib.crc32(f"{salt}:{key}".encode())
    return digest // 3 % ways if digest % 3 == 0 else None


def _odd_timestamp(text: str, variant: int) -> str:
    moment = datetime.fromisoformat(text)
    if variant == 2:  # whole seconds, no fraction at all
        return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.astimezone(_OFFSETS[variant]).isoformat()  # same instant, another offset


def _with_nul(record: dict[str, Any], spec: ModelSpec) -> None:
    for field in spec.model.fields:
        value = record.get(field.name)
        if (
            field.type == "string"
            and field.format is None
            and not field.enum
            and field.ref is None
            and field.name not in ("id", "remote_id")
            and isinstance(value, str)
            and value
        ):
            middle = len(value) // 2
            record[field.name] = value[:middle] + "\x00" + value[middle:]
            return


def _with_unknown_enum(record: dict[str, Any], spec: ModelSpec) -> None:
    for field in spec.model.fields:
        if field.enum and isinstance(record.get(field.name), str):
            record[field.name] = UNKNOWN_ENUM_VALUE
            return


def apply_oddities(adversity: Adversity, spec: ModelSpec, record: dict[str, Any]) -> None:
    """Alter ``record`` (a rendered copy) in place as the record-level switches say."""
    key = record.get(spec.model.key)
    if adversity.nul_characters and _chosen(key, "nul") is not None:
        _with_nul(record, spec)
    if adversity.unknown_enum_values and _chosen(key, "enum") is not None:
        _with_unknown_enum(record, spec)
    if adversity.extra_fields and _chosen(key, "extra") is not None:
        record[EXTRA_FIELD] = {"note": "a field the documents do not list", "n": 1}
    variant = _chosen(key, "timestamps") if adversity.odd_timestamps else None
    if variant is not None:
        for field in spec.model.fields:
            value = record.get(field.name)
            if field.format == "date-time" and isinstance(value, str):
                record[field.name] = _odd_timestamp(value, variant)
