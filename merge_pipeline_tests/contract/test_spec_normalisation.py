"""Each normalisation rule does exactly what its VALIDATION-NOTES item asks, and nothing else.

The rule tests run on hand-written fragments (no reference needed); the last tests check that
the normalised documents are still valid OpenAPI and that the rules touched what they should.
"""

import copy
from typing import Any

import pytest
from openapi_spec_validator import validate

from merge_pipeline.catalog import load_catalog
from merge_pipeline_tests.contract.conftest import require_reference
from merge_pipeline_tests.contract.spec import (
    DOCUMENTS,
    NULL_OAS30,
    NULL_OAS31,
    add_catalog_only_fields,
    catalog_expandable,
    catalog_relations,
    category_enums_include,
    enums_accept_any_string,
    expand_parameter_from_catalog,
    expandable_relations_accept_ids,
    fix_lowercase_oneof,
    fix_type_key_typo,
    normalised_document,
    nullable_accepts_null,
    overlapping_oneof_to_anyof,
    point_servers_at,
    prefix_paths,
    raw_document,
    relations_accept_expanded_objects,
    unique_operation_ids,
)

UUID = {"type": "string", "format": "uuid"}
ENUM_REF = {"$ref": "#/components/schemas/GenderEnum"}
COMPANY_REF = {"$ref": "#/components/schemas/Company"}


def _schemas(**schemas: Any) -> dict[str, Any]:
    return {"components": {"schemas": schemas}}


def _unchanged(rule: Any, document: Any, *args: Any) -> None:
    before = copy.deepcopy(document)
    rule(document, *args)
    assert document == before, "rules never mutate their input"


# -- VALIDATION-NOTES 3: typos ----------------------------------------------------------------


def test_equals_type_typo_becomes_type() -> None:
    fragment = {"currency": {"oneOf": [ENUM_REF], "= type": "string", "nullable": True}}
    assert fix_type_key_typo(fragment) == {
        "currency": {"oneOf": [ENUM_REF], "type": "string", "nullable": True}
    }
    _unchanged(fix_type_key_typo, fragment)


def test_equals_type_typo_never_overrides_a_real_type() -> None:
    assert fix_type_key_typo({"= type": "string", "type": "integer"}) == {"type": "integer"}


def test_lowercase_oneof_becomes_oneof() -> None:
    fragment = {"items": {"oneof": [UUID, {"$ref": "#/components/schemas/Option"}]}}
    assert fix_lowercase_oneof(fragment) == {
        "items": {"oneOf": [UUID, {"$ref": "#/components/schemas/Option"}]}
    }


def test_typo_rules_leave_examples_alone() -> None:
    fragment = {"example": {"= type": "literal data"}, "examples": {"oneof": 1}}
    assert fix_type_key_typo(fix_lowercase_oneof(fragment)) == fragment


# -- VALIDATION-NOTES 2: oneOf that means anyOf ---------------------------------------------


def test_enum_or_string_oneof_becomes_anyof() -> None:
    fragment = {"gender": {"oneOf": [ENUM_REF, {"type": "string"}], "description": "d"}}
    assert overlapping_oneof_to_anyof(fragment) == {
        "gender": {"anyOf": [ENUM_REF, {"type": "string"}], "description": "d"}
    }


def test_integer_or_number_oneof_becomes_anyof() -> None:
    fragment = {"oneOf": [{"type": "integer"}, {"type": "number", "format": "double"}]}
    assert overlapping_oneof_to_anyof(fragment) == {
        "anyOf": [{"type": "integer"}, {"type": "number", "format": "double"}]
    }


def test_id_or_object_oneof_stays_oneof() -> None:
    fragment = {"oneOf": [UUID, COMPANY_REF]}
    assert overlapping_oneof_to_anyof(fragment) == fragment
    model_or_string = {
        "oneOf": [{"$ref": "#/components/schemas/RemoteResponse"}, {"type": "string"}]
    }
    assert overlapping_oneof_to_anyof(model_or_string) == model_or_string


# -- VALIDATION-NOTES 1 and 2: nullable without type ------------------------------------------


def test_nullable_relation_without_type_accepts_null_in_oas30() -> None:
    fragment = {
        "oneOf": [UUID, COMPANY_REF],
        "nullable": True,
        "description": "The employee's company.",
        "x-merge-expands-to": "Company",
    }
    assert nullable_accepts_null(fragment) == {
        "description": "The employee's company.",
        "x-merge-expands-to": "Company",
        "anyOf": [{"oneOf": [UUID, COMPANY_REF]}, dict(NULL_OAS30)],
    }
    _unchanged(nullable_accepts_null, fragment)


def test_nullable_beside_a_combinator_keeps_its_type_inside() -> None:
    fragment = {"oneOf": [ENUM_REF], "type": "string", "nullable": True}
    assert nullable_accepts_null(fragment, NULL_OAS31) == {
        "anyOf": [{"oneOf": [ENUM_REF], "type": "string"}, {"type": "null"}]
    }


def test_plain_nullable_types_are_left_to_the_validator() -> None:
    fragment = {"type": "string", "nullable": True, "format": "email"}
    assert nullable_accepts_null(fragment) == fragment


def test_null_oas30_accepts_only_null() -> None:
    from openapi_schema_validator import OAS30Validator

    validator = OAS30Validator(dict(NULL_OAS30))
    assert validator.is_valid(None)
    assert not validator.is_valid("x")
    assert not validator.is_valid({})


# -- VALIDATION-NOTES 5: the 3.1 exports ------------------------------------------------------


def test_oneof_with_a_branch_that_accepts_anything_means_anyof() -> None:
    """The 3.1 export's ``Address.state``: ``null`` matches both branches of its ``oneOf``."""
    fragment = {"oneOf": [{"description": "Any type"}, {"type": "null"}]}
    assert overlapping_oneof_to_anyof(fragment) == {
        "anyOf": [{"description": "Any type"}, {"type": "null"}]
    }


def test_31_enum_or_null_also_accepts_any_string() -> None:
    fragment = {"oneOf": [ENUM_REF, {"type": "null"}], "description": "d"}
    assert enums_accept_any_string(fragment) == {
        "description": "d",
        "anyOf": [ENUM_REF, {"type": "null"}, {"type": "string"}],
    }
    already = {"anyOf": [ENUM_REF, {"type": "string"}]}
    assert enums_accept_any_string(already) == already


def test_303_enum_without_the_string_branch_also_accepts_any_string() -> None:
    """accounting ``Invoice.type``: the value ``show_enum_origins=type`` returns must pass."""
    fragment = {"oneOf": [ENUM_REF], "type": "string"}
    assert enums_accept_any_string(fragment) == {
        "type": "string",
        "anyOf": [ENUM_REF, {"type": "string"}],
    }
    invoice_type = normalised_document("accounting.yml", "accounting")["components"]["schemas"][
        "Invoice"
    ]["properties"]["type"]
    assert {"type": "string"} in invoice_type["anyOf"][0]["anyOf"]


def test_uuid_only_relation_accepts_the_expanded_object() -> None:
    document = _schemas(
        Article={
            "properties": {
                "author": {"type": ["string", "null"], "format": "uuid", "description": "d"},
                "attachments": {"type": "array", "items": UUID},
                "title": {"type": "string"},
            }
        },
        User={"type": "object"},
    )
    relations = {"Article": {"author": "User", "attachments": "Attachment", "title": None}}
    result = relations_accept_expanded_objects(document, relations)
    properties = result["components"]["schemas"]["Article"]["properties"]
    assert properties["author"] == {
        "description": "d",
        "anyOf": [
            {"type": ["string", "null"], "format": "uuid"},
            {"$ref": "#/components/schemas/User"},
        ],
    }
    # a related schema the document lacks: any object
    assert properties["attachments"] == {
        "type": "array",
        "items": {"anyOf": [UUID, {"type": "object"}]},
    }
    assert properties["title"] == {"type": "string"}
    _unchanged(relations_accept_expanded_objects, document, relations)


def test_relations_already_id_or_object_are_left_alone() -> None:
    prop = {"anyOf": [{"oneOf": [UUID, COMPANY_REF]}, dict(NULL_OAS30)]}
    document = _schemas(Employee={"properties": {"company": prop}})
    result = relations_accept_expanded_objects(document, {"Employee": {"company": "Company"}})
    assert result == document


def test_object_only_expandable_relation_accepts_the_id() -> None:
    line_items = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/InvoiceLineItem"},
        "readOnly": True,
    }
    scalar = {"$ref": "#/components/schemas/Address", "description": "d"}
    document = _schemas(Invoice={"properties": {"line_items": line_items, "address": scalar}})
    result = expandable_relations_accept_ids(document, {"Invoice": ["line_items", "address"]})
    properties = result["components"]["schemas"]["Invoice"]["properties"]
    assert properties["line_items"] == {
        "type": "array",
        "items": {"anyOf": [UUID, {"$ref": "#/components/schemas/InvoiceLineItem"}]},
        "readOnly": True,
    }
    assert properties["address"] == {
        "description": "d",
        "anyOf": [UUID, {"$ref": "#/components/schemas/Address"}],
    }
    _unchanged(expandable_relations_accept_ids, document, {"Invoice": ["line_items"]})


def test_duplicate_operation_ids_get_a_suffix() -> None:
    document: dict[str, Any] = {
        "paths": {
            "/a": {"get": {"operationId": "list"}, "parameters": []},
            "/b": {"get": {"operationId": "list"}, "post": {"operationId": "create"}},
            "/c": {"get": {"operationId": "list"}},
        }
    }
    result = unique_operation_ids(document)
    ids = [op["operationId"] for item in result["paths"].values() for op in item.values() if op]
    assert ids == ["list", "list_2", "create", "list_3"]
    _unchanged(unique_operation_ids, document)


# -- VALIDATION-NOTES 4: servers and path prefixes --------------------------------------------


def test_paths_without_the_category_prefix_get_it() -> None:
    document: dict[str, Any] = {"paths": {"/conversations": {}, "/chat/v1/users": {}}}
    assert list(prefix_paths(document, "/chat/v1")["paths"]) == [
        "/chat/v1/conversations",
        "/chat/v1/users",
    ]


def test_servers_become_the_sandbox_api_base() -> None:
    document = {"servers": [{"url": "https://api.merge.dev/api/hris/v1"}], "paths": {}}
    result = point_servers_at(document, "http://127.0.0.1:8123/api/")
    assert result["servers"] == [{"url": "http://127.0.0.1:8123/api"}]
    assert document["servers"] == [{"url": "https://api.merge.dev/api/hris/v1"}]


# -- VALIDATION-NOTES 7 and CONTRACT §2/§11: newer than the document --------------------------


def test_catalog_only_fields_are_declared_and_documented_ones_kept() -> None:
    document = _schemas(
        Employee={
            "type": "object",
            "properties": {"first_name": {"type": "string"}},
            "additionalProperties": False,
        }
    )
    additions: dict[str, dict[str, dict[str, Any]]] = {
        "Employee": {
            "employee_url": {"type": "string", "nullable": True},
            "first_name": {"type": "integer"},
        },
        "Missing": {"x": {"type": "string"}},
    }
    result = add_catalog_only_fields(document, additions)
    assert result["components"]["schemas"]["Employee"] == {
        "type": "object",
        "properties": {
            "first_name": {"type": "string"},
            "employee_url": {"type": "string", "nullable": True},
        },
    }
    assert "Missing" not in result["components"]["schemas"]
    _unchanged(add_catalog_only_fields, document, additions)


def test_expand_parameter_takes_the_catalog_values_comma_separated() -> None:
    old = {"name": "expand", "in": "query", "schema": {"type": "string", "enum": ["a", "a,b"]}}
    token = {"name": "X-Account-Token", "in": "header"}
    document = {"paths": {"/x/v1/things": {"get": {"parameters": [token, old]}}}}
    result = expand_parameter_from_catalog(document, {"/x/v1/things": ("b", "a")})
    assert result["paths"]["/x/v1/things"]["get"]["parameters"] == [
        token,
        {
            "name": "expand",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "schema": {"type": "array", "items": {"type": "string", "enum": ["b", "a"]}},
        },
    ]
    no_expand = expand_parameter_from_catalog(document, {"/x/v1/things": ()})
    assert no_expand["paths"]["/x/v1/things"]["get"]["parameters"] == [token]
    _unchanged(expand_parameter_from_catalog, document, {"/x/v1/things": ("a",)})


# -- the real documents -----------------------------------------------------------------------

ALL_DOCUMENTS = [(c, d) for c, docs in DOCUMENTS.items() for d in docs]


@pytest.mark.parametrize(("category", "relative"), ALL_DOCUMENTS, ids=[d for _, d in ALL_DOCUMENTS])
def test_normalised_document_is_valid_openapi(category: str, relative: str) -> None:
    require_reference()
    validate(point_servers_at(normalised_document(relative, category), "http://127.0.0.1:1/api"))


def test_no_common_model_schema_forbids_unknown_fields() -> None:
    """VALIDATION-NOTES 7: newer fields only pass because the documents allow extra keys."""
    require_reference()
    for category, docs in DOCUMENTS.items():
        names = {m.schema for m in load_catalog().category(category)}
        for relative in docs:
            schemas = raw_document(relative)["components"]["schemas"]
            closed = [n for n in names & set(schemas) if "additionalProperties" in schemas[n]]
            assert not closed, f"{relative}: {closed} set additionalProperties"


def test_normalisation_reaches_the_fields_the_notes_name() -> None:
    require_reference()
    hris = normalised_document("hris.yml", "hris")["components"]["schemas"]
    assert "anyOf" in hris["Employee"]["properties"]["company"]  # nullable relation
    assert "anyOf" in hris["Employee"]["properties"]["gender"]["anyOf"][0]  # enum or string
    assert hris["Employee"]["properties"]["employee_url"]  # newer than the document
    accounting = normalised_document("accounting.yml", "accounting")["components"]["schemas"]
    currency = accounting["ExpenseLine"]["properties"]["currency"]
    assert "= type" not in str(currency) and currency["anyOf"][0]["type"] == "string"
    ats = normalised_document("ats.yml", "ats")["components"]["schemas"]
    assert "oneOf" in ats["ScreeningQuestion"]["properties"]["options"]["items"]
    chat = normalised_document("chat.yml", "chat")
    assert all(path.startswith("/chat/v1/") for path in chat["paths"])
    author = normalised_document("knowledgebase.yml", "knowledgebase")["components"]["schemas"]
    assert {"$ref": "#/components/schemas/User"} in author["Article"]["properties"]["author"][
        "anyOf"
    ]


def test_catalog_relations_name_document_schemas() -> None:
    """``Eeoc`` in the SDK is ``EEOC`` in the documents: relations use the document's name."""
    ats = load_catalog().category("ats")
    assert catalog_relations(ats)["EEOC"]["candidate"] == "Candidate"
    assert catalog_relations(ats)["Activity"]["user"] == "RemoteUser"


def test_only_relations_to_models_with_a_list_endpoint_are_loosened() -> None:
    """``Group.users`` (users have ``/users``) may be ids; ``Invoice.line_items`` may not."""
    knowledgebase = catalog_expandable(load_catalog().category("knowledgebase"))
    accounting = catalog_expandable(load_catalog().category("accounting"))
    assert ("users" in knowledgebase["Group"], "line_items" in accounting["Invoice"]) == (
        True,
        False,
    )


def test_category_enums_gain_the_newer_categories() -> None:
    document = {
        "components": {"schemas": {"CategoryEnum": {"type": "string", "enum": ["hris", "ats"]}}}
    }
    result = category_enums_include(document, ["hris", "ats", "chat"])
    assert result["components"]["schemas"]["CategoryEnum"]["enum"] == ["hris", "ats", "chat"]
    assert document["components"]["schemas"]["CategoryEnum"]["enum"] == ["hris", "ats"]
