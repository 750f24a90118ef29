"""The warehouse schema in a real PostgreSQL matches the catalog and migrates idempotently."""

import sqlalchemy as sa
from pydantic import SecretStr

from merge_pipeline.catalog import load_catalog
from merge_pipeline.warehouse.accounts import (
    LinkedAccount,
    account_token,
    list_accounts,
    save_account,
)
from merge_pipeline.warehouse.migrate import MirrorTables, migrate, reconcile_mirror_tables
from merge_pipeline.warehouse.mirror_tables import mirror_tables
from merge_pipeline.warehouse.pipeline_tables import linked_accounts
from merge_pipeline.warehouse.vault import TokenVault


def _columns(engine: sa.Engine, schema: str, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table, schema=schema)}


def test_every_catalog_model_has_its_table_with_every_field(engine: sa.Engine) -> None:
    inspector = sa.inspect(engine)
    for category in load_catalog().categories.values():
        existing = set(inspector.get_table_names(schema=category.name))
        for model in category:
            table = mirror_tables()[model]
            assert table.name in existing, model.model_id
            assert set(model.field_names) <= _columns(engine, category.name, table.name)


def test_migrating_twice_changes_nothing(engine: sa.Engine) -> None:
    report = migrate(engine)
    assert report.created_tables == []
    assert report.added_columns == []


def test_a_new_catalog_field_becomes_a_new_column(engine: sa.Engine) -> None:
    tables = MirrorTables(load_catalog())
    company = tables["hris.Company"]
    company.append_column(sa.Column("added_by_a_newer_catalog", sa.Text()))
    with engine.begin() as connection:
        report = reconcile_mirror_tables(connection, tables)
    assert report.added_columns == ["hris.company.added_by_a_newer_catalog"]
    assert "added_by_a_newer_catalog" in _columns(engine, "hris", "company")


def test_account_tokens_are_stored_encrypted(engine: sa.Engine, vault: TokenVault) -> None:
    token = SecretStr("tok-SENTINEL-stored-token")
    account = LinkedAccount(id="acct-encrypted", category="hris", integration="BambooHR")
    with engine.begin() as connection:
        save_account(connection, account, token, vault)
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(linked_accounts.c.token_ciphertext).where(linked_accounts.c.id == account.id)
        ).scalar_one()
        assert b"SENTINEL" not in bytes(stored)
        assert account_token(connection, account.id, vault) == token
        assert account in list_accounts(connection, category="hris")


def test_relinking_replaces_the_token_and_keeps_the_account(
    engine: sa.Engine, vault: TokenVault
) -> None:
    account = LinkedAccount(id="acct-relinked", category="ats", status="RELINK_NEEDED")
    with engine.begin() as connection:
        save_account(connection, account, SecretStr("tok-old"), vault)
        save_account(
            connection, LinkedAccount(id=account.id, category="ats", status="COMPLETE"),
            SecretStr("tok-new"), vault,
        )  # fmt: skip
    with engine.connect() as connection:
        assert account_token(connection, account.id, vault) == SecretStr("tok-new")
        [stored] = [a for a in list_accounts(connection) if a.id == account.id]
        assert stored.status == "COMPLETE"
