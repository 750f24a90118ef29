"""Turn stored/generated records into response bodies: ``expand``, remote data, enum origins.

Unexpanded relations are ids (or lists of ids); ``expand=<field>`` puts the related record (a
Common Model of the same account) or the embedded object (line item, address...) in their place.
"""

from collections.abc import Iterable
from typing import Any

from merge_sandbox.accounts import LinkedAccount
from merge_sandbox.oddities import apply_oddities
from merge_sandbox.query import Rendering
from merge_sandbox.schema import ModelSpec, RefKind
from merge_sandbox.state import Sandbox
from merge_sandbox.table import Row


def split_expand(values: Iterable[str]) -> dict[str, frozenset[str]]:
    """``{"a", "a.b", "c"}`` -> ``{"a": {"b"}, "c": {}}``."""
    tree: dict[str, set[str]] = {}
    for value in values:
        head, _, rest = value.partition(".")
        tree.setdefault(head, set())
        if rest:
            tree[head].add(rest)
    return {k: frozenset(v) for k, v in tree.items()}


def inline_objects(spec: ModelSpec) -> list[str]:
    """Embedded-object relations ``expand`` cannot name (``TaxRate.tax_components``,
    ``JobPosting.job_posting_urls``): Merge always returns those objects inline."""
    return [
        name
        for name, ref in spec.references.items()
        if ref.kind is RefKind.OBJECT and name not in spec.model.expand
    ]


def _enum_origin(value: Any) -> Any:
    """What a third party might have called a normalised enum value (``ACTIVE`` -> ``Active``)."""
    return value.replace("_", " ").title() if isinstance(value, str) else value


class Renderer:
    """Renders rows of one linked account."""

    def __init__(self, sandbox: Sandbox, account: LinkedAccount) -> None:
        self.sandbox = sandbox
        self.account = account

    def render(self, spec: ModelSpec, row: Row, rendering: Rendering) -> dict[str, Any]:
        record = dict(row.record)
        return self.decorate(spec, record, rendering, dict(split_expand(rendering.expand)))

    def decorate(
        self,
        spec: ModelSpec,
        record: dict[str, Any],
        rendering: Rendering,
        expand: dict[str, frozenset[str]],
    ) -> dict[str, Any]:
        records = self.account.records
        if rendering.include_remote_data and "remote_data" in record:
            record["remote_data"] = records.remote_data(spec, record)
        if rendering.include_remote_fields and "remote_fields" in record:
            record["remote_fields"] = records.remote_fields(spec.category, record)
        if (
            "ssn" in record
            and "include_sensitive_fields" in spec.model.list_params
            and not rendering.include_sensitive_fields
        ):
            record["ssn"] = None
        for name in rendering.enum_origins:
            if name in record and spec.has_field(name) and spec.model.field(name).enum:
                record[name] = _enum_origin(record[name])
        for name in inline_objects(spec):
            expand.setdefault(name, frozenset())
        for name, deeper in expand.items():
            ref = spec.references.get(name)
            if ref is None and deeper and record.get(name) is not None:
                self._expand_embedded(spec, name, record, deeper)
                continue
            if ref is None or not ref.expandable or record.get(name) is None:
                continue
            value = record[name]
            if ref.kind is RefKind.MODEL:
                target = f"{spec.category}.{ref.target}"
                record[name] = (
                    [self._model(target, v, rendering, deeper) for v in value]
                    if ref.many
                    else self._model(target, value, rendering, deeper)
                )
            else:
                record[name] = (
                    [self._object(spec.category, ref.target, v, deeper) for v in value]
                    if ref.many
                    else self._object(spec.category, ref.target, value, deeper)
                )
        apply_oddities(self.sandbox.adversity, spec, record)
        return record

    def _expand_embedded(
        self, spec: ModelSpec, name: str, record: dict[str, Any], deeper: frozenset[str]
    ) -> None:
        """``expand=screening_question_answers.question``: the relations inside objects that
        are always embedded (types without a list endpoint) expand like any other."""
        if not spec.has_field(name):
            return
        field = spec.model.field(name)
        type_name = (field.items or {}).get("object") if field.type == "array" else field.object
        if not type_name:
            return

        def expanded(obj: Any) -> Any:  # a copy: the stored record must not change
            if not isinstance(obj, dict):
                return obj
            return self._expand_inside(spec.category, str(type_name), dict(obj), deeper)

        value = record[name]
        record[name] = [expanded(v) for v in value] if isinstance(value, list) else expanded(value)

    def _model(
        self, model_id: str, record_id: Any, rendering: Rendering, deeper: frozenset[str]
    ) -> Any:
        index = self.sandbox.locate(self.account, model_id, str(record_id))
        if index is None:
            return record_id
        table = self.account.tables[model_id]
        row = table.get(index)
        if row is None or row.purged:
            return record_id
        nested = Rendering(include_remote_data=rendering.include_remote_data)
        return self.decorate(table.spec, dict(row.record), nested, dict(split_expand(deeper)))

    def _object(self, category: str, type_name: str, object_id: Any, deeper: frozenset[str]) -> Any:
        value = self.account.records.embedded(category, type_name, str(object_id))
        if value is None:
            return object_id
        return self._expand_inside(category, type_name, value, deeper)

    def _expand_inside(
        self, category: str, type_name: str, value: dict[str, Any], deeper: frozenset[str]
    ) -> dict[str, Any]:
        """Expand the Common Model relations ``deeper`` names inside one embedded object."""
        object_type = self.sandbox.schema.object_type(category, type_name)
        for name in deeper:
            field = (
                next((f for f in object_type.fields if f.name == name), None)
                if object_type
                else None
            )
            if field is None or field.ref is None or value.get(name) is None:
                continue
            model_id = f"{category}.{field.ref}"
            if model_id in self.account.tables:
                value[name] = self._model(model_id, value[name], Rendering(), frozenset())
        return value
