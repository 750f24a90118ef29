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


def _reference_id(value: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get("id")
    return value


def _reference_value(field_: Field, value: Any) -> Any:
    """The id (or list of ids) a reference column stores, whether or not it was expanded."""
    if value is None:
        return None
    if field_.many:
        return [_reference_id(v) for v in value] if isinstance(value, list) else None
    return _reference_id(value)


class RecordShaper:
    """Turns records of one model into rows of its table (and of expanded related models).

    Field handling is planned once per model, so shaping a record is a tight loop: this runs
    for every record of every sync.
    """

    def __init__(self, catalog: Catalog, model: CommonModel, linked_account_id: str) -> None:
        self._catalog = catalog
        self._model = model
        self._account = linked_account_id
        self._plain = [
            (f.name, f.type == "string")
            for f in model.fields
            if f.ref is None and f.name not in (RECORD_ID, "remote_was_deleted")
        ]
        category = catalog.category(model.category)
        self._references = [(f, category.models.get(f.ref or "")) for f in model.references]
        self._shapers: dict[str, RecordShaper] = {}

    def shape_page(self, records: Iterable[Record]) -> ShapedPage:
        page = ShapedPage()
        for record in records:
            page.rows.append(self.row(record, page.related))
            if record.get("remote_was_deleted"):
                page.deleted += 1
        return page

    def _shaper_for(self, target: CommonModel) -> "RecordShaper":
        shaper = self._shapers.get(target.model_id)
        if shaper is None:
            shaper = RecordShaper(self._catalog, target, self._account)
            self._shapers[target.model_id] = shaper
        return shaper

    def row(self, record: Record, related: dict[str, dict[str, Record]]) -> Record:
        """One table row; expanded related Common Models are added to ``related``."""
        model = self._model
        key = record.get(model.key)
        if not key:
            raise RecordShapeError(
                f"{model.model_id} record without {model.key!r} (remote_id="
                f"{record.get('remote_id')!r}) cannot be keyed; it was not stored"
            )
        get = record.get
        row: Record = {LINKED_ACCOUNT_ID: self._account, RECORD_ID: str(key)}
        for name, is_text in self._plain:
            value = get(name)
            if is_text and value is not None and not isinstance(value, str):
                # Merge passes raw third-party values through enum fields; keep them, as text.
                value = orjson.dumps(value).decode()
            row[name] = value
        raw = record
        for field_, target in self._references:
            value = get(field_.name)
            row[field_.name] = _reference_value(field_, value)
            if target is None or value is None:
                continue
            listed = value if isinstance(value, list) else [value]
            objects = [v for v in listed if isinstance(v, Mapping)]
            if not objects:
                continue
            shaper = self._shaper_for(target)
            for obj in objects:
                if obj.get(target.key):
                    related[target.model_id][str(obj[target.key])] = shaper.row(dict(obj), related)
            if raw is record:
                raw = dict(record)  # copy only when an expanded object must become an id
            raw[field_.name] = row[field_.name]
        row["remote_was_deleted"] = bool(get("remote_was_deleted"))
        row[RAW] = raw
        return row
