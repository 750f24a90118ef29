"""Shape Merge records into mirror rows (pure).

An expanded relation arrives as the related object instead of its id. Rows always store the id
(so a column means the same whatever was expanded), and each expanded object that is itself a
Common Model is returned separately so the engine can upsert it into its own table in the same
transaction.

A record that cannot be mirrored (not an object, no id, a value that does not fit its typed
column) is not an error that stops the page: it is returned as :class:`Quarantined`, whole and
with the reason, and the rest of the page is stored. A record whose only problem is fixable in
shaping (NUL characters, see :mod:`merge_pipeline.sync.storable`) is stored, not quarantined.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from merge_pipeline.catalog import Catalog, CommonModel, Field
from merge_pipeline.sync.storable import exact_json, storable
from merge_pipeline.sync.values import ValueProblem, converter_for, kind_of, parse_instant
from merge_pipeline.warehouse.mirror_tables import LINKED_ACCOUNT_ID, RAW, RAW_EXACT, RECORD_ID
from merge_pipeline.warehouse.quarantine import Quarantined

Record = dict[str, Any]


class RecordShapeError(ValueError):
    """A record Merge returned cannot be mirrored (e.g. it has no id); says which and why.

    The message names the model, the field and the problem, never a value of the record.
    """


@dataclass
class ShapedPage:
    """The rows of one page for the model synced, expanded related rows by model id, and the
    records that could not be shaped."""

    rows: list[Record] = field(default_factory=list)
    related: dict[str, dict[str, Record]] = field(default_factory=lambda: defaultdict(dict))
    quarantined: list[Quarantined] = field(default_factory=list)
    deleted: int = 0


def _reference_id(field_: Field, value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = value.get("id")
    if value is None:
        return None
    if isinstance(value, (str, int)) and value is not True and value is not False:
        return str(value)
    raise ValueProblem(f"reference {field_.name!r} holds a {type(value).__name__}, not an id")


def _reference_value(field_: Field, value: Any) -> Any:
    """The id (or list of ids) a reference column stores, whether or not it was expanded."""
    if value is None:
        return None
    if field_.many:
        if not isinstance(value, list):
            kind = type(value).__name__
            raise ValueProblem(f"reference {field_.name!r} holds a {kind}, not a list")
        return [_reference_id(field_, v) for v in value]
    return _reference_id(field_, value)


def _modified_at(record: Any) -> datetime | None:
    value = record.get("modified_at") if isinstance(record, dict) else None
    try:
        return parse_instant(value) if isinstance(value, str) else None
    except ValueError:
        return None


def quarantined(model: CommonModel, record: Any, reason: str) -> Quarantined:
    """A record as the quarantine keeps it."""
    key = record.get(model.key) if isinstance(record, dict) else None
    record_id = str(key) if isinstance(key, str | int) and not isinstance(key, bool) else None
    return Quarantined(
        model.model_id, record_id or None, reason, exact_json(record), _modified_at(record)
    )


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
            (f.name, converter_for(kind_of(f)))
            for f in model.fields
            if f.ref is None and f.name not in (RECORD_ID, "remote_was_deleted")
        ]
        category = catalog.category(model.category)
        self._references = [(f, category.models.get(f.ref or "")) for f in model.references]
        self._shapers: dict[str, RecordShaper] = {}

    def shape_page(self, records: Iterable[Any]) -> ShapedPage:
        page = ShapedPage()
        for record in records:
            if not isinstance(record, dict):
                reason = f"a {type(record).__name__} in 'results', not a record object"
                page.quarantined.append(quarantined(self._model, record, reason))
                continue
            related: dict[str, dict[str, Record]] = defaultdict(dict)
            try:
                row = self.row(record, related, page.quarantined)
            except (RecordShapeError, ValueProblem) as problem:
                page.quarantined.append(quarantined(self._model, record, str(problem)))
                continue
            page.rows.append(row)
            for model_id, rows in related.items():
                page.related[model_id].update(rows)
            if record.get("remote_was_deleted"):
                page.deleted += 1
        return page

    def _shaper_for(self, target: CommonModel) -> "RecordShaper":
        shaper = self._shapers.get(target.model_id)
        if shaper is None:
            shaper = RecordShaper(self._catalog, target, self._account)
            self._shapers[target.model_id] = shaper
        return shaper

    def row(
        self,
        record: Record,
        related: dict[str, dict[str, Record]],
        quarantine: list[Quarantined] | None = None,
    ) -> Record:
        """One table row; expanded related Common Models are added to ``related``, expanded
        objects that cannot be shaped to ``quarantine`` (the row keeps their id)."""
        model = self._model
        key = record.get(model.key)
        if not key or not isinstance(key, (str, int)) or key is True:
            raise RecordShapeError(f"{model.model_id} record without a usable {model.key!r}")
        exact = record
        record = storable(record)
        get = record.get
        row: Record = {LINKED_ACCOUNT_ID: self._account, RECORD_ID: str(key)}
        for name, convert in self._plain:
            value = get(name)
            row[name] = value if value is None or convert is None else convert(name, value)
        raw = record
        ids: dict[str, Any] = {}  # expanded references, as the ids ``_raw`` keeps instead
        for field_, target in self._references:
            value = get(field_.name)
            row[field_.name] = _reference_value(field_, value)
            if target is None or value is None:
                continue
            listed = value if isinstance(value, list) else [value]
            objects = [v for v in listed if isinstance(v, dict)]
            if not objects:
                continue
            shaper = self._shaper_for(target)
            for obj in objects:
                if not obj.get(target.key):
                    continue
                try:
                    related[target.model_id][str(obj[target.key])] = shaper.row(
                        dict(obj), related, quarantine
                    )
                except (RecordShapeError, ValueProblem) as problem:
                    if quarantine is not None:
                        quarantine.append(quarantined(target, dict(obj), str(problem)))
            ids[field_.name] = row[field_.name]
        if ids:
            raw = {**record, **ids}  # copy only when an expanded object must become an id
        deleted = get("remote_was_deleted")
        if deleted is not None and not isinstance(deleted, bool):
            # bool("false") is True: a flag of another type must not delete a live record
            raise RecordShapeError(
                f"{model.model_id} record whose 'remote_was_deleted' is a "
                f"{type(deleted).__name__}, not a boolean"
            )
        row["remote_was_deleted"] = bool(deleted)
        row[RAW] = raw
        row[RAW_EXACT] = exact_json({**exact, **ids}) if exact is not record else None
        return row
