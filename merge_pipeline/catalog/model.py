"""Typed, read-only view of ``catalog.json``."""

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_FILE = Path(__file__).with_name("catalog.json")

#: Fields every synced record carries that the warehouse treats specially.
MODIFIED_AT = "modified_at"
REMOTE_WAS_DELETED = "remote_was_deleted"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a Common Model or nested object, as it appears on the wire."""

    name: str
    type: str  # string | integer | number | boolean | object | array | any
    format: str | None = None  # date-time | date | uuid | email | uri | ...
    nullable: bool = True
    read_only: bool = False
    required: bool = False
    enum: tuple[str, ...] | None = None
    ref: str | None = None  # the Common Model an id (or list of ids) points to
    many: bool = False  # a list of references
    object: str | None = None  # nested object type for type == "object"
    items: Mapping[str, Any] | None = None  # item description for non-reference arrays
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None  # e.g. Merge's decimal strings
    max_length: int | None = None  # of a string, as the OpenAPI documents bound it
    sources: tuple[str, ...] = ()

    @property
    def is_timestamp(self) -> bool:
        return self.type == "string" and self.format == "date-time"

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "Field":
        return cls(
            name=raw["name"],
            type=raw["type"],
            format=raw.get("format"),
            nullable=raw.get("nullable", True),
            read_only=raw.get("read_only", False),
            required=raw.get("required", False),
            enum=tuple(raw["enum"]) if raw.get("enum") else None,
            ref=raw.get("ref"),
            many=raw.get("many", False),
            object=raw.get("object"),
            items=raw.get("items"),
            minimum=raw.get("minimum"),
            maximum=raw.get("maximum"),
            pattern=raw.get("pattern"),
            max_length=raw.get("max_length"),
            sources=tuple(raw.get("sources", ())),
        )


@dataclass(frozen=True, slots=True)
class PathParam:
    """A parameter of a nested list path, filled with the ids of a parent model."""

    name: str
    model: str | None


@dataclass(frozen=True, slots=True)
class ObjectType:
    """A nested (non-list) object type such as ``Address`` or ``RemoteData``."""

    name: str
    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class CommonModel:
    """A Merge Common Model: a list endpoint of one category and the records it returns."""

    category: str
    name: str
    list_path: str
    retrieve_path: str | None
    path_params: tuple[PathParam, ...]
    other_list_paths: tuple[str, ...]
    schema: str  # the OpenAPI schema name (``EEOC`` for the SDK's ``Eeoc``)
    key: str  # the field that identifies a record: ``id``, or ``remote_id`` where there is no id
    list_params: frozenset[str]
    expand: tuple[str, ...]
    fields: tuple[Field, ...] = field(repr=False)

    @property
    def model_id(self) -> str:
        """The id ``/sync-status`` reports for this model, e.g. ``hris.Employee``."""
        return f"{self.category}.{self.name}"

    @property
    def is_nested(self) -> bool:
        """True when the list path needs a parent's id (``/jobs/{job_id}/screening-questions``)."""
        return bool(self.path_params)

    @property
    def supports_modified_after(self) -> bool:
        return "modified_after" in self.list_params

    @property
    def flags_deletions(self) -> bool:
        """Merge marks this model's deleted records with ``remote_was_deleted``.

        Nine models have no such field (CONTRACT §3: e.g. ``crm.EngagementType``,
        ``accounting.PaymentTerm``, ``ticketing.Viewer``): a deleted record of theirs can only
        vanish from listings, so only a full listing can notice it.
        """
        return REMOTE_WAS_DELETED in self.field_names

    def field(self, name: str) -> Field:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(f"{self.model_id} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def references(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.ref is not None)


@dataclass(frozen=True, slots=True)
class Category:
    """A Merge category (``hris``, ``ats``, ...) with its models and nested object types."""

    name: str
    models: Mapping[str, CommonModel]
    objects: Mapping[str, ObjectType]

    def __iter__(self) -> Iterator[CommonModel]:
        return iter(self.models.values())

    def model(self, name: str) -> CommonModel:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models))
            raise KeyError(
                f"category {self.name!r} has no model {name!r} (known: {known})"
            ) from None


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every category Merge publishes, generated from the reference in ``../shared/merge``."""

    categories: Mapping[str, Category]
    platform_types: Mapping[str, ObjectType]
    generated_from: Mapping[str, Any]

    def __iter__(self) -> Iterator[CommonModel]:
        for category in self.categories.values():
            yield from category

    def __len__(self) -> int:
        return sum(len(c.models) for c in self.categories.values())

    def category(self, name: str) -> Category:
        try:
            return self.categories[name]
        except KeyError:
            known = ", ".join(self.categories)
            raise KeyError(f"unknown category {name!r} (known: {known})") from None

    def model(self, model_id: str) -> CommonModel:
        """Look a model up by ``category.Model`` (as ``/sync-status`` names it)."""
        category, _, name = model_id.partition(".")
        return self.category(category).model(name)


def _object_type(name: str, raw: Mapping[str, Any]) -> ObjectType:
    return ObjectType(name=name, fields=tuple(Field.from_json(f) for f in raw["fields"]))


def parse_catalog(raw: Mapping[str, Any]) -> Catalog:
    """Build the typed catalog from its JSON form."""
    categories = {}
    for cat_name, cat in raw["categories"].items():
        models = {
            name: CommonModel(
                category=cat_name,
                name=name,
                list_path=m["list_path"],
                retrieve_path=m["retrieve_path"],
                path_params=tuple(PathParam(p["name"], p["model"]) for p in m["path_params"]),
                other_list_paths=tuple(m["other_list_paths"]),
                schema=m["schema"],
                key=m["key"],
                list_params=frozenset(m["list_params"]),
                expand=tuple(m["expand"]),
                fields=tuple(Field.from_json(f) for f in m["fields"]),
            )
            for name, m in cat["models"].items()
        }
        objects = {name: _object_type(name, o) for name, o in cat["objects"].items()}
        categories[cat_name] = Category(name=cat_name, models=models, objects=objects)
    platform = {name: _object_type(name, t) for name, t in raw["platform_types"].items()}
    return Catalog(
        categories=categories, platform_types=platform, generated_from=raw["generated_from"]
    )


@cache
def load_catalog(path: Path = CATALOG_FILE) -> Catalog:
    """Load the committed catalog (cached: it is immutable for the life of the process)."""
    return parse_catalog(json.loads(path.read_text()))
