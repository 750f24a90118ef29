"""Value constraints from Merge's OpenAPI documents that the catalog does not keep.

The catalog records names, types, formats and nullability of Common Model fields. Generating
values that Merge's own documents accept also needs, per schema property: ``minimum`` /
``maximum`` (``fiscal_year_end_month`` is at most 12), ``pattern`` (decimals as strings),
``maxLength``, and, for nested objects, the format and nullability the SDK-derived object types
lack (``Earning.employee_payroll_run`` is a uuid, ``InvoiceLineItem.id`` is never null).

They are extracted once into ``openapi_facts.json``:
``python -m merge_sandbox.openapi_facts --shared ../shared/merge``.
"""

import argparse
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from merge_pipeline.catalog import load_catalog

FACTS_FILE = Path(__file__).with_name("openapi_facts.json")
_KEPT = ("minimum", "maximum", "pattern", "maxLength")

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Facts:
    """What the OpenAPI documents say about one property (None: they say nothing)."""

    type: str | None = None
    format: str | None = None
    nullable: bool | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    max_length: int | None = None
    item_type: str | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "Facts":
        return cls(
            type=raw.get("type"),
            format=raw.get("format"),
            nullable=raw.get("nullable"),
            minimum=raw.get("minimum"),
            maximum=raw.get("maximum"),
            pattern=raw.get("pattern"),
            max_length=raw.get("maxLength"),
            item_type=raw.get("item_type"),
        )


def _branches(prop: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield prop
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in prop.get(key) or ():
            if isinstance(branch, dict):
                yield branch


def property_facts(prop: Mapping[str, Any]) -> Json:
    """Facts of one OpenAPI 3.0 or 3.1 property (refs to other schemas are not followed)."""
    facts: Json = {}
    nullable = bool(prop.get("nullable"))
    for branch in _branches(prop):
        kind = branch.get("type")
        if isinstance(kind, list):
            nullable = nullable or "null" in kind
            kind = next((k for k in kind if k != "null"), None)
        if kind == "null":
            nullable = True
        elif isinstance(kind, str) and "type" not in facts and "$ref" not in branch:
            facts["type"] = kind
        if "format" in branch and "format" not in facts:
            facts["format"] = branch["format"]
        for key in _KEPT:
            if key in branch and key not in facts:
                facts[key] = branch[key]
        items = branch.get("items")
        if isinstance(items, dict) and "item_type" not in facts:
            item_kind = items.get("type")
            if isinstance(item_kind, list):
                item_kind = next((k for k in item_kind if k != "null"), None)
            if isinstance(item_kind, str):
                facts["item_type"] = item_kind
            elif "$ref" in items or "oneOf" in items:
                facts["item_type"] = "object" if "$ref" in items else "string"
    facts["nullable"] = nullable
    return facts


def _schemas(document: Json | None) -> Mapping[str, Any]:
    if not document:
        return {}
    schemas: Mapping[str, Any] = document.get("components", {}).get("schemas", {})
    return schemas


def build(shared: Path) -> Json:
    """Facts for every schema the catalog's models and nested types are named after."""
    import yaml

    from merge_sandbox.nested_types import load_nested_types

    catalog = load_catalog()
    nested = load_nested_types()
    result: Json = {}
    for category_name, category in catalog.categories.items():
        documents = []
        for path in (
            shared / "openapi" / f"{category_name}.yml",
            shared / "openapi" / "docs-merge-dev" / f"{category_name}.yaml",
        ):
            if path.exists():
                documents.append(_schemas(yaml.safe_load(path.read_text())))
        names = {m.schema for m in category} | set(category.objects) | set(nested[category_name])
        found: Json = {}
        for name in sorted(names):
            merged: Json = {}
            for schemas in reversed(documents):  # the Merge repo document wins over the docs export
                for prop_name, prop in (schemas.get(name, {}).get("properties") or {}).items():
                    if isinstance(prop, dict):
                        merged[prop_name] = {**merged.get(prop_name, {}), **property_facts(prop)}
            if merged:
                found[name] = merged
        result[category_name] = found
    return result


@cache
def load_facts() -> dict[str, dict[str, dict[str, Facts]]]:
    """``category -> schema -> property -> Facts``."""
    raw = json.loads(FACTS_FILE.read_text())
    return {
        category: {
            schema: {prop: Facts.from_json(f) for prop, f in props.items()}
            for schema, props in schemas.items()
        }
        for category, schemas in raw.items()
    }


def facts_for(category: str, schema: str, prop: str) -> Facts | None:
    return load_facts().get(category, {}).get(schema, {}).get(prop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Extract value constraints from the OpenAPI.")
    parser.add_argument("--shared", type=Path, default=Path("../shared/merge"))
    parser.add_argument("--output", type=Path, default=FACTS_FILE)
    args = parser.parse_args(argv)
    args.output.write_text(json.dumps(build(args.shared), indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
