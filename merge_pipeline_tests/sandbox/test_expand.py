"""``expand`` inlines related records (every expandable relation resolves) and a smoke test
over all 114 Common Models."""

import pytest

from merge_pipeline.catalog import load_catalog
from merge_pipeline_tests.sandbox.helpers import account_of, client, concrete_list_path, fetch_all
from merge_sandbox.schema import RefKind, load_schema

CATALOG = load_catalog()
SCHEMA = load_schema()


@pytest.mark.parametrize("model_id", [m.model_id for m in CATALOG])
def test_every_model_lists_with_and_without_expand(shared, model_id):
    model = CATALOG.model(model_id)
    with client(shared, account_of(shared, model.category)) as api:
        path = concrete_list_path(model, api)
        plain = api.get(path, params={"page_size": 5})
        assert plain.status_code == 200, plain.text
        assert set(plain.json()) == {"next", "previous", "results"}
        if model.expand:
            expanded = api.get(path, params={"page_size": 5, "expand": ",".join(model.expand)})
            assert expanded.status_code == 200, expanded.text


EXPAND_MODELS = [
    "hris.Employee",
    "ats.Application",
    "accounting.Invoice",
    "ticketing.Ticket",
    "crm.Opportunity",
]


@pytest.mark.parametrize("model_id", EXPAND_MODELS)
def test_every_expandable_relation_resolves(shared, model_id):
    spec = SCHEMA.spec(model_id)
    expandable = [name for name in spec.model.expand if name in spec.references]
    with client(shared, account_of(shared, spec.category)) as api:
        plain = fetch_all(api, spec.model.list_path, page_size=100)[:40]
        expanded = {
            r["id"]: r
            for r in fetch_all(
                api, spec.model.list_path, page_size=100, expand=",".join(expandable)
            )[:40]
        }
    checked = 0
    for record in plain:
        for name in expandable:
            ref = spec.references[name]
            value, inlined = record[name], expanded[record["id"]][name]
            if value is None:
                assert inlined is None
                continue
            ids = value if ref.many else [value]
            objects = inlined if ref.many else [inlined]
            assert len(objects) == len(ids)
            for ref_id, obj in zip(ids, objects, strict=True):
                assert isinstance(obj, dict), (name, obj)
                if "id" in obj:
                    assert obj["id"] == ref_id
                checked += 1
    assert checked > 0


def test_expanded_model_is_the_same_record_as_its_retrieve(shared):
    with client(shared, account_of(shared, "hris")) as api:
        employee = next(
            r
            for r in fetch_all(api, "/hris/v1/employees", page_size=100, expand="manager")
            if r["manager"]
        )
        manager = api.get(f"/hris/v1/employees/{employee['manager']['id']}").json()
    assert employee["manager"] == manager


def test_dotted_expand_inlines_the_second_level(shared):
    with client(shared, account_of(shared, "ats")) as api:
        applications = fetch_all(
            api, "/ats/v1/applications", page_size=100, expand="screening_question_answers.question"
        )
    answers = [a for app in applications for a in app["screening_question_answers"]]
    questions = [a["question"] for a in answers if a.get("question")]
    assert questions and all(isinstance(q, dict) and "title" in q for q in questions)


def test_object_references_typed_id_or_object_expand_to_embedded_objects(shared):
    ref = SCHEMA.spec("accounting.Invoice").references["applied_payments"]
    assert ref.kind is RefKind.OBJECT
    with client(shared, account_of(shared, "accounting")) as api:
        invoices = fetch_all(
            api, "/accounting/v1/invoices", page_size=100, expand="applied_payments"
        )
    applied = [p for invoice in invoices for p in invoice["applied_payments"]]
    assert applied and all(isinstance(p, dict) and "applied_amount" in p for p in applied)


def test_nested_types_without_a_list_endpoint_are_objects_even_unexpanded(shared):
    with client(shared, account_of(shared, "accounting")) as api:
        invoices = fetch_all(api, "/accounting/v1/invoices", page_size=100)
    items = [item for invoice in invoices for item in invoice["line_items"]]
    assert items and all(isinstance(i, dict) and "unit_price" in i for i in items)


def test_expanded_company_inside_an_invoice_carries_address_objects(shared):
    with client(shared, account_of(shared, "accounting")) as api:
        invoices = fetch_all(api, "/accounting/v1/invoices", page_size=100, expand="company")
    addresses = [a for i in invoices if i["company"] for a in i["company"]["addresses"]]
    assert addresses and all(isinstance(a, dict) and "street_1" in a for a in addresses)


def test_retrieve_accepts_expand(shared):
    with client(shared, account_of(shared, "hris")) as api:
        first = api.get("/hris/v1/employees", params={"page_size": 1}).json()["results"][0]
        single = api.get(f"/hris/v1/employees/{first['id']}", params={"expand": "groups"}).json()
    assert all(isinstance(g, dict) for g in single["groups"])
