"""The sandbox's reading of the catalog: what each field of each model points to.

The catalog says which fields are expandable references (``ref``) and, in each category's
``objects``, the shape of every object type they may expand to, models or not
(``Invoice.line_items`` -> ``InvoiceLineItem``). The sandbox also needs to know where the other
id-carrying fields point (``chat.Message.conversation_id``,
``knowledgebase.Container.parent_container``...) so that the ids it writes there exist.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cache

from merge_pipeline.catalog import load_catalog
from merge_pipeline.catalog.model import Catalog, CommonModel, Field, ObjectType

#: Fields whose values are ids of a model of the same category although the catalog has no
#: ``ref`` for them (their relation is not expandable, or the source types them as plain
#: strings). Values only: these names are all in the catalog, checked by ``check_implicit_refs``.
IMPLICIT_REFS: Mapping[str, str] = {
    "hris.Benefit.employer_benefit": "EmployerBenefit",
    "hris.Dependent.employee": "Employee",
    "hris.Dependent.home_location": "Location",
    "hris.Group.parent_group": "Group",
    "ats.Activity.candidate": "Candidate",
    "ats.Attachment.candidate": "Candidate",
    "crm.CustomObject.object_class": "CustomObjectClass",
    "accounting.Account.parent_account": "Account",
    "accounting.AccountingAttachment.company": "CompanyInfo",
    "accounting.PurchaseOrder.customer": "Contact",
    "accounting.TrackingCategory.parent_category": "TrackingCategory",
    "accounting.ExpenseReport.tracking_categories": "TrackingCategory",
    "accounting.ExpenseReportLine.tracking_categories": "TrackingCategory",
    "ticketing.Attachment.uploaded_by": "User",
    "ticketing.Ticket.roles": "Role",
    "knowledgebase.Container.parent_article": "Article",
    "knowledgebase.Container.parent_container": "Container",
    "chat.Message.user_id": "User",
    "chat.Message.conversation_id": "Conversation",
    "chat.Message.root_message_id": "Message",
    "calendar.Event.calendar": "Calendar",
    "calendar.Event.series": "Series",
    "calendar.Group.child_groups": "Group",
    "calendar.Group.users": "User",
    "calendar.Series.calendar": "Calendar",
    "calendar.User.groups": "Group",
    "email.EmailAddress.groups": "Group",
    "email.EmailAddress.mailboxes": "Mailbox",
    "email.EmailAddress.users": "User",
    "email.Folder.mailboxes": "Mailbox",
    "email.Folder.parent_folder": "Folder",
    "email.Group.email_addresses": "EmailAddress",
    "email.Group.mailboxes": "Mailbox",
    "email.Group.users": "User",
    "email.Mailbox.alias_email_addresses": "EmailAddress",
    "email.Mailbox.folders": "Folder",
    "email.Mailbox.groups": "Group",
    "email.Mailbox.primary_email_address": "EmailAddress",
    "email.Mailbox.users": "User",
    "email.Message.bcc": "EmailAddress",
    "email.Message.cc": "EmailAddress",
    "email.Message.to": "EmailAddress",
    "email.Message.from_address": "EmailAddress",
    "email.Message.folders": "Folder",
    "email.Message.mailboxes": "Mailbox",
    "email.User.email_addresses": "EmailAddress",
    "email.User.groups": "Group",
    "email.User.mailboxes": "Mailbox",
}


#: Field names that hold ids of a model named differently (accounting calls companies CompanyInfo).
_NAME_ALIASES = {"Company": "CompanyInfo"}


class RefKind(Enum):
    MODEL = "model"  # ids of a Common Model of the same account
    OBJECT = "object"  # ids of objects embedded in the record (line items, addresses)


@dataclass(frozen=True, slots=True)
class Reference:
    """Where the values of one id-carrying field point."""

    field: str
    kind: RefKind
    target: str
    many: bool
    expandable: bool  # the catalog types it id-or-object, so ``expand`` may inline it


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One Common Model plus what the sandbox derived about it."""

    model: CommonModel
    references: Mapping[str, Reference]
    parent: str | None  # the model whose ids fill the list path's parameter
    parent_field: str | None  # the field of a child that holds its parent's id

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def category(self) -> str:
        return self.model.category

    def has_field(self, name: str) -> bool:
        return name in self.model.field_names


@dataclass(frozen=True)
class Schema:
    """All models, their references and the object types their records embed."""

    catalog: Catalog
    specs: Mapping[str, ModelSpec]  # by model id

    def spec(self, model_id: str) -> ModelSpec:
        return self.specs[model_id]

    def models_of(self, category: str) -> list[ModelSpec]:
        return [s for s in self.specs.values() if s.category == category]

    def object_type(self, category: str, name: str) -> ObjectType | None:
        return self.catalog.category(category).objects.get(name)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.specs.values())

    def model_named(self, category: str, name: str) -> str | None:
        """The model a field called ``name`` evidently holds ids of (``tax_rate`` -> TaxRate)."""
        models = self.catalog.category(category).models
        camel = "".join(part.title() for part in name.removesuffix("_id").split("_"))
        for candidate in (camel, _NAME_ALIASES.get(camel)):
            if candidate in models:
                return candidate
        return None


def _field_items_is_id(field: Field) -> bool:
    items = field.items or {}
    return field.type == "array" and items.get("type") == "string" and "enum" not in items


def _reference(
    category_models: Mapping[str, CommonModel],
    model: CommonModel,
    field: Field,
    objects: Mapping[str, ObjectType],
) -> Reference | None:
    if field.ref is not None:
        kind = RefKind.MODEL if field.ref in category_models else RefKind.OBJECT
        if kind is RefKind.OBJECT and field.ref not in objects:
            return None
        return Reference(field.name, kind, field.ref, field.many, expandable=True)
    target = IMPLICIT_REFS.get(f"{model.model_id}.{field.name}")
    if target is None:
        return None
    many = _field_items_is_id(field)
    return Reference(field.name, RefKind.MODEL, target, many, expandable=False)


def build_schema(catalog: Catalog) -> Schema:
    specs: dict[str, ModelSpec] = {}
    for model in catalog:
        cat = catalog.category(model.category)
        refs = {}
        for field in model.fields:
            ref = _reference(cat.models, model, field, cat.objects)
            if ref is not None:
                refs[field.name] = ref
        parent = model.path_params[0].model if model.path_params else None
        parent_field = next(
            (r.field for r in refs.values() if parent and r.target == parent and not r.many),
            None,
        )
        specs[model.model_id] = ModelSpec(model, refs, parent, parent_field)
    return Schema(catalog=catalog, specs=specs)


def check_implicit_refs(catalog: Catalog) -> list[str]:
    """Problems with ``IMPLICIT_REFS`` (unknown model, field or target); empty when sound."""
    problems = []
    for key, target in IMPLICIT_REFS.items():
        category, model_name, field_name = key.split(".")
        try:
            model = catalog.category(category).model(model_name)
            model.field(field_name)
            catalog.category(category).model(target)
        except KeyError as error:
            problems.append(f"{key} -> {target}: {error}")
    return problems


@cache
def load_schema() -> Schema:
    return build_schema(load_catalog())
