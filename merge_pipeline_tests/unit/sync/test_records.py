"""Shaping Merge records into rows: ids in columns, expanded objects into their own tables."""

import pytest

from merge_pipeline.catalog import load_catalog
from merge_pipeline.sync.records import RecordShapeError, RecordShaper

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


def test_record_without_a_key_is_a_clear_error() -> None:
    with pytest.raises(RecordShapeError, match=r"hris\.Company record without 'id'"):
        _shaper("hris.Company").shape_page([{"remote_id": "r1"}])


def test_raw_enum_value_that_is_not_text_is_kept_as_json_text() -> None:
    [row] = _shaper("hris.Employee").shape_page([{"id": "e1", "gender": {"raw": 3}}]).rows
    assert row["gender"] == '{"raw":3}'
