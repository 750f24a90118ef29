"""Merge's OpenAPI documents, loaded once and normalised in memory to what Merge means.

Read literally, the documents reject valid responses in places and, in some tools, silently
check nothing (``../shared/merge/VALIDATION-NOTES.md``). Each rule below is a small pure function
that fixes one listed problem, cites the VALIDATION-NOTES item (or CONTRACT section) it
implements, and has its own unit test in ``test_spec_normalisation.py``. Nothing else about the
documents is changed.
"""

import copy
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from merge_pipeline.catalog import load_catalog
from merge_pipeline.catalog.model import Category
from merge_pipeline_tests.contract.catalog_schema import CatalogSchemas, Dialect

Json = Any

#: The Merge reference sits beside the checkout (``/work/shared/merge`` for ``/work/main``).
SHARED_MERGE = Path(__file__).resolve().parents[3] / "shared" / "merge"
OPENAPI_DIR = SHARED_MERGE / "openapi"

#: Merge's own OpenAPI 3.0.3 files first (richest annotations), then the 3.1 docs.merge.dev
#: export, which alone documents the 2026 accounting models (ExpenseReport, SalesOrder, ...).
DOCUMENTS: Mapping[str, tuple[str, ...]] = {
    "hris": ("hris.yml",),
    "ats": ("ats.yml",),
    "crm": ("crm.yml",),
    "accounting": ("accounting.yml", "docs-merge-dev/accounting.yaml"),
    "ticketing": ("ticketing.yml",),
    "filestorage": ("filestorage.yml",),
    "knowledgebase": ("knowledgebase.yml",),
    "chat": ("chat.yml",),
}
#: Categories with no OpenAPI document: validated against the catalog instead.
UNDOCUMENTED = ("calendar", "email")

#: Keys whose values are data, not schemas: never rewritten.
_DATA_KEYS = frozenset({"example", "examples"})
#: Keys that describe a schema without constraining it; they stay on the outside when a
#: schema is wrapped.
_ANNOTATIONS = frozenset({"description", "title", "deprecated", "readOnly", "writeOnly"})
_COMBINATORS = ("oneOf", "anyOf", "allOf", "$ref")
#: A schema that accepts exactly ``null`` in OpenAPI 3.0 (which has no ``"null"`` type).
NULL_OAS30: Mapping[str, Json] = {"type": "string", "nullable": True, "enum": [None]}
NULL_OAS31: Mapping[str, Json] = {"type": "null"}

Rule = Callable[[Json], Json]


def reference_available() -> bool:
    return (OPENAPI_DIR / "hris.yml").exists()


def _transform(node: Json, rule: Callable[[dict[str, Json]], dict[str, Json]]) -> Json:
    """Apply ``rule`` to every object of a document, innermost first, without mutating it."""
    if isinstance(node, dict):
        rebuilt = {k: v if k in _DATA_KEYS else _transform(v, rule) for k, v in node.items()}
        return rule(rebuilt)
    if isinstance(node, list):
        return [_transform(item, rule) for item in node]
    return node


def _rename_key(old: str, new: str) -> Rule:
    def rename(node: dict[str, Json]) -> dict[str, Json]:
        if old not in node:
            return node
        renamed = {new if k == old else k: v for k, v in node.items() if k != new}
        if new in node:  # the correct key wins over the typo
            renamed[new] = node[new]
        return renamed

    return lambda document: _transform(document, rename)


def fix_type_key_typo(document: Json) -> Json:
    """``"= type": string`` means ``type: string`` (VALIDATION-NOTES 3: four accounting fields)."""
    return _rename_key("= type", "type")(document)


def fix_lowercase_oneof(document: Json) -> Json:
    """``oneof`` means ``oneOf`` (VALIDATION-NOTES 3: ATS ``ScreeningQuestion.options.items``);
    validators ignore the unknown key, so the item would accept anything."""
    return _rename_key("oneof", "oneOf")(document)


def _is_enum_ref(schema: Json) -> bool:
    return isinstance(schema, dict) and str(schema.get("$ref", "")).endswith("Enum")


def _is_plain_string(schema: Json) -> bool:
    return schema == {"type": "string"}


def _is_numeric(schema: Json) -> bool:
    return isinstance(schema, dict) and schema.get("type") in ("integer", "number")


def _is_unconstrained(schema: Json) -> bool:
    """A branch that accepts any value (``{description: "Any type"}``)."""
    return isinstance(schema, dict) and set(schema) <= _ANNOTATIONS


def overlapping_oneof_to_anyof(document: Json) -> Json:
    """``oneOf: [<Enum>, string]`` and ``oneOf: [integer, number]`` mean ``anyOf``.

    VALIDATION-NOTES 2: every normalised enum value matches both branches, so a literal
    ``oneOf`` rejects ``"ACTIVE"``; Merge means "one of these, or any other string". Likewise
    the 3.1 export's ``oneOf: [<any type>, null]`` (accounting ``Address.state``) rejects the
    ``null`` both branches accept. Only these overlapping shapes are rewritten;
    ``oneOf: [uuid, Model]`` cannot overlap and stays.
    """

    def rewrite(node: dict[str, Json]) -> dict[str, Json]:
        branches = node.get("oneOf")
        if not isinstance(branches, list) or len(branches) < 2:
            return node
        enum_or_string = any(map(_is_enum_ref, branches)) and any(map(_is_plain_string, branches))
        unconstrained = any(map(_is_unconstrained, branches))
        if enum_or_string or unconstrained or all(map(_is_numeric, branches)):
            return {"anyOf" if k == "oneOf" else k: v for k, v in node.items()}
        return node

    return _transform(document, rewrite)


def nullable_accepts_null(document: Json, null_schema: Mapping[str, Json] = NULL_OAS30) -> Json:
    """``nullable: true`` beside ``oneOf``/``anyOf``/``allOf``/``$ref`` lets ``null`` through.

    VALIDATION-NOTES 1 and 2: in OpenAPI 3.0 ``nullable`` only qualifies a ``type`` in the same
    schema object, so ``{oneOf: [uuid, Company], nullable: true}`` (no ``type``) rejects the
    ``null`` Merge sends for ``Employee.company``, and some compilers refuse it outright. The
    schema becomes ``anyOf: [<schema without nullable>, <null>]``, annotations outside.
    ``null_schema`` is ``NULL_OAS30`` (a typed nullable sibling) or ``NULL_OAS31``.
    """

    def rewrite(node: dict[str, Json]) -> dict[str, Json]:
        if node.get("nullable") is not True or not any(k in node for k in _COMBINATORS):
            return node
        outer = {k: v for k, v in node.items() if k in _ANNOTATIONS or k.startswith("x-")}
        inner = {k: v for k, v in node.items() if k not in outer and k != "nullable"}
        return {**outer, "anyOf": [inner, dict(null_schema)]}

    return _transform(document, rewrite)


def enums_accept_any_string(document: Json) -> Json:
    """An enum typed ``oneOf: [<Enum>]`` or ``oneOf: [<Enum>, null]`` also accepts any string.

    VALIDATION-NOTES 5 ("enums without the plain-string option") and CONTRACT §2: Merge returns
    a normalised value but may pass other strings through, and with ``show_enum_origins`` it
    returns the third party's own value; most 3.0.3 fields say so with
    ``oneOf: [<Enum>, string]``, but the 3.1 exports dropped the string branch everywhere and
    some 3.0.3 fields never had it (accounting ``Invoice.type``, ticketing
    ``Collection.collection_type``), although their ``show_enum_origins`` parameter names them.
    """

    def rewrite(node: dict[str, Json]) -> dict[str, Json]:
        for key in ("oneOf", "anyOf"):
            branches = node.get(key)
            if (
                isinstance(branches, list)
                and any(map(_is_enum_ref, branches))
                and not any(map(_is_plain_string, branches))
            ):
                rest = {k: v for k, v in node.items() if k != key}
                return {**rest, "anyOf": [*branches, {"type": "string"}]}
        return node

    return _transform(document, rewrite)


def _with_schemas(document: Json) -> tuple[Json, dict[str, Json]]:
    """A shallow copy of ``document`` whose ``components.schemas`` mapping may be changed."""
    result = dict(document)
    components = dict(result.get("components", {}))
    schemas = dict(components.get("schemas", {}))
    components["schemas"] = schemas
    result["components"] = components
    return result, schemas


def _properties(schemas: dict[str, Json], name: str) -> dict[str, Json] | None:
    """A copy of one schema's ``properties`` installed in ``schemas``, or None without any."""
    schema = schemas.get(name)
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return None
    schema = {**schema, "properties": dict(schema["properties"])}
    schemas[name] = schema
    properties: dict[str, Json] = schema["properties"]
    return properties


def _is_uuid_only(schema: Json) -> bool:
    if not isinstance(schema, dict) or schema.get("format") != "uuid":
        return False
    return schema.get("type") in ("string", ["string", "null"], ["null", "string"])


def _expanded_target(document: Json, schema_name: str | None) -> dict[str, Json]:
    schemas = document.get("components", {}).get("schemas", {})
    if schema_name and schema_name in schemas:
        return {"$ref": f"#/components/schemas/{schema_name}"}
    return {"type": "object"}


def relations_accept_expanded_objects(
    document: Json, relations: Mapping[str, Mapping[str, str | None]]
) -> Json:
    """A relation typed as uuid only also accepts the expanded object.

    VALIDATION-NOTES 5: the 3.1 exports type relations as ``string(uuid)`` only, so every
    ``expand=`` response fails against them. ``relations`` (from the catalog's ``Field.ref``)
    maps schema name -> field -> schema name of the related model. Fields already typed
    id-or-object are left alone.
    """
    result, schemas = _with_schemas(document)
    for schema_name, fields in relations.items():
        properties = _properties(schemas, schema_name) or {}
        for field_name, target_name in fields.items():
            prop = properties.get(field_name)
            if not isinstance(prop, dict):
                continue
            target = _expanded_target(result, target_name)
            items = prop.get("items")
            if _is_uuid_only(items):
                properties[field_name] = {**prop, "items": {"anyOf": [items, target]}}
            elif _is_uuid_only(prop):
                outer = {k: v for k, v in prop.items() if k in _ANNOTATIONS or k.startswith("x-")}
                inner = {k: v for k, v in prop.items() if k not in outer}
                properties[field_name] = {**outer, "anyOf": [inner, target]}
    return result


def expandable_relations_accept_ids(
    document: Json, expandable: Mapping[str, Collection[str]]
) -> Json:
    """An expandable relation to a Common Model, typed as the object only, also accepts the id.

    CONTRACT §2 and §10: without ``expand`` a relation to a model with its own list endpoint is
    that record's id (or a list of ids), which the client can fetch there; the 3.1 exports type
    some of these as the object only (knowledgebase ``Group.users``), the 2026 SDK id-or-object.
    Relations to nested types *without* a list endpoint (``Invoice.line_items``) are not
    loosened: the catalog serves those as objects (its ``unexpanded_reason``), as the documents
    say. ``expandable`` (see ``catalog_expandable``) maps schema name -> fields.
    """
    result, schemas = _with_schemas(document)
    ident = {"type": "string", "format": "uuid"}
    for schema_name, fields in expandable.items():
        properties = _properties(schemas, schema_name) or {}
        for field_name in fields:
            prop = properties.get(field_name)
            if not isinstance(prop, dict):
                continue
            items = prop.get("items")
            if isinstance(items, dict) and set(items) == {"$ref"}:
                properties[field_name] = {**prop, "items": {"anyOf": [dict(ident), items]}}
            elif "$ref" in prop:
                outer = {k: v for k, v in prop.items() if k in _ANNOTATIONS or k.startswith("x-")}
                target = {k: v for k, v in prop.items() if k not in outer}
                properties[field_name] = {**outer, "anyOf": [dict(ident), target]}
    return result


def expand_parameter_from_catalog(document: Json, expands: Mapping[str, Collection[str]]) -> Json:
    """``expand`` takes any comma-separated subset of the catalog's values for that endpoint.

    CONTRACT §2 and §11: the wire format is one comma-separated string; the 3.0.3 files list
    single names but predate newer ones (CRM ``Task`` ``contact``, accounting ``Invoice``
    ``sales_orders``), and the 3.1 exports enumerate every combination in one fixed order (or
    lack ``explode: false``). ``expands`` maps path template -> allowed values.
    """
    result = dict(document)
    paths = result["paths"] = dict(document.get("paths", {}))
    for path, values in expands.items():
        operation = paths.get(path, {}).get("get")
        if not isinstance(operation, dict):
            continue
        operation = dict(operation)
        paths[path] = {**paths[path], "get": operation}
        parameters = [
            p
            for p in operation.get("parameters", [])
            if not (p.get("in") == "query" and p.get("name") == "expand")
        ]
        if values:
            parameters.append(
                {
                    "name": "expand",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "schema": {"type": "array", "items": {"type": "string", "enum": list(values)}},
                }
            )
        operation["parameters"] = parameters
    return result


def add_catalog_only_fields(
    document: Json, additions: Mapping[str, Mapping[str, Mapping[str, Json]]]
) -> Json:
    """Fields newer than the document are declared with their catalog type.

    VALIDATION-NOTES 7: the newest SDK fields (``Employee.employee_url``) are absent from the
    documents. The documents set no ``additionalProperties: false`` (and the validator allows
    unknown keys), so they would pass unchecked; declaring them makes them pass *and* be
    checked. ``additions`` maps schema name -> field -> schema; documented fields are kept.
    """
    result, schemas = _with_schemas(document)
    for schema_name, fields in additions.items():
        properties = _properties(schemas, schema_name)
        if properties is None:
            continue
        schemas[schema_name].pop("additionalProperties", None)
        for field_name, schema in fields.items():
            properties.setdefault(field_name, copy.deepcopy(dict(schema)))
    return result


def prefix_paths(document: Json, prefix: str) -> Json:
    """Paths lacking ``prefix`` get it (VALIDATION-NOTES 4: chat.yml lacks ``/chat/v1``)."""
    result = dict(document)
    result["paths"] = {
        path if path.startswith(prefix + "/") else prefix + path: item
        for path, item in document.get("paths", {}).items()
    }
    return result


def category_enums_include(document: Json, categories: Collection[str]) -> Json:
    """``CategoryEnum``/``CategoriesEnum`` also name every category the catalog knows.

    The documents predate the newer categories (CONTRACT 1: chat, calendar and email come with
    the 2026 SDK); chat.yml itself accepts ``chat`` in its linked-accounts filter but not in
    these enums, so a chat account describing itself could never conform.
    """
    result, schemas = _with_schemas(document)
    for name in ("CategoryEnum", "CategoriesEnum"):
        schema = schemas.get(name)
        if schema and "enum" in schema:
            missing = [c for c in categories if c not in schema["enum"]]
            schemas[name] = {**schema, "enum": [*schema["enum"], *missing]}
    return result


def unique_operation_ids(document: Json) -> Json:
    """Duplicate ``operationId``s get a numeric suffix.

    VALIDATION-NOTES 5: the 3.1 exports repeat ``operationId`` 19-130 times per file, which a
    spec validator rejects; the ids name nothing the contract depends on.
    """
    seen: Counter[str] = Counter()
    paths = {}
    for path, item in document.get("paths", {}).items():
        renamed = dict(item)
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                name = operation["operationId"]
                seen[name] += 1
                if seen[name] > 1:
                    renamed[method] = {**operation, "operationId": f"{name}_{seen[name]}"}
        paths[path] = renamed
    return {**document, "paths": paths}


def point_servers_at(document: Json, base_url: str) -> Json:
    """One server: the sandbox's ``.../api``, to which the paths are relative.

    VALIDATION-NOTES 4: the 3.0.3 files list ``https://api.merge.dev/api/<category>/v1`` *and*
    start their paths with ``/<category>/v1``; real URLs are ``.../api`` + path.
    """
    result = dict(document)
    result["servers"] = [{"url": base_url.rstrip("/")}]
    return result


def _is_openapi_31(document: Json) -> bool:
    return str(document.get("openapi", "")).startswith("3.1")


def catalog_relations(category: Category) -> dict[str, dict[str, str | None]]:
    """Schema name -> relation field -> schema name of the related model, from the catalog."""

    def schema_of(ref: str) -> str:
        model = category.models.get(ref)
        return model.schema if model is not None else ref

    relations: dict[str, dict[str, str | None]] = {}
    for model in category:
        relations[model.schema] = {f.name: schema_of(f.ref) for f in model.fields if f.ref}
    for obj in category.objects.values():
        relations.setdefault(obj.name, {}).update(
            {f.name: schema_of(f.ref) for f in obj.fields if f.ref}
        )
    return {name: fields for name, fields in relations.items() if fields}


def catalog_expandable(category: Category) -> dict[str, list[str]]:
    """Schema name -> relations to Common Models that the model's ``expand`` values name."""
    expandable = {
        model.schema: [
            f.name for f in model.fields if f.ref in category.models and f.name in model.expand
        ]
        for model in category
    }
    return {name: fields for name, fields in expandable.items() if fields}


def catalog_expands(category: Category) -> dict[str, tuple[str, ...]]:
    """Path template -> the ``expand`` values its models accept, from the catalog."""
    expands: dict[str, tuple[str, ...]] = {}
    for model in category:
        for path in (model.list_path, model.retrieve_path):
            if path:
                expands[path] = model.expand
    return expands


def catalog_fields(category: Category, dialect: Dialect) -> dict[str, dict[str, Json]]:
    """Schema name -> field -> schema for every catalog model field (enums: any string)."""
    schemas = CatalogSchemas(category.objects, dialect=dialect, strict_enums=False)
    return {
        model.schema: {f.name: schemas.field_schema(f) for f in model.fields} for model in category
    }


def normalise(document: Json, category: Category) -> Json:
    """Every rule, in order, for one document of ``category`` (servers are set later)."""
    is_31 = _is_openapi_31(document)
    result = fix_type_key_typo(document)
    result = fix_lowercase_oneof(result)
    result = overlapping_oneof_to_anyof(result)
    result = nullable_accepts_null(result, NULL_OAS31 if is_31 else NULL_OAS30)
    result = enums_accept_any_string(result)
    result = add_catalog_only_fields(
        result, catalog_fields(category, "jsonschema" if is_31 else "oas30")
    )
    result = relations_accept_expanded_objects(result, catalog_relations(category))
    result = expandable_relations_accept_ids(result, catalog_expandable(category))
    result = prefix_paths(result, f"/{category.name}/v1")
    result = category_enums_include(result, list(load_catalog().categories))
    result = expand_parameter_from_catalog(result, catalog_expands(category))
    return unique_operation_ids(result)


@cache
def raw_document(relative: str) -> Json:
    """One document as published (cached: parsing the accounting file takes ~0.3 s)."""
    with (OPENAPI_DIR / relative).open() as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@cache
def normalised_document(relative: str, category: str) -> Json:
    """One document after every rule (cached for the session; callers must not mutate it)."""
    return normalise(raw_document(relative), load_catalog().category(category))
