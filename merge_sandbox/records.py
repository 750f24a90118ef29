"""Deterministic records of one linked account, generated from their index on demand.

A record costs one BLAKE2b plus a few integer mixes and pool look-ups per field; nothing about
base records is stored. References only point at records that exist in the same account, so
every ``expand`` resolves.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from merge_sandbox.hashing import hash64, quick
from merge_sandbox.ids import derived_uuid
from merge_sandbox.layout import ModelLayout, remote_id_for
from merge_sandbox.pools import Pools
from merge_sandbox.schema import ModelSpec, Schema
from merge_sandbox.timefmt import to_iso
from merge_sandbox.values import (
    Context,
    Env,
    Gen,
    field_gen,
    in_time_order,
    object_gen,
    string_kind,
)

#: Fields the record factory fills itself rather than from the field's type.
SPECIAL = frozenset(
    {
        "id",
        "remote_id",
        "created_at",
        "modified_at",
        "remote_was_deleted",
        "field_mappings",
        "remote_data",
        "remote_fields",
    }
)
_CHANGE_PER_MILLE = 300
#: Name-like fields share one hash per record so first, last and full name belong together.
_PERSON_KINDS = frozenset({"first_name", "last_name", "full_name", "username"})
_PERSON_SALT = 0x5EED5EED5EED


@dataclass(frozen=True)
class Plan:
    """Compiled generators for one model's ordinary fields, in catalog order."""

    spec: ModelSpec
    fields: tuple[tuple[str, int, Gen], ...]
    order: tuple[str, ...]


class Generators:
    """Per-model plans and per-object-type generators, shared by every account."""

    def __init__(self, schema: Schema, pools: Pools) -> None:
        self.schema = schema
        self.pools = pools
        self.plans: dict[str, Plan] = {}
        self._objects: dict[tuple[str, str], Gen | None] = {}
        self._envs = {name: self._env(name) for name in schema.catalog.categories}
        for spec in schema:
            self.plans[spec.model_id] = self._plan(spec)

    def _env(self, category: str) -> Env:
        schema = self.schema
        return Env(
            category=category,
            pools=self.pools,
            objects=lambda name: schema.object_type(category, name),
            model_named=lambda name: schema.model_named(category, name),
        )

    def _plan(self, spec: ModelSpec) -> Plan:
        env = self._envs[spec.category]
        parts = []
        for position, field in enumerate(spec.model.fields):
            if field.name in SPECIAL or field.name == spec.parent_field:
                continue
            gen = field_gen(spec.name, field, env, ref=spec.references.get(field.name))
            person = (
                field.type == "string"
                and not field.enum
                and not field.format
                and string_kind(spec.name, field.name) in _PERSON_KINDS
            )
            salt = _PERSON_SALT if person else hash64("field", spec.model_id, field.name, position)
            parts.append((field.name, salt, gen))
        return Plan(spec, tuple(parts), spec.model.field_names)

    def object_gen(self, category: str, type_name: str) -> Gen | None:
        key = (category, type_name)
        if key not in self._objects:
            object_type = self.schema.object_type(category, type_name)
            self._objects[key] = (
                None if object_type is None else object_gen(object_type, self._envs[category], 1)
            )
        return self._objects[key]


class AccountRecords(Context):
    """Record factory for one linked account (also the ``Context`` references resolve in)."""

    def __init__(
        self,
        generators: Generators,
        seed: int,
        account_id: str,
        layouts: Mapping[str, ModelLayout],
        epoch_us: int,
    ) -> None:
        self.generators = generators
        self.seed = seed
        self.account_id = account_id
        self.layouts = layouts
        self.epoch_us = epoch_us
        self._by_name = {model_id.split(".", 1)[1]: layout for model_id, layout in layouts.items()}

    def pick_id(self, model: str, h: int) -> str | None:
        layout = self._by_name.get(model)
        if layout is None or layout.count == 0:
            return None
        return layout.ids.encode(h % layout.count)

    def record_hash(self, model_id: str, index: int, version: int = 0) -> int:
        return hash64(self.seed, self.account_id, model_id, index, version)

    def parent_index(self, spec: ModelSpec, index: int) -> int | None:
        """Base children are dealt to parents round-robin: child ``i`` has parent ``i % P``."""
        if spec.parent is None:
            return None
        parent = self._by_name.get(spec.parent)
        if parent is None or parent.count == 0:
            return None
        return index % parent.count

    def parent_id(self, spec: ModelSpec, parent_index: int | None) -> str | None:
        if spec.parent is None or parent_index is None:
            return None
        return self._by_name[spec.parent].ids.encode(parent_index)

    def build(
        self,
        model_id: str,
        index: int,
        created_us: int,
        modified_us: int,
        parent_index: int | None,
        version: int = 0,
    ) -> dict[str, Any]:
        """A full (unexpanded) record; ``version`` > 0 gives a later state of the same record."""
        plan = self.generators.plans[model_id]
        spec = plan.spec
        h = self.record_hash(model_id, index, version)
        values: dict[str, Any] = {
            name: gen(quick(h, salt), self) for name, salt, gen in plan.fields
        }
        layout = self.layouts[model_id]
        values["id"] = layout.ids.encode(index)
        values["remote_id"] = remote_id_for(index)
        values["created_at"] = to_iso(created_us)
        values["modified_at"] = to_iso(modified_us)
        values["remote_was_deleted"] = False
        values["field_mappings"] = (
            None
            if h % 4
            else {"organization_defined_targets": {}, "linked_account_defined_targets": {}}
        )
        values["remote_data"] = None
        values["remote_fields"] = []
        if spec.parent_field is not None:
            values[spec.parent_field] = self.parent_id(spec, parent_index)
        return in_time_order({name: values[name] for name in plan.order})

    def base(self, model_id: str, index: int) -> dict[str, Any]:
        layout = self.layouts[model_id]
        spec = self.generators.plans[model_id].spec
        return self.build(
            model_id,
            index,
            layout.created_us(index),
            layout.modified_us(index),
            self.parent_index(spec, index),
        )

    def changed(
        self, model_id: str, record: Mapping[str, Any], index: int, version: int, modified_us: int
    ) -> dict[str, Any]:
        """The record after a change in the third party: some ordinary fields take new values."""
        plan = self.generators.plans[model_id]
        h = self.record_hash(model_id, index, version)
        updated = dict(record)
        changed_any = False
        for name, salt, gen in plan.fields:
            if quick(h, salt ^ 0xA5A5) % 1000 < _CHANGE_PER_MILLE:
                updated[name] = gen(quick(h, salt), self)
                changed_any = True
        if not changed_any and plan.fields:
            name, salt, gen = plan.fields[h % len(plan.fields)]
            updated[name] = gen(quick(h, salt), self)
        updated["modified_at"] = to_iso(modified_us)
        return in_time_order(updated)

    def embedded(self, category: str, type_name: str, object_id: str) -> dict[str, Any] | None:
        """The embedded object (line item, address...) behind an id written by the generator."""
        gen = self.generators.object_gen(category, type_name)
        if gen is None:
            return None
        value: dict[str, Any] = gen(hash64("embedded", object_id), self)
        if "id" in value:
            value["id"] = object_id
        return value

    def remote_data(self, spec: ModelSpec, record: Mapping[str, Any]) -> list[dict[str, Any]]:
        """A plausible raw third-party payload, as ``include_remote_data=true`` returns."""
        path = spec.model.list_path.rsplit("/", 1)[-1]
        return [
            {
                "path": f"/{path}",
                "data": {"id": record.get("remote_id"), "updated": record.get("modified_at")},
            }
        ]

    def remote_fields(self, category: str, record: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``include_remote_fields=true``: the class of each remote field is an id, or the
        ``RemoteFieldClass`` object where the catalog serves that type embedded."""
        h = hash64("remote-fields", record.get("id") or record.get("remote_id"))
        make_class = self._remote_field_class(category)
        fields = []
        for i in range(1 + h % 2):
            class_id = derived_uuid("remote-field-class", self.account_id, i)
            fields.append(
                {
                    "remote_field_class": (
                        class_id if make_class is None else {**make_class(quick(h, i), self)}
                    ),
                    # A free-form object: the docs export types it so, the 3.0.3 files any.
                    "value": {"value": self.generators.pools.pick("word", quick(h, i))},
                }
            )
        return fields

    def _remote_field_class(self, category: str) -> Gen | None:
        remote_field = self.generators.schema.object_type(category, "RemoteField")
        embedded = remote_field is not None and any(
            f.name == "remote_field_class" and f.type == "object" for f in remote_field.fields
        )
        return self.generators.object_gen(category, "RemoteFieldClass") if embedded else None
