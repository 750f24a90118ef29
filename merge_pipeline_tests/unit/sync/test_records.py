"""Shaping Merge records into rows: ids in columns, expanded objects into their own tables."""

from merge_pipeline.catalog import load_catalog
from merge_pipeline.sync.records import RecordShaper

ACCOUNT = "acct-1"


def _shaper(model_id: str) -> RecordShaper:
    return RecordShaper(load_catalog(), load_catalog().model(model_id), ACCOUNT)


def test_plain_record_becomes_a_row_keyed_by_account_and_id() -> None:
    page = _shaper("hris.Company").shape_page(
        [{"id": "c1", "legal_name": "Acme", "modified_at": "2026-01-01T00:00:00Z"}]
    )
    [row] = page.rows
    assert (row["linked_account_id"], row["id"], row["legal_name"]) == (ACCOUNT, "c1", "Acme")
    assert row["remote_was_deleted"] is False
    assert row["_raw"]["legal_name"] == "Acme"


def test_expanded_relations_are_stored_as_ids_and_upserted_separately() -> None:
    company = {"id": "c1", "legal_name": "Acme", "modified_at": "2026-01-01T00:00:00Z"}
    groups = [{"id": "g1", "name": "Eng"}, {"id": "g2", "name": "Ops"}]
    record = {"id": "e1", "company": company, "groups": groups, "manager": "e0"}
    page = _shaper("hris.Employee").shape_page([record])
    [row] = page.rows
    assert row["company"] == "c1"
    assert row["groups"] == ["g1", "g2"]
    assert row["manager"] == "e0"
    assert row["_raw"]["company"] == "c1"
    assert page.related["hris.Company"]["c1"]["legal_name"] == "Acme"
    assert set(page.related["hris.Group"]) == {"g1", "g2"}


def test_expanded_self_reference_lands_in_the_same_model() -> None:
    manager = {"id": "e0", "first_name": "Ada", "manager": None}
    page = _shaper("hris.Employee").shape_page([{"id": "e1", "manager": manager}])
    assert page.related["hris.Employee"]["e0"]["first_name"] == "Ada"


def test_deleted_records_are_counted_and_flagged() -> None:
    page = _shaper("hris.Company").shape_page([{"id": "c1", "remote_was_deleted": True}])
    assert page.deleted == 1
    assert page.rows[0]["remote_was_deleted"] is True


def test_model_without_id_is_keyed_by_remote_id() -> None:
    [row] = _shaper("ats.Tag").shape_page([{"remote_id": "t-9", "name": "urgent"}]).rows
    assert row["id"] == "t-9"


def test_record_without_a_key_is_quarantined_not_raised() -> None:
    page = _shaper("hris.Company").shape_page([{"remote_id": "r1"}, {"id": "c2"}])
    [kept] = page.quarantined
    assert (kept.record_id, kept.reason) == (None, "hris.Company record without a usable 'id'")
    assert [row["id"] for row in page.rows] == ["c2"]


def test_non_object_in_results_is_quarantined_with_the_rest_stored() -> None:
    page = _shaper("hris.Company").shape_page(["oops", {"id": "c2"}])
    assert [q.raw_json for q in page.quarantined] == ['"oops"']
    assert [row["id"] for row in page.rows] == ["c2"]


def test_wrongly_typed_value_quarantines_its_record_naming_the_field_not_the_value() -> None:
    page = _shaper("hris.Employee").shape_page(
        [{"id": "e1", "start_date": "SECRET-VALUE-not-a-date"}]
    )
    [kept] = page.quarantined
    assert "start_date" in kept.reason
    assert "SECRET-VALUE" not in kept.reason
    assert "SECRET-VALUE" in kept.raw_json


def test_nul_characters_are_stored_replaced_with_the_exact_record_kept() -> None:
    [row] = _shaper("hris.Company").shape_page([{"id": "c1", "legal_name": "A\u0000B"}]).rows
    assert row["legal_name"] == "A\ufffdB"
    assert row["_raw"]["legal_name"] == "A\ufffdB"
    assert row["_raw_exact"] == '{"id":"c1","legal_name":"A\\u0000B"}'


def test_record_without_nul_has_no_exact_copy() -> None:
    [row] = _shaper("hris.Company").shape_page([{"id": "c1", "legal_name": "AB"}]).rows
    assert row["_raw_exact"] is None


def test_timestamps_in_any_offset_are_parsed_to_the_same_instant() -> None:
    shaper = _shaper("hris.Company")
    rows = shaper.shape_page(
        [
            {"id": "a", "modified_at": "2026-01-01T02:00:00+02:00"},
            {"id": "b", "modified_at": "2026-01-01T00:00:00Z"},
            {"id": "c", "modified_at": "2026-01-01T00:00:00.000000Z"},
        ]
    ).rows
    assert len({row["modified_at"] for row in rows}) == 1


def test_raw_enum_value_that_is_not_text_is_kept_as_json_text() -> None:
    [row] = _shaper("hris.Employee").shape_page([{"id": "e1", "gender": {"raw": 3}}]).rows
    assert row["gender"] == '{"raw":3}'
