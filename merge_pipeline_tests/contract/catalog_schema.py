"""JSON Schemas built from the catalog, for what no OpenAPI document describes.

calendar and email have no OpenAPI document at all, and the 2026 SDK added fields the documents
predate (HRIS ``Employee.employee_url``): for those the catalog (generated from the SDK) is the
contract. Two dialects are produced from one mapping: plain JSON Schema 2020-12 (also what an
OpenAPI 3.1 document uses) and OpenAPI 3.0 (``nullable`` instead of a ``"null"`` type).
"""

from collections.abc import Collection, Mapping
from typing import Any, Literal

from merge_pipeline.catalog.model import Category, CommonModel, Field, ObjectType

Json = Any
Dialect = Literal["jsonschema", "oas30"]

#: Catalog types as JSON Schema types; ``any`` has no type assertion.
_TYPES = {"string", "integer", "number", "boolean", "object", "array"}


def _nullable(schema: dict[str, Json], dialect: Dialect) -> dict[str, Json]:
    """Add ``null`` to what ``schema`` accepts, in the dialect's own words."""
    if dialect == "oas30":
        if "type" in schema:
            return {**schema, "nullable": True}
        return {"anyOf": [schema, {"type": "string", "nullable": True, "enum": [None]}]}
    kind = schema.get("type")
    if isinstance(kind, str) and "enum" not in schema:
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _scalar(kind: str, fmt: str | None, enum: Collection[str] | None) -> dict[str, Json]:
    schema: dict[str, Json] = {"type": kind} if kind in _TYPES else {}
    if fmt is not None and kind == "string":
        schema["format"] = fmt
    if enum:
        schema["enum"] = list(enum)
    return schema


class CatalogSchemas:
    """Builds schemas for the records and nested objects of one category."""

    def __init__(
        self,
        objects: Mapping[str, ObjectType],
        *,
        dialect: Dialect = "jsonschema",
        strict_enums: bool = True,
    ) -> None:
        self.objects = objects
        self.dialect = dialect
        self.strict_enums = strict_enums

    def object_schema(self, name: str, _seen: frozenset[str] = frozenset()) -> dict[str, Json]:
        """A nested object type (``Permission``, ``RemoteData``); unknown/recursive: any object."""
        known = self.objects.get(name)
        if known is None or name in _seen:
            return {"type": "object"}
        return self.fields_schema(known.fields, _seen=_seen | {name})

    def fields_schema(
        self,
        fields: Collection[Field],
        *,
        expanded: Collection[str] = (),
        relations: Collection[str] = (),
        _seen: frozenset[str] = frozenset(),
    ) -> dict[str, Json]:
        """An object with these fields; unknown keys are allowed (Merge adds fields over time)."""
        properties = {
            f.name: self.field_schema(
                f, expanded=f.name in expanded, relation=f.name in relations, _seen=_seen
            )
            for f in fields
        }
        required = [f.name for f in fields if f.required]
        schema: dict[str, Json] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def field_schema(
        self,
        field: Field,
        *,
        expanded: bool = False,
        relation: bool = False,
        _seen: frozenset[str] = frozenset(),
    ) -> dict[str, Json]:
        """One field as it appears on the wire.

        A relation (``field.ref``, or a field named in the model's ``expand`` values) carries an
        id (or a list of ids) unless this request expanded it, then the related object(s)
        (CONTRACT §2). Where the catalog types a relation's value as an object, an unexpanded
        value may be that object or an id.
        """
        if field.type == "array":
            if field.items:
                unit = self._item_schema(field.items, _seen)
            else:
                unit = _scalar("string", "uuid" if field.ref else None, None)
        elif field.type == "object" and field.object:
            unit = self.object_schema(field.object, _seen)
        else:
            enum = field.enum if self.strict_enums else None
            unit = _scalar(field.type, field.format, enum)
        if relation or field.ref is not None:
            unit = self._relation_unit(field, unit, expanded)
        schema = {"type": "array", "items": unit} if field.type == "array" else unit
        if field.nullable and schema:
            schema = _nullable(schema, self.dialect)
        return schema

    @staticmethod
    def _relation_unit(field: Field, unit: dict[str, Json], expanded: bool) -> dict[str, Json]:
        is_object = unit.get("type") == "object"
        if expanded:  # the SDK types calendar/email relations as ids even when expanded
            return unit if is_object else {"anyOf": [unit, {"type": "object"}]}
        ident = _scalar("string", "uuid" if field.ref else None, None)
        return {"anyOf": [ident, unit]} if is_object else ident

    def _item_schema(self, items: Mapping[str, Json], _seen: frozenset[str]) -> dict[str, Json]:
        if items.get("object"):
            return self.object_schema(str(items["object"]), _seen)
        enum = items.get("enum") if self.strict_enums else None
        return _scalar(str(items.get("type", "any")), items.get("format"), enum)

    def record_schema(self, model: CommonModel, expanded: Collection[str] = ()) -> dict[str, Json]:
        """A record of ``model`` as returned by a request with ``expand=<expanded>``.

        Without a ``ref`` in the catalog (calendar, email), the fields named by the model's
        ``expand`` values are its relations.
        """
        return self.fields_schema(model.fields, expanded=expanded, relations=model.expand)


def paginated(item: Mapping[str, Json], dialect: Dialect = "jsonschema") -> dict[str, Json]:
    """Merge's list envelope ``{next, previous, results}`` (CONTRACT §2)."""
    cursor = _nullable({"type": "string"}, dialect)
    return {
        "type": "object",
        "properties": {
            "next": cursor,
            "previous": cursor,
            "results": {"type": "array", "items": dict(item)},
        },
        "required": ["next", "previous", "results"],
    }


def category_schemas(category: Category, dialect: Dialect = "jsonschema") -> CatalogSchemas:
    return CatalogSchemas(category.objects, dialect=dialect)


#: The project's documented error body (merge_pipeline.merge.classify; Merge publishes none).
ERROR_BODY: dict[str, Json] = {
    "type": "object",
    "properties": {"detail": {"type": "string", "minLength": 1}},
    "required": ["detail"],
    "additionalProperties": False,
}
