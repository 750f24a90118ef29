"""Nested object types that records embed but the committed catalog does not describe.

The catalog lists the object types its models embed directly (``Address`` in CRM,
``RemoteData``...), but not the targets of expandable relations that are not Common Models
(accounting ``InvoiceLineItem``, ATS ``ScreeningQuestionAnswer``, filestorage ``Permission``).
The sandbox needs their shapes to answer ``expand=line_items``, so they are extracted, with the
catalog generator's own SDK-type parser, into ``nested_types.json`` next to this module.

Regenerate with ``python -m merge_sandbox.nested_types --shared ../shared/merge``.
"""

import argparse
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from merge_pipeline.catalog import load_catalog
from merge_pipeline.catalog.model import Catalog, ObjectType, parse_catalog

NESTED_TYPES_FILE = Path(__file__).with_name("nested_types.json")

Json = dict[str, Any]


def missing_type_names(catalog: Catalog, category: str) -> set[str]:
    """Types a category's models point to that are neither models nor catalog objects."""
    cat = catalog.category(category)
    known = set(cat.models) | set(cat.objects)
    wanted: set[str] = set()
    for model in cat:
        for field in model.fields:
            wanted |= _type_names(field.ref, field.object, (field.items or {}).get("object"))
    for obj in cat.objects.values():
        for field in obj.fields:
            wanted |= _type_names(field.ref, field.object, (field.items or {}).get("object"))
    return wanted - known


def _type_names(*names: str | None) -> set[str]:
    return {n for n in names if n}


def build(shared: Path, catalog: Catalog) -> Json:
    """Extract the missing types (and what they embed in turn) from ``models/<category>.json``."""
    from merge_pipeline.catalog import generator

    result: Json = {}
    for category in catalog.categories:
        sdk = json.loads((shared / "models" / f"{category}.json").read_text())
        enums = sdk.get("enums", {})
        known_objects = set(sdk["other_types"]) | set(sdk["common_models"])
        cat = catalog.category(category)
        pending = sorted(missing_type_names(catalog, category))
        found: Json = {}
        while pending:
            name = pending.pop()
            if name in found or name in cat.objects or name in cat.models:
                continue
            if name not in sdk["other_types"]:
                continue
            fields = generator._object_fields(name, sdk, enums, known_objects)
            found[name] = {"fields": fields}
            pending.extend(sorted(_embedded(fields)))
        result[category] = dict(sorted(found.items()))
    return result


def _embedded(fields: Iterable[Mapping[str, Any]]) -> set[str]:
    names: set[str] = set()
    for field in fields:
        for holder in (field, field.get("items") or {}):
            for key in ("object", "ref"):
                if holder.get(key):
                    names.add(holder[key])
    return names


@cache
def load_nested_types() -> dict[str, dict[str, ObjectType]]:
    """The extracted types, per category, as the catalog's own ``ObjectType``."""
    raw = json.loads(NESTED_TYPES_FILE.read_text())
    wrapped = {
        "categories": {
            name: {"models": {}, "objects": objects} for name, objects in raw["categories"].items()
        },
        "platform_types": {},
        "generated_from": {},
    }
    parsed = parse_catalog(wrapped)
    return {name: dict(cat.objects) for name, cat in parsed.categories.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Extract nested types the catalog lacks.")
    parser.add_argument("--shared", type=Path, default=Path("../shared/merge"))
    parser.add_argument("--output", type=Path, default=NESTED_TYPES_FILE)
    args = parser.parse_args(argv)
    data = {"categories": build(args.shared, load_catalog())}
    args.output.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
