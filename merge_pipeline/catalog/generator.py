"""Generate the Common Model catalog from our reference copy of Merge's published contract.

The catalog is the single source of models for the whole project (tables, assets, sandbox
data, tests). It is generated, never hand-typed, from three sources, newest first:

* ``sdk``: ``models/<category>.json``, facts extracted from Merge's Python SDK (2026-06);
* ``openapi``: ``openapi/<category>.yml``, Merge's own OpenAPI documents (formats, nullability);
* ``docs``: ``openapi/docs-merge-dev/<category>.yaml``, the docs.merge.dev export.

No single source is complete, so every model's fields are the union, and each field records
which sources mention it. Only names, types, formats, enum values and value constraints are
kept: no prose.

Run ``python -m merge_pipeline.catalog.generator --shared ../shared/merge`` (``make catalog``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

CATALOG_PATH = Path(__file__).with_name("catalog.json")
FORMAT_VERSION = 1

#: Types the platform endpoints return; the sandbox serves them and the pipeline reads them.
PLATFORM_TYPES = (
    "SyncStatus",
    "AccountDetails",
    "AccountDetailsAndActions",
    "AccountDetailsAndActionsIntegration",
    "AccountIntegration",
    "AccountToken",
    "Issue",
    "LinkToken",
    "RemoteKey",
    "RegenerateAccountToken",
    "ModelOperation",
)

_PAGINATED = re.compile(r"Paginated(\w+)List")
_SCALARS: dict[str, tuple[str, str | None]] = {
    "str": ("string", None),
    "datetime": ("string", "date-time"),
    "dt.datetime": ("string", "date-time"),
    "date": ("string", "date"),
    "dt.date": ("string", "date"),
    "bool": ("boolean", None),
    "float": ("number", None),
    "int": ("integer", None),
    "Any": ("any", None),
}

#: Value constraints kept from the OpenAPI documents, by their catalog name: generated values
#: (the sandbox's) must satisfy them to validate against Merge's own documents.
_CONSTRAINTS = {
    "minimum": "minimum",
    "maximum": "maximum",
    "pattern": "pattern",
    "maxLength": "max_length",
}

Json = dict[str, Any]


def _split_top_level(inner: str) -> list[str]:
    """Split ``A, B[C, D]`` on commas that are not inside brackets."""
    parts, depth, current = [], 0, ""
    for char in inner:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _unwrap(type_string: str) -> tuple[str, list[str]]:
    match = re.fullmatch(r"(\w+(?:\.\w+)?)\[(.*)\]", type_string.strip())
    if not match:
        return type_string.strip(), []
    return match.group(1), _split_top_level(match.group(2))


def parse_sdk_type(type_string: str, known_objects: set[str]) -> tuple[bool, Json]:
    """Turn an SDK type string into (optional, JSON-ish type description).

    ``Optional[Union[str, Company]]`` is an id reference, ``Union[GenderEnum, str]`` an enum
    that may carry a raw string, ``List[...]`` an array, a known nested type an object.
    """
    head, args = _unwrap(type_string)
    if head == "Optional":
        _, described = parse_sdk_type(args[0], known_objects)
        return True, described
    if head in ("List", "Sequence"):
        _, item = parse_sdk_type(args[0], known_objects)
        return False, {"type": "array", "items": item}
    if head == "Literal":
        return False, {"type": "string", "enum": [a.strip("\"'") for a in args]}
    if head == "Dict":
        return False, {"type": "object"}
    if head == "Union":
        names = [a for a in args if a != "str"]
        if len(names) == 1 and names[0].endswith("Enum"):
            return False, {"type": "string", "enum_type": names[0]}
        if len(names) == 1:
            return False, {"type": "string", "format": "uuid", "ref": names[0]}
        return False, {"type": "any"}
    if head in _SCALARS:
        json_type, fmt = _SCALARS[head]
        return False, {"type": json_type, **({"format": fmt} if fmt else {})}
    if head.endswith("Enum"):
        return False, {"type": "string", "enum_type": head}
    if head in known_objects:
        return False, {"type": "object", "object": head}
    return False, {"type": "object", "object": head}


def _openapi_property_facts(prop: Json) -> Json:
    """Nullability, format, type and value constraints of one OpenAPI property (3.0
    ``nullable`` or 3.1 type lists)."""
    facts: Json = {}
    nullable = bool(prop.get("nullable"))
    types = prop.get("type")
    if isinstance(types, list):
        nullable = nullable or "null" in types
        types = next((t for t in types if t != "null"), None)
    for branch in prop.get("oneOf", []) + prop.get("anyOf", []):
        if branch.get("type") == "null":
            nullable = True
        if "format" in branch and "format" not in facts:
            facts["format"] = branch["format"]
    if "format" in prop:
        facts["format"] = prop["format"]
    items = prop.get("items")
    if isinstance(items, dict):
        item_facts = _openapi_property_facts(items)
        if "format" in item_facts:
            facts["item_format"] = item_facts["format"]
        if "type" in item_facts:
            facts["item_type"] = item_facts["type"]
    if isinstance(types, str):
        facts["type"] = types
    for keyword, key in _CONSTRAINTS.items():
        if keyword in prop:
            facts[key] = prop[keyword]
    expands_to = prop.get("x-merge-expands-to") or (
        items.get("x-merge-expands-to") if isinstance(items, dict) else None
    )
    if expands_to:
        facts["expands_to"] = expands_to
        facts["many"] = isinstance(items, dict)
    facts["nullable"] = nullable
    facts["read_only"] = bool(prop.get("readOnly"))
    return facts


def _load_yaml(path: Path) -> Json | None:
    if not path.exists():
        return None
    with path.open() as handle:
        loaded: Json = yaml.safe_load(handle)
    return loaded


def _normalise_path(category: str, path: str) -> str:
    prefix = f"/{category}/v1"
    return path if path.startswith(prefix) else prefix + path


def _list_schema_by_path(category: str, document: Json | None) -> dict[str, str]:
    """Map each list path to the schema name of its items (e.g. ``/ats/v1/eeocs`` -> ``EEOC``)."""
    if document is None:
        return {}
    schemas = document.get("components", {}).get("schemas", {})
    found: dict[str, str] = {}
    for path, operations in document.get("paths", {}).items():
        get = (operations or {}).get("get") or {}
        content = get.get("responses", {}).get("200", {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
        paginated = ref.rsplit("/", 1)[-1]
        if not _PAGINATED.fullmatch(paginated):
            continue
        results = schemas.get(paginated, {}).get("properties", {}).get("results", {})
        item_ref = results.get("items", {}).get("$ref", "")
        if item_ref:
            found[_normalise_path(category, path)] = item_ref.rsplit("/", 1)[-1]
    return found


def _openapi_list_params(category: str, document: Json | None, path: str) -> set[str]:
    if document is None:
        return set()
    for raw_path, operations in document.get("paths", {}).items():
        if _normalise_path(category, raw_path) == path:
            get = (operations or {}).get("get") or {}
            return {p["name"] for p in get.get("parameters", []) if p.get("in", "query") == "query"}
    return set()


def _parent_params(path: str, model_names: Iterable[str]) -> list[Json]:
    """Path parameters of a nested list path, with the model whose ids fill them."""
    by_snake = {re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): name for name in model_names}
    params = []
    for name in re.findall(r"{(\w+)}", path):
        stem = name.removesuffix("_id")
        params.append({"name": name, "model": by_snake.get(stem)})
    return params


def _field_entry(
    name: str,
    sdk_field: Json | None,
    oas: Json | None,
    docs: Json | None,
    enums: Mapping[str, list[str]],
    known_objects: set[str],
    models: Iterable[str] = (),
) -> Json:
    sources = [
        s for s, present in (("sdk", sdk_field), ("openapi", oas), ("docs", docs)) if present
    ]
    entry: Json = {"name": name}
    if sdk_field is not None:
        optional, described = parse_sdk_type(sdk_field["type"], known_objects)
        entry["required"] = bool(sdk_field.get("required"))
        enum_values = sdk_field.get("enum_values")
        if described.get("type") == "array":
            item = described["items"]
            if item.get("enum_type") and enum_values is None:
                enum_values = enums.get(item["enum_type"])
            if "ref" in item:
                entry.update(type="array", ref=item["ref"], many=True)
            else:
                entry.update(type="array", items=_clean_item(item, enum_values))
                enum_values = None
        else:
            entry.update({k: v for k, v in described.items() if k not in ("enum_type",)})
            if described.get("enum_type") and enum_values is None:
                enum_values = enums.get(described["enum_type"])
        if sdk_field.get("expandable_to"):
            entry["ref"] = sdk_field["expandable_to"]
            entry["many"] = bool(sdk_field.get("is_list"))
            entry.pop("object", None)
            if entry["many"]:
                entry["type"] = "array"
                entry.pop("items", None)
            else:
                entry["type"] = "string"
                entry["format"] = "uuid"
        if enum_values:
            entry["enum"] = list(enum_values)
        entry["nullable"] = optional
    facts = {}
    for source in (docs, oas):  # the Merge OpenAPI wins over the docs export where both speak
        if source is not None:
            facts.update(_openapi_property_facts(source))
    if facts:
        # The OpenAPI documents say null where the SDK only says "may be absent".
        entry["nullable"] = facts["nullable"]
        entry["read_only"] = facts["read_only"]
        if "format" in facts and entry.get("type") == "string" and not entry.get("ref"):
            entry["format"] = facts["format"]
        if "item_format" in facts and "items" in entry and entry["items"].get("type") == "string":
            entry["items"]["format"] = facts["item_format"]
        if sdk_field is None:
            entry["type"] = _json_type(facts.get("type"))
            if "format" in facts and entry["type"] == "string":
                entry["format"] = facts["format"]
        if _free_form_list(entry, facts):
            entry.update(type="array", items={"type": _json_type(facts.get("item_type"))})
        for key in _CONSTRAINTS.values():
            if key in facts:
                entry[key] = facts[key]
        if not entry.get("ref") and facts.get("expands_to") in set(models):
            # Nested objects (line items, ...) reference Common Models only in the OpenAPI docs.
            entry["ref"] = facts["expands_to"]
            entry["many"] = bool(facts.get("many"))
            entry.pop("object", None)
            entry.pop("items", None)
            entry["type"] = "array" if entry["many"] else "string"
            if not entry["many"]:
                entry["format"] = "uuid"
    if entry.get("ref") and entry["ref"] not in set(models):
        _shape_object_reference(entry, [p for p in (oas, docs) if p is not None])
    entry.setdefault("nullable", True)
    entry.setdefault("read_only", False)
    entry.setdefault("required", False)
    entry.setdefault("many", False)
    entry["sources"] = sources
    return entry


#: Why a reference to a type without a list endpoint is served as the object or as an id.
EMBEDDED_REASON = (
    "{target} has no list endpoint, so an id would name nothing a client can fetch, and an "
    "OpenAPI document types the field as the object only: always served as the object"
)
ID_REASON = (
    "{target} has no list endpoint, but no OpenAPI document types the field as the object "
    "only: served as an id unless expanded, as every other relation"
)


def _branches(schema: Json) -> list[Json]:
    """The alternatives of a property (``oneOf``, ``anyOf``, ATS's lowercase ``oneof``)."""
    branches: list[Json] = []
    for key in ("oneOf", "anyOf", "oneof", "allOf"):
        branches.extend(b for b in schema.get(key, []) if isinstance(b, dict))
    return branches or [schema]


def typed_as_object_only(prop: Json) -> bool:
    """True when an OpenAPI property (or its items) admits the object but no id string."""
    subject = prop.get("items") if prop.get("type") == "array" else prop
    if not isinstance(subject, dict):
        return False
    branches = _branches(subject)
    has_object = any("$ref" in b for b in branches)
    has_id = any(b.get("type") in ("string", ["string", "null"]) for b in branches)
    return has_object and not has_id


def typed_as_id_only(prop: Json) -> bool:
    """True when an OpenAPI property (or its items) admits an id string but no object."""
    subject = prop.get("items") if prop.get("type") == "array" else prop
    if not isinstance(subject, dict):
        return False
    return not any("$ref" in b for b in _branches(subject))


def _shape_object_reference(entry: Json, props: list[Json]) -> None:
    """Decide how a reference to a nested type (``Invoice.line_items`` -> ``InvoiceLineItem``)
    is served unexpanded, from the OpenAPI documents, and record the reason in ``entry``.

    The object when some document types the field as the object only and none as an id only
    (an object then satisfies the id-or-object documents too); otherwise an id unless expanded.
    """
    target = entry["ref"]
    object_only = any(map(typed_as_object_only, props))
    if not object_only or any(map(typed_as_id_only, props)):
        entry.update(unexpanded="id", unexpanded_reason=ID_REASON.format(target=target))
        return
    many = entry.pop("many", False)
    entry.pop("ref", None)
    entry.pop("format", None)
    if many:
        entry.update(type="array", items={"type": "object", "object": target})
    else:
        entry.update(type="object", object=target)
    entry.update(unexpanded="object", unexpanded_reason=EMBEDDED_REASON.format(target=target))


def _free_form_list(entry: Json, facts: Json) -> bool:
    """The SDK types some lists as a free-form ``Dict`` (``ReportItem.sub_items``); where the
    OpenAPI documents say array, a dict on the wire would be invalid, so the array wins."""
    free_form = entry.get("type") == "object" and not entry.get("object")
    return free_form and not entry.get("ref") and facts.get("type") == "array"


def _json_type(oas_type: str | None) -> str:
    return (
        oas_type
        if oas_type in {"string", "integer", "number", "boolean", "object", "array"}
        else "any"
    )


def _clean_item(item: Json, enum_values: list[str] | None) -> Json:
    cleaned = {k: v for k, v in item.items() if k not in ("enum_type", "items")}
    if enum_values:
        cleaned["enum"] = list(enum_values)
    return cleaned


def _schema_props(document: Json | None, schema: str | None) -> dict[str, Json]:
    if document is None or schema is None:
        return {}
    props: dict[str, Json] = (
        document.get("components", {}).get("schemas", {}).get(schema, {}).get("properties", {})
    )
    return props


def _object_fields(
    type_name: str,
    sdk: Json,
    enums: Mapping[str, list[str]],
    known_objects: set[str],
    documents: tuple[Json | None, Json | None] = (None, None),
) -> list[Json]:
    """Fields of a nested or platform type: the SDK's, refined by the OpenAPI documents."""
    oas_doc, docs_doc = documents
    oas_props = _schema_props(oas_doc, type_name)
    docs_props = _schema_props(docs_doc, type_name)
    fields = sdk["other_types"].get(type_name, {}).get("fields", {})
    models = set(sdk["common_models"])
    return [
        _field_entry(
            wire,
            f,
            oas_props.get(wire),
            docs_props.get(wire),
            enums,
            known_objects,
            models,
        )
        for wire, f in ((_wire_name(n, f), f) for n, f in fields.items())
    ]


def _wire_name(name: str, field: Json) -> str:
    return str(field.get("alias") or field.get("wire_name") or name)


def _referenced_objects(fields: Iterable[Json]) -> set[str]:
    """Nested types a set of fields uses, including reference targets (models are removed later:
    ``Invoice.line_items`` refers to ``InvoiceLineItem``, which has no list endpoint)."""
    names = set()
    for field in fields:
        for holder in (field, field.get("items") or {}):
            if holder.get("object"):
                names.add(holder["object"])
        if field.get("ref"):
            names.add(field["ref"])
    return names


def build_category(category: str, shared: Path) -> Json:
    """Build one category's entry: its Common Models and the nested object types they use."""
    sdk = json.loads((shared / "models" / f"{category}.json").read_text())
    oas_doc = _load_yaml(shared / "openapi" / f"{category}.yml")
    docs_doc = _load_yaml(shared / "openapi" / "docs-merge-dev" / f"{category}.yaml")
    enums: dict[str, list[str]] = sdk.get("enums", {})
    known_objects = set(sdk["other_types"]) | set(sdk["common_models"])
    oas_schemas = _list_schema_by_path(category, oas_doc)
    docs_schemas = _list_schema_by_path(category, docs_doc)

    list_endpoints: dict[str, list[Json]] = {}
    retrieve_paths: set[str] = set()
    for operations in sdk["endpoints"].values():
        for op in operations:
            if op["http_method"] != "GET":
                continue
            match = _PAGINATED.search(op["returns"] or "")
            if match and match.group(1) in sdk["common_models"]:
                list_endpoints.setdefault(match.group(1), []).append(op)
            elif op["path"].endswith("/{id}"):
                retrieve_paths.add(op["path"])

    models: dict[str, Json] = {}
    nested: set[str] = set()
    for model_name, model in sdk["common_models"].items():
        # A top-level list path is preferred; nested ones (``/projects/{parent_id}/users``) are
        # kept as alternatives because they need their parent's ids to be called.
        candidates = sorted(list_endpoints[model_name], key=lambda o: "{" in o["path"])
        op = candidates[0]
        path = op["path"]
        oas_schema = oas_schemas.get(path)
        docs_schema = docs_schemas.get(path)
        oas_props = _schema_props(oas_doc, oas_schema)
        docs_props = _schema_props(docs_doc, docs_schema)
        sdk_fields = {_wire_name(n, f): f for n, f in model["fields"].items()}
        names = list(sdk_fields) + [n for n in (*oas_props, *docs_props) if n not in sdk_fields]
        fields = [
            _field_entry(
                n,
                sdk_fields.get(n),
                oas_props.get(n),
                docs_props.get(n),
                enums,
                known_objects,
                sdk["common_models"],
            )
            for n in dict.fromkeys(names)
        ]
        nested |= _referenced_objects(fields)
        params = {p["name"]: p for p in op["query_params"]}
        expand_param = params.get("expand", {})
        oas_params = _openapi_list_params(category, oas_doc, path)
        field_names = {f["name"] for f in fields}
        models[model_name] = {
            "list_path": path,
            "retrieve_path": path + "/{id}" if path + "/{id}" in retrieve_paths else None,
            "path_params": _parent_params(path, sdk["common_models"]),
            "other_list_paths": [o["path"] for o in candidates[1:]],
            "schema": oas_schema or docs_schema or model_name,
            "key": "id" if "id" in field_names else "remote_id",
            "list_params": sorted(set(params) | oas_params),
            "expand": _expand_values(expand_param.get("enum_values") or []),
            "fields": fields,
        }

    objects: dict[str, Json] = {}
    pending = sorted(nested - set(models))
    while pending:
        name = pending.pop()
        if name in objects:
            continue
        objects[name] = {
            "fields": _object_fields(name, sdk, enums, known_objects, (oas_doc, docs_doc))
        }
        pending.extend(
            sorted(_referenced_objects(objects[name]["fields"]) - set(objects) - set(models))
        )
    return {"models": models, "objects": dict(sorted(objects.items()))}


def _expand_values(values: Iterable[str]) -> list[str]:
    """Single relation names accepted by ``expand`` (older specs list comma-joined combinations)."""
    singles: dict[str, None] = {}
    for value in values:
        for part in value.split(","):
            singles[part] = None
    return list(singles)


def build_platform_types(shared: Path) -> Json:
    """Shapes of the platform endpoints (sync status, account details, issues, link token)."""
    sdk = json.loads((shared / "models" / "hris.json").read_text())
    enums = sdk.get("enums", {})
    known = set(sdk["other_types"])
    documents = (_load_yaml(shared / "openapi" / "hris.yml"), None)
    return {
        name: {"fields": _object_fields(name, sdk, enums, known, documents)}
        for name in PLATFORM_TYPES
    }


def build_catalog(shared: Path) -> Json:
    """The whole catalog: every category in ``models/_index.json``, with source provenance."""
    index = json.loads((shared / "models" / "_index.json").read_text())
    categories = {name: build_category(name, shared) for name in index["categories"]}
    sdk_source = json.loads((shared / "models" / "hris.json").read_text())["source"]
    source_files = sorted(
        p
        for p in shared.rglob("*")
        if p.is_file() and p.parts[-2] in ("models", "openapi", "docs-merge-dev")
    )
    digest = hashlib.sha256()
    for path in source_files:
        digest.update(path.relative_to(shared).as_posix().encode())
        digest.update(path.read_bytes())
    return {
        "format_version": FORMAT_VERSION,
        "generated_from": {
            "sdk": {"repository": sdk_source["extracted_from"], "commit": sdk_source["commit"]},
            "openapi": "openapi/<category>.yml (Merge SDK repos, OpenAPI 3.0.3, 2025)",
            "docs": "openapi/docs-merge-dev/<category>.yaml (docs.merge.dev export, OpenAPI 3.1)",
            "sources_sha256": digest.hexdigest(),
        },
        "platform_types": build_platform_types(shared),
        "categories": categories,
    }


def render(catalog: Json) -> str:
    """Serialise deterministically, so a regeneration diff shows only real changes."""
    return json.dumps(catalog, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shared", type=Path, default=Path("../shared/merge"))
    parser.add_argument("--output", type=Path, default=CATALOG_PATH)
    parser.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    args = parser.parse_args(argv)
    if not (args.shared / "models" / "_index.json").exists():
        print(
            f"error: no Merge reference at {args.shared} (expected models/_index.json)",
            file=sys.stderr,
        )
        return 2
    text = render(build_catalog(args.shared))
    if args.check:
        stale = not args.output.exists() or args.output.read_text() != text
        print("catalog is stale: run `make catalog`" if stale else "catalog is up to date")
        return 1 if stale else 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
