"""The catalog is complete, consistent, and generated from the Merge reference (never stale)."""

import json
from pathlib import Path

import pytest

from merge_pipeline.catalog import load_catalog
from merge_pipeline.catalog.generator import (
    CATALOG_PATH,
    build_catalog,
    render,
    typed_as_id_only,
    typed_as_object_only,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "merge"
needs_shared = pytest.mark.skipif(
    not (SHARED / "models" / "_index.json").exists(),
    reason=f"the Merge reference is not beside the checkout ({SHARED})",
)
CATEGORIES = {
    "hris", "ats", "crm", "accounting", "ticketing",
    "filestorage", "knowledgebase", "chat", "calendar", "email",
}  # fmt: skip


def test_catalog_has_every_category() -> None:
    assert set(load_catalog().categories) == CATEGORIES


@needs_shared
def test_catalog_has_every_common_model_of_the_sources() -> None:
    expected = {
        f"{category}.{model}"
        for category in CATEGORIES
        for model in json.loads((SHARED / "models" / f"{category}.json").read_text())[
            "common_models"
        ]
    }
    assert {model.model_id for model in load_catalog()} == expected
    assert len(expected) == 114


@needs_shared
def test_committed_catalog_is_not_stale() -> None:
    assert CATALOG_PATH.read_text() == render(build_catalog(SHARED)), "run `make catalog`"


def test_every_model_has_a_key_and_modified_at() -> None:
    for model in load_catalog():
        assert model.key in model.field_names, model.model_id
        assert model.field("modified_at").is_timestamp, model.model_id


def test_every_list_path_is_under_its_category() -> None:
    for model in load_catalog():
        assert model.list_path.startswith(f"/{model.category}/v1/"), model.model_id


def test_nested_paths_name_their_parent_model() -> None:
    catalog = load_catalog()
    screening = catalog.model("ats.ScreeningQuestion")
    assert screening.list_path == "/ats/v1/jobs/{job_id}/screening-questions"
    assert [(p.name, p.model) for p in screening.path_params] == [("job_id", "Job")]
    for model in catalog:
        for param in model.path_params:
            assert param.model in catalog.category(model.category).models, model.model_id


def test_references_are_typed_with_their_target() -> None:
    employee = load_catalog().model("hris.Employee")
    assert employee.field("manager").ref == "Employee"
    assert not employee.field("manager").many
    assert employee.field("groups").ref == "Group"
    assert employee.field("groups").many


def test_expand_values_are_single_relation_names() -> None:
    for model in load_catalog():
        assert all("," not in value for value in model.expand), model.model_id
    assert "manager" in load_catalog().model("hris.Employee").expand


def test_enums_and_formats_come_from_the_sources() -> None:
    employee = load_catalog().model("hris.Employee")
    assert employee.field("employment_status").enum == ("ACTIVE", "PENDING", "INACTIVE")
    assert employee.field("work_email").format == "email"
    assert employee.field("id").format == "uuid"
    assert employee.field("id").sources == ("sdk", "openapi", "docs")


def test_openapi_schema_names_differ_where_merge_renamed_them() -> None:
    assert load_catalog().model("ats.Eeoc").schema == "EEOC"
    assert load_catalog().model("ats.RemoteUser").list_path == "/ats/v1/users"


def test_model_without_id_is_keyed_by_remote_id() -> None:
    assert load_catalog().model("ats.Tag").key == "remote_id"


def test_unknown_model_error_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="Employee"):
        load_catalog().model("hris.Employe")


def test_nested_objects_take_nullability_and_references_from_openapi() -> None:
    accounting = load_catalog().category("accounting")
    line_item = {f.name: f for f in accounting.objects["InvoiceLineItem"].fields}
    assert line_item["account"].ref == "Account"
    assert not line_item["id"].nullable
    assert line_item["exchange_rate"].pattern is not None
    earning = {f.name: f for f in load_catalog().category("hris").objects["Earning"].fields}
    assert not earning["remote_was_deleted"].nullable


def test_integer_bounds_are_kept() -> None:
    company = load_catalog().model("accounting.CompanyInfo")
    assert (
        company.field("fiscal_year_end_month").minimum,
        company.field("fiscal_year_end_month").maximum,
    ) == (1, 12)


def test_string_lengths_are_kept() -> None:
    catalog = load_catalog()
    assert catalog.model("hris.Employee").field("work_email").max_length == 254
    answer = {f.name: f for f in catalog.category("ats").objects["ScreeningQuestionAnswer"].fields}
    assert answer["answer"].max_length == 10000


def test_openapi_array_wins_over_a_free_form_sdk_dict() -> None:
    report_item = load_catalog().category("accounting").objects["ReportItem"]
    sub_items = {f.name: f for f in report_item.fields}["sub_items"]
    assert (sub_items.type, sub_items.items) == ("array", {"type": "object"})


def test_every_type_a_field_names_is_described() -> None:
    """The sandbox builds embedded and expanded objects from ``objects`` alone."""
    for category in load_catalog().categories.values():
        known = set(category.models) | set(category.objects)
        fields = [f for m in category for f in m.fields]
        fields += [f for o in category.objects.values() for f in o.fields]
        for field in fields:
            for name in (field.ref, field.object, (field.items or {}).get("object")):
                assert name is None or name in known, (category.name, field.name, name)


def _field_json(model_id: str, name: str) -> dict[str, object]:
    category, _, model = model_id.partition(".")
    raw = json.loads(CATALOG_PATH.read_text())["categories"][category]["models"][model]
    found: dict[str, object] = next(f for f in raw["fields"] if f["name"] == name)
    return found


@pytest.mark.parametrize(
    ("model_id", "name", "object_type"),
    [
        ("accounting.Invoice", "line_items", "InvoiceLineItem"),
        ("accounting.CompanyInfo", "addresses", "Address"),
        ("crm.CustomObjectClass", "fields", "RemoteFieldClassForCustomObjectClass"),
        ("crm.AssociationType", "target_object_classes", "AssociationSubType"),
        ("knowledgebase.Article", "permissions", "Permission"),
    ],
)
def test_types_without_a_list_endpoint_typed_as_objects_are_embedded_with_the_reason(
    model_id: str, name: str, object_type: str
) -> None:
    field = load_catalog().model(model_id).field(name)
    assert (field.ref, field.type, (field.items or {}).get("object")) == (
        None,
        "array",
        object_type,
    )
    assert "no list endpoint" in str(_field_json(model_id, name)["unexpanded_reason"])


@pytest.mark.parametrize(
    ("model_id", "name"),
    [
        ("accounting.Invoice", "applied_payments"),  # typed id-or-object: ids unless expanded
        ("accounting.PurchaseOrder", "delivery_address"),
        ("knowledgebase.Group", "users"),  # users have their own list endpoint
        ("hris.Employee", "company"),
    ],
)
def test_other_relations_stay_ids_unless_expanded(model_id: str, name: str) -> None:
    assert load_catalog().model(model_id).field(name).ref is not None


def test_object_only_reading_of_an_openapi_property() -> None:
    ref = {"$ref": "#/components/schemas/Address"}
    uuid = {"type": "string", "format": "uuid"}
    readings = [
        (typed_as_object_only(p), typed_as_id_only(p))
        for p in (
            {"type": "array", "items": ref},
            {"type": "array", "items": {"oneOf": [uuid, ref]}},
            {"type": ["string", "null"], "format": "uuid"},
        )
    ]
    assert readings == [(True, False), (False, False), (False, True)]
