"""Retrieve by id, nested list paths, deleted data, referential integrity."""

from merge_pipeline_tests.sandbox.helpers import account_of, client, fetch_all
from merge_sandbox.schema import RefKind, load_schema


def test_retrieve_returns_the_listed_record(shared):
    with client(shared, account_of(shared, "crm")) as api:
        listed = api.get("/crm/v1/contacts", params={"page_size": 3}).json()["results"][2]
        single = api.get(f"/crm/v1/contacts/{listed['id']}")
    assert single.status_code == 200
    assert single.json() == listed


def test_unknown_or_foreign_ids_are_404(shared):
    hris = account_of(shared, "hris")
    with client(shared, account_of(shared, "ats")) as ats_api:
        candidate = ats_api.get("/ats/v1/candidates").json()["results"][0]["id"]
    with client(shared, hris) as api:
        employee = api.get("/hris/v1/employees").json()["results"][0]["id"]
        for bad in ("00000000-0000-0000-0000-000000000000", "nope", candidate):
            response = api.get(f"/hris/v1/employees/{bad}")
            assert response.status_code == 404
            assert response.json() == {"detail": "Not found."}
        # an id of another model of the same account is not an employee either
        group = api.get("/hris/v1/groups").json()["results"][0]["id"]
        assert api.get(f"/hris/v1/employees/{group}").status_code == 404
        assert api.get(f"/hris/v1/employees/{employee}").status_code == 200


def test_nested_path_lists_only_the_parents_children(shared):
    with client(shared, account_of(shared, "ats")) as api:
        jobs = fetch_all(api, "/ats/v1/jobs", page_size=100)
        per_job = {
            j["id"]: fetch_all(api, f"/ats/v1/jobs/{j['id']}/screening-questions") for j in jobs
        }
    assert sum(len(v) for v in per_job.values()) > 0
    for job_id, questions in per_job.items():
        assert all(q["job"] == job_id for q in questions)
    ids = [q["id"] for qs in per_job.values() for q in qs]
    assert len(ids) == len(set(ids))


def test_nested_custom_objects_belong_to_their_class(shared):
    with client(shared, account_of(shared, "crm")) as api:
        cls = api.get("/crm/v1/custom-object-classes").json()["results"][0]["id"]
        objects = fetch_all(api, f"/crm/v1/custom-object-classes/{cls}/custom-objects")
        assert objects and all(o["object_class"] == cls for o in objects)
        single = api.get(f"/crm/v1/custom-object-classes/{cls}/custom-objects/{objects[0]['id']}")
        assert single.status_code == 200


def test_nested_path_with_unknown_parent_is_404(shared):
    with client(shared, account_of(shared, "ats")) as api:
        response = api.get("/ats/v1/jobs/00000000-0000-5000-8000-000000000000/screening-questions")
    assert response.status_code == 404


def test_alternative_nested_paths_answer(shared):
    with client(shared, account_of(shared, "ticketing")) as api:
        project = api.get("/ticketing/v1/projects").json()["results"][0]["id"]
        ticket = api.get("/ticketing/v1/tickets").json()["results"][0]["id"]
        assert api.get(f"/ticketing/v1/projects/{project}/users").status_code == 200
        assert api.get(f"/ticketing/v1/tickets/{ticket}/viewers").status_code == 200


def test_references_point_at_existing_records(shared):
    schema = load_schema()
    account = account_of(shared, "hris")
    with client(shared, account) as api:
        for model_id in ("hris.Employee", "hris.Employment", "hris.TimeOff", "hris.Dependent"):
            spec = schema.spec(model_id)
            for record in fetch_all(api, spec.model.list_path, page_size=100)[:30]:
                for name, ref in spec.references.items():
                    if ref.kind is not RefKind.MODEL or record[name] is None:
                        continue
                    target = schema.spec(f"hris.{ref.target}").model
                    assert target.retrieve_path is not None
                    for ref_id in record[name] if ref.many else [record[name]]:
                        path = target.retrieve_path.replace("{id}", ref_id)
                        assert api.get(path).status_code == 200, (model_id, name)


def test_deleted_records_are_hidden_unless_include_deleted_data(fresh):
    account = account_of(fresh, "hris")
    with client(fresh, account) as api:
        victim = api.get("/hris/v1/employees").json()["results"][3]
        fresh.admin.delete_records(account.id, "Employee", [victim["id"]])
        plain = {r["id"] for r in fetch_all(api, "/hris/v1/employees", page_size=100)}
        everything = {
            r["id"]: r
            for r in fetch_all(
                api, "/hris/v1/employees", page_size=100, include_deleted_data="true"
            )
        }
        single = api.get(f"/hris/v1/employees/{victim['id']}").json()
    assert victim["id"] not in plain
    assert everything[victim["id"]]["remote_was_deleted"] is True
    assert everything[victim["id"]]["modified_at"] > victim["modified_at"]
    assert single["remote_was_deleted"] is True
    assert set(everything) - plain == {victim["id"]}


def test_ground_truth_includes_deleted_records(fresh):
    account = account_of(fresh, "hris")
    before = fresh.admin.records(account.id, "Employee")
    fresh.admin.mutate(account.id, "Employee", deletes=2, creates=3)
    after = fresh.admin.records(account.id, "Employee")
    assert len(after.records) == len(before.records) + 3
    assert len(after.deleted) == 2
    assert len(after.live()) == len(before.live()) + 1


def test_ground_truth_names_the_parent_each_nested_record_is_listed_under(shared):
    """The chaos oracle tells children of deleted parents apart by these keys."""
    account = account_of(shared, "ats")
    parents = shared.admin.parent_keys(account.id, "ScreeningQuestion")
    child, parent = sorted(parents.items())[0]
    with client(shared, account) as api:
        listed = fetch_all(api, f"/ats/v1/jobs/{parent}/screening-questions")
    assert set(parents.values()) <= set(shared.admin.records(account.id, "Job").by_key())
    assert child in {record["id"] for record in listed}
