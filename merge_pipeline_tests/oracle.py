"""The yardstick of every end-to-end test: the mirror against the sandbox's ground truth.

Record by record and column by column. Expected column values are derived from the ground-truth
JSON here, independently of the engine's own record shaping (``merge_pipeline.sync.records``),
so a shaping bug cannot hide behind an identical bug in the check:

* every record Merge holds has exactly one row; its typed columns equal the JSON converted by
  the column's type (timestamps as instants, numbers, booleans, reference ids, jsonb) with
  NULs replaced as :func:`merge_pipeline.sync.storable.storable` does, the record as stored
  (``_raw_exact`` when set, else ``_raw``) equals the record, ``remote_was_deleted`` says
  what Merge says (false for models without the field), and ``_absent_since`` is NULL (it is
  listed, so it is not absent);
* a row whose record Merge no longer holds at all (hard-deleted, or deleted from a model
  without ``remote_was_deleted``) must carry ``_absent_since``; no other extra row may exist.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from merge_pipeline.catalog import CommonModel, Field, load_catalog
from merge_pipeline.sync.storable import storable
from merge_pipeline.warehouse.mirror_tables import ABSENT_SINCE, RAW, RAW_EXACT, mirror_tables
from merge_sandbox.admin import SandboxAdmin

#: differences listed in a failure message; the count of all of them is always given
MESSAGE_CAP = 12


class MirrorMismatch(AssertionError):
    """The mirror differs from the ground truth; the message names records and columns."""


def _instant(value: Any) -> Any:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def _reference(value: Any) -> Any:
    return value.get("id") if isinstance(value, Mapping) else value


def expected_column(field: Field, value: Any) -> Any:
    """What the typed column of ``field`` must hold for a JSON ``value`` (None stays None)."""
    if value is None:
        return None
    if field.ref is not None:
        if field.many:
            return [_reference(v) for v in value] if isinstance(value, list) else None
        return _reference(value)
    if field.is_timestamp:
        return _instant(value)
    if field.type == "string":
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if field.type == "boolean":
        return bool(value)
    if field.type == "integer":
        return int(value)
    if field.type == "number":
        return float(value)
    return value  # jsonb: objects, arrays, anything


def expected_row(model: CommonModel, record: Mapping[str, Any]) -> dict[str, Any]:
    """Every compared column of the row that mirrors ``record``."""
    row = {
        f.name: storable(expected_column(f, record.get(f.name)))
        for f in model.fields
        if f.name not in ("id", "remote_was_deleted")
    }
    row["remote_was_deleted"] = record.get("remote_was_deleted") is True
    row[RAW] = dict(record)
    return row


def as_sent(row: Mapping[str, Any]) -> Any:
    """The record as Merge sent it: ``_raw_exact`` when set (it held a NUL), else ``_raw``."""
    exact = row.get(RAW_EXACT)
    return row.get(RAW) if exact is None else exact


def _same(mirrored: Any, expected: Any) -> bool:
    """Equal values of the same type; timestamps compare as instants (any offset)."""
    return type(mirrored) is type(expected) and bool(mirrored == expected)


@dataclass(frozen=True)
class Comparison:
    """The differences between mirror rows and ground-truth records of one model."""

    differences: list[str]
    compared: int

    def message(self, model_id: str) -> str:
        shown = "\n  ".join(self.differences[:MESSAGE_CAP])
        more = len(self.differences) - MESSAGE_CAP
        tail = f"\n  ... and {more} more" if more > 0 else ""
        return f"{model_id}: {len(self.differences)} differences\n  {shown}{tail}"


def compare(
    model: CommonModel,
    rows: Mapping[str, Mapping[str, Any]],
    truth: Mapping[str, Mapping[str, Any]],
) -> Comparison:
    """Mirror ``rows`` (by id) against the ground-truth ``truth`` records (by key)."""
    differences: list[str] = []
    for key in sorted(set(truth) - set(rows)):
        differences.append(f"{key}: missing from the mirror")
    for key in sorted(set(rows) - set(truth)):
        if rows[key].get(ABSENT_SINCE) is None:
            differences.append(f"{key}: in the mirror but Merge no longer holds it, not absent")
    for key in sorted(set(rows) & set(truth)):
        row = rows[key]
        if row.get(ABSENT_SINCE) is not None:
            differences.append(f"{key}: marked absent but Merge lists it")
        for column, wanted in expected_row(model, truth[key]).items():
            have = as_sent(row) if column == RAW else row.get(column)
            if not _same(have, wanted):
                differences.append(f"{key}.{column}: mirror {have!r:.80} != truth {wanted!r:.80}")
    return Comparison(differences, len(truth))


def mirror_rows(engine: sa.Engine, account_id: str, model_id: str) -> dict[str, dict[str, Any]]:
    """Every mirror row of one model of one account, by id, all columns."""
    table = mirror_tables()[model_id]
    with engine.connect() as connection:
        result = connection.execute(sa.select(table).where(table.c.linked_account_id == account_id))
        return {row.id: dict(row._mapping) for row in result}


def truth_records(admin: SandboxAdmin, account_id: str, model_id: str) -> dict[str, Any]:
    """What Merge holds for the model, by key (the sandbox's ground truth)."""
    return admin.records(account_id, model_id).by_key()


def assert_mirror_matches(
    engine: sa.Engine, admin: SandboxAdmin, account_id: str, model_id: str
) -> int:
    """Raise :class:`MirrorMismatch` naming what differs; return the number of records."""
    model = load_catalog().model(model_id)
    comparison = compare(
        model,
        mirror_rows(engine, account_id, model_id),
        truth_records(admin, account_id, model_id),
    )
    if comparison.differences:
        raise MirrorMismatch(comparison.message(model_id))
    return comparison.compared


def assert_mirrors_match(
    engine: sa.Engine, admin: SandboxAdmin, account_id: str, model_ids: Sequence[str]
) -> int:
    """:func:`assert_mirror_matches` for several models; returns the records compared."""
    return sum(assert_mirror_matches(engine, admin, account_id, m) for m in model_ids)
