"""Field value generators, compiled once per model field from its catalog type.

A generator is ``gen(h, ctx) -> value`` where ``h`` is the field's 64-bit hash for this record
and ``ctx`` resolves references (ids of other records of the same linked account). Names only
choose *which kind* of realistic value a string gets; field names, types, formats, nullability
and value constraints (``minimum``, ``maximum``, ``max_length``) all come from the catalog,
which took them from Merge's OpenAPI documents, so generated values validate against them.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from merge_pipeline.catalog.model import Field, ObjectType
from merge_sandbox.hashing import quick
from merge_sandbox.ids import derived_uuid
from merge_sandbox.pools import Pools
from merge_sandbox.schema import Reference, RefKind
from merge_sandbox.timefmt import US_PER_DAY, to_date, to_iso

NULL_PER_MILLE = 100  # nullable fields are null about 10% of the time
REF_NULL_PER_MILLE = 50
MAX_OBJECT_DEPTH = 2


class Context(Protocol):
    """What a generator may ask about the record's linked account."""

    epoch_us: int  # values like hire dates lie in the years before this

    def pick_id(self, model: str, h: int) -> str | None: ...


Gen = Callable[[int, Context], Any]
_DEFAULT_SPAN = 1000
#: Sources that speak for the OpenAPI documents (the SDK alone says "optional" for everything).
_OPENAPI_SOURCES = frozenset({"openapi", "docs"})


@dataclass(frozen=True)
class Env:
    """What compiling a generator needs to know about the category it generates for."""

    category: str
    pools: Pools
    objects: Callable[[str], ObjectType | None]  # nested object types by name
    model_named: Callable[[str], str | None]  # field name -> model it evidently holds ids of


_PERSON_MODELS = {"Employee", "User", "RemoteUser", "Contact", "Candidate", "Member", "Dependent"}
_ORG_MODELS = {"Company", "CompanyInfo", "Account", "Office", "Department", "Drive"}
_BY_OWNER_VALUE = {
    "PhoneNumber": "phone",
    "AccountingPhoneNumber": "phone",
    "EmailAddress": "email",
    "Url": "url",
}
_EXACT = {
    "first_name": "first_name",
    "preferred_name": "first_name",
    "last_name": "last_name",
    "display_full_name": "full_name",
    "full_name": "full_name",
    "username": "username",
    "job_title": "job_title",
    "title": "job_title",
    "city": "city",
    "street_1": "street",
    "street_2": "secondary",
    "state": "state",
    "zip_code": "postcode",
    "postal_code": "postcode",
    "country": "country_code",
    "currency": "currency",
    "timezone": "timezone",
    "mime_type": "mime_type",
    "bank_name": "bank",
    "legal_name": "company",
    "company": "company",
    "color": "color",
    "code": "code",
    "number": "code",
    "iban": "iban",
}
_TEXT_HINTS = ("description", "body", "content", "note", "text", "detail", "summary", "memo")


def string_kind(owner: str, name: str) -> str:
    """The pool a string field draws from, by what the field is evidently for."""
    if name == "value" and owner in _BY_OWNER_VALUE:
        return _BY_OWNER_VALUE[owner]
    if name in _EXACT:
        return _EXACT[name]
    if name.endswith("_type"):
        return "label"
    if "email" in name:
        return "email"
    if "phone" in name:
        return "phone"
    if name in ("avatar", "image", "square_image", "logo") or name.endswith("_image"):
        return "image_url"
    if name == "url" or name.endswith(("_url", "_link")):
        return "url"
    if any(hint in name for hint in _TEXT_HINTS):
        return "paragraph" if name in ("body", "content", "body_text") else "sentence"
    if name in ("file_name", "name") and owner in ("File", "Attachment", "AccountingAttachment"):
        return "file_name"
    if name == "name" and owner in _PERSON_MODELS:
        return "full_name"
    organisation = name.endswith("_name") and "organization" in name
    if organisation or (name == "name" and owner in _ORG_MODELS):
        return "company"
    if name.endswith(("_number", "_id")):
        return "digits"
    return "words"


def _nullable(field: Field, gen: Gen, per_mille: int = NULL_PER_MILLE) -> Gen:
    if not field.nullable:
        return gen

    def maybe_null(h: int, ctx: Context) -> Any:
        if (h >> 40) % 1000 < per_mille:
            return None
        return gen(h, ctx)

    return maybe_null


def _count(h: int, most: int) -> int:
    return (h >> 50) % (most + 1)


def _limited(gen: Gen, limit: int | None) -> Gen:
    if limit is None:
        return gen

    def cut(h: int, ctx: Context) -> Any:
        value = gen(h, ctx)
        return value[:limit] if isinstance(value, str) else value

    return cut


def _string_gen(owner: str, field: Field, env: Env) -> Gen:
    pools = env.pools
    if field.enum:
        choices = field.enum
        return lambda h, ctx: choices[h % len(choices)]
    fmt = field.format
    if fmt in ("date-time", "date") and "birth" in field.name:
        return lambda h, ctx: (
            to_date(ctx.epoch_us - 18 * 365 * US_PER_DAY - h % (40 * 365 * US_PER_DAY))
            + ("T00:00:00Z" if fmt == "date-time" else "")
        )
    if fmt == "date-time":
        return lambda h, ctx: to_iso(ctx.epoch_us - (h % (3 * 365 * US_PER_DAY)))
    if fmt == "date":
        return lambda h, ctx: to_date(ctx.epoch_us - (h % (3 * 365 * US_PER_DAY)))
    if fmt == "uuid" or field.name == "id":
        target = env.model_named(field.name) if field.name != "id" else None
        if target is not None:
            return lambda h, ctx: ctx.pick_id(target, h) or derived_uuid("value", target, h)
        name = field.name
        return lambda h, ctx: derived_uuid("value", owner, name, h)
    if fmt == "email":
        return lambda h, ctx: pools.pick("email", h)
    if fmt == "uri":
        return lambda h, ctx: pools.pick("url", h)
    if fmt == "decimal":
        return lambda h, ctx: f"{(h % 1_000_000) / 100:.2f}"
    if field.name == "ssn":
        return lambda h, ctx: (
            f"{h % 900 + 100:03d}-{h // 7 % 90 + 10:02d}-{h // 11 % 9000 + 1000:04d}"
        )
    kind = string_kind(owner, field.name)
    if kind == "digits":
        return lambda h, ctx: str(h % 90_000_000 + 10_000_000)
    return lambda h, ctx: pools.pick(kind, h)


def _number_gen(field: Field) -> Gen:
    """Small non-negative numbers, inside the field's ``minimum``/``maximum`` if it has any."""
    low = field.minimum if field.minimum is not None else float("-inf")
    high = field.maximum if field.maximum is not None else float("inf")
    start = min(max(0.0, low), high)
    if field.type == "integer":
        first = int(start)
        span = int(max(1, min(_DEFAULT_SPAN, high - first + 1)))
        return lambda h, ctx: first + h % span
    cents = int(max(1, min(10_000_000, (high - start) * 100)))
    return lambda h, ctx: round(start + (h % cents) / 100, 2)


def _array_gen(owner: str, field: Field, env: Env, depth: int) -> Gen:
    items = dict(field.items or {})
    object_name = items.get("object")
    if object_name:
        object_type = env.objects(object_name)
        if object_type is None or depth >= MAX_OBJECT_DEPTH:
            return lambda h, ctx: []
        make = object_gen(object_type, env, depth + 1)
        return lambda h, ctx: [make(quick(h, i), ctx) for i in range(_count(h, 2))]
    if items.get("type") != "string":
        return lambda h, ctx: []
    item_field = Field(
        name=field.name.rstrip("s") or field.name,
        type="string",
        format=items.get("format"),
        nullable=False,
        enum=tuple(items["enum"]) if items.get("enum") else None,
    )
    item = _string_gen(owner, item_field, env)
    return lambda h, ctx: [item(quick(h, i), ctx) for i in range(1 + _count(h, 1))]


def reference_gen(ref: Reference, field: Field) -> Gen:
    """Ids of other records (MODEL) or of embedded objects (OBJECT).

    An embedded object's content is generated from its id when ``expand`` asks for it, so the
    id written here is all that needs storing.
    """
    if ref.kind is RefKind.OBJECT:
        if ref.many:
            return lambda h, ctx: [derived_uuid("obj", h, i) for i in range(1 + _count(h, 2))]
        return _nullable(field, lambda h, ctx: derived_uuid("obj", h, 0), REF_NULL_PER_MILLE)
    target = ref.target
    if ref.many:

        def many_ids(h: int, ctx: Context) -> list[str]:
            found = (ctx.pick_id(target, quick(h, i)) for i in range(1 + _count(h, 2)))
            return list(dict.fromkeys(i for i in found if i is not None))

        return many_ids

    def one_id(h: int, ctx: Context) -> str | None:
        return ctx.pick_id(target, h)

    return _nullable(field, one_id, REF_NULL_PER_MILLE)


def field_gen(
    owner: str, field: Field, env: Env, depth: int = 0, ref: Reference | None = None
) -> Gen:
    """The generator for one field of a model or nested object type."""
    if ref is not None:
        return reference_gen(ref, field)
    kind = field.type
    gen: Gen
    if kind == "string":
        gen = _limited(_string_gen(owner, field, env), field.max_length)
    elif kind in ("integer", "number"):
        gen = _number_gen(field)
    elif kind == "boolean" and field.name == "remote_was_deleted":
        gen = lambda h, ctx: False  # noqa: E731
    elif kind == "boolean":
        gen = lambda h, ctx: bool(h & 1)  # noqa: E731
    elif kind == "array":
        return _array_gen(owner, field, env, depth)
    elif kind == "object" and field.object:
        object_type = env.objects(field.object)
        if object_type is None or depth >= MAX_OBJECT_DEPTH:
            gen = lambda h, ctx: {}  # noqa: E731
        else:
            gen = object_gen(object_type, env, depth + 1)
    elif kind == "object":
        gen = lambda h, ctx: {}  # noqa: E731
    else:
        gen = lambda h, ctx: env.pools.pick("word", h)  # noqa: E731
    return _nullable(field, gen)


def object_gen(object_type: ObjectType, env: Env, depth: int) -> Gen:
    """A generator for a whole nested object (line item, address, permission...)."""
    parts = [
        (f.name, (i + 1) * 0x100000001B3, _object_field_gen(object_type.name, f, env, depth))
        for i, f in enumerate(object_type.fields)
    ]

    def make(h: int, ctx: Context) -> dict[str, Any]:
        return in_time_order({name: gen(quick(h, salt), ctx) for name, salt, gen in parts})

    return make


#: (earlier, later) timestamp fields of one object: a thing is modified no sooner than created.
TIME_PAIRS = (("created_at", "modified_at"), ("remote_created_at", "remote_updated_at"))


def in_time_order(value: dict[str, Any]) -> dict[str, Any]:
    """Swap each pair of independently generated timestamps that came out backwards.

    Every timestamp is written by ``to_iso`` in one fixed format, so text order is time order.
    """
    for earlier, later in TIME_PAIRS:
        first, second = value.get(earlier), value.get(later)
        if isinstance(first, str) and isinstance(second, str) and second < first:
            value[earlier], value[later] = second, first
    return value


def _object_field_gen(owner: str, field: Field, env: Env, depth: int) -> Gen:
    # Nested objects come from the SDK, which says "optional" for everything: only the OpenAPI
    # may allow null, so without its word a nested field is never null.
    if field.nullable and not _OPENAPI_SOURCES.intersection(field.sources):
        field = replace(field, nullable=False)
    if field.name in ("remote_fields", "remote_data"):
        # Raw third-party data is only ever filled in at the top level, on request.
        return lambda h, ctx: None if field.nullable else []
    if field.ref is not None:
        target = field.ref
        if env.objects(target) is not None:
            # An embedded object inside an embedded object: keep the id form.
            return lambda h, ctx: [] if field.many else derived_uuid("obj", h, 0)
        if field.many:
            return lambda h, ctx: [i for i in (ctx.pick_id(target, h),) if i is not None]
        return lambda h, ctx: ctx.pick_id(target, h)
    return field_gen(owner, field, env, depth)
