"""``read_model``: one Common Model of the mirror as a DataFrame of typed columns."""

import uuid
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from merge_pipeline.analysis import read_model
from merge_pipeline.catalog import load_catalog
from merge_pipeline.sync.records import RecordShaper
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline.warehouse.upsert import upsert_rows

MODEL_ID = "hris.Company"


@pytest.fixture
def accounts(engine: sa.Engine) -> tuple[str, str]:
    """Two accounts: the first with a live and a deleted company, the second with one company."""
    first, second = f"acct-{uuid.uuid4()}", f"acct-{uuid.uuid4()}"
    model = load_catalog().model(MODEL_ID)
    records: dict[str, list[dict[str, Any]]] = {
        first: [
            {"id": "c1", "legal_name": "Live Inc", "modified_at": "2026-01-02T03:04:05Z"},
            {"id": "c2", "legal_name": "Gone Ltd", "modified_at": "2026-01-02T03:04:05Z",
             "remote_was_deleted": True},
        ],
        second: [{"id": "c3", "legal_name": "Other plc", "modified_at": "2026-01-03T00:00:00Z"}],
    }  # fmt: skip
    with engine.begin() as connection:
        for account, page in records.items():
            rows = RecordShaper(load_catalog(), model, account).shape_page(page).rows
            upsert_rows(connection, mirror_tables()[MODEL_ID], rows, "run-analysis")
    return first, second


def test_live_rows_of_one_account_with_typed_columns(
    engine: sa.Engine, accounts: tuple[str, str]
) -> None:
    frame = read_model(MODEL_ID, accounts[0], engine=engine)
    assert frame["legal_name"].tolist() == ["Live Inc"]
    assert frame["modified_at"].iloc[0] == pd.Timestamp("2026-01-02T03:04:05Z")
    assert "_raw" not in frame.columns


def test_deleted_rows_on_request(engine: sa.Engine, accounts: tuple[str, str]) -> None:
    frame = read_model(MODEL_ID, accounts[0], include_deleted=True, engine=engine)
    assert dict(zip(frame["id"], frame["remote_was_deleted"], strict=True)) == {
        "c1": False,
        "c2": True,
    }


def test_every_account_without_a_filter(engine: sa.Engine, accounts: tuple[str, str]) -> None:
    frame = read_model(MODEL_ID, engine=engine)
    ours = frame[frame["linked_account_id"].isin(accounts)]
    assert sorted(ours["id"]) == ["c1", "c3"]


def test_the_full_merge_record_on_request(engine: sa.Engine, accounts: tuple[str, str]) -> None:
    frame = read_model(MODEL_ID, accounts[1], include_raw=True, engine=engine)
    assert frame["_raw"].iloc[0]["legal_name"] == "Other plc"


def test_an_unknown_model_is_named(engine: sa.Engine) -> None:
    with pytest.raises(KeyError, match="Employe"):
        read_model("hris.Employe", engine=engine)
