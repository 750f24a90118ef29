"""Shape Merge records into mirror rows (pure).

An expanded relation arrives as the related object instead of its id. Rows always store the id
(so a column means the same whatever was expanded), and each expanded object that is itself a
Common Model is returned separately so the engine can upsert it into its own table in the same
transaction.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from merge_pipeline.catalog import Catalog, CommonModel, Field
from merge_pipeline.warehouse.mirror_tables import LINKED_ACCOUNT_ID, RAW, RECORD_ID

Record = dict[str, Any]


class RecordShapeError(ValueError):
    """A record Merge returned cannot be mirrored (e.g. it has no id); says which and why."""


@dataclass
class ShapedPage:
    """The rows of one page for the model synced, plus expanded related rows by model id."""

    rows: list[Record] = field(default_factory=list)
    related: dict[str, dict[str, Record]] = field(default_factory=lambda: defaultdict(dict))
    deleted: int = 0

    @property
    def related_count(self) -> int:
        return sum(len(rows) for rows in self.related.values())


def _reference_id(value: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get("id")
    return value


def _column_value(field_: Field, value: Any) -> Any:
    if value is None:
        return None
    if field_.ref is not None:
        if field_.many:
            return [_reference_id(v) for v in value] if isinstance(value, list) else None
        return _reference_id(value)
    if field_.type == "string" and not isinstance(value, str):
        # Merge passes raw third-party values through enum fields; keep them, as text.
        return orjson.dumps(value).decode()
    return value


class RecordShaper:
    """Turns records of one model into rows of its table (and of expanded related models)."""

    def __init__(self, catalog: Catalog, model: CommonModel, linked_account_id: str) -> None:
        self._catalog = catalog
        self._model = model
        self._account = linked_account_id
        self._related_models = {
            f.name: catalog.category(model.category).models.get(f.ref or "")
            for f in model.references
        }

    def shape_page(self, records: Iterable[Record]) -> ShapedPage:
        page = ShapedPage()
        for record in records:
            page.rows.append(self.row(record, page.related))
            if record.get("remote_was_deleted"):
                page.deleted += 1
        return page

    def row(self, record: Record, related: dict[str, dict[str, Record]]) -> Record:
        """One table row; expanded related Common Models are added to ``related``."""
        model = self._model
        key = record.get(model.key)
        if not key:
            raise RecordShapeError(
                f"{model.model_id} record without {model.key!r} (remote_id="
                f"{record.get('remote_id')!r}) cannot be keyed; it was not stored"
            )
        raw = dict(record)
        for field_ in model.references:
            value = record.get(field_.name)
            target = self._related_models.get(field_.name)
            if target is None or value is None:
                continue
            expanded = value if isinstance(value, list) else [value]
            objects = [v for v in expanded if isinstance(v, Mapping)]
            if not objects:
                continue
            shaper = RecordShaper(self._catalog, target, self._account)
            for obj in objects:
                if obj.get(target.key):
                    related[target.model_id][str(obj[target.key])] = shaper.row(dict(obj), related)
            raw[field_.name] = _column_value(field_, value)
        row: Record = {LINKED_ACCOUNT_ID: self._account, RECORD_ID: str(key)}
        for field_ in model.fields:
            if field_.name != RECORD_ID:
                row[field_.name] = _column_value(field_, record.get(field_.name))
        row["remote_was_deleted"] = bool(record.get("remote_was_deleted"))
        row[RAW] = raw
        return row
