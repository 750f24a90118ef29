"""``merge-pipeline accounts rotate-key``: every token re-encrypted under the new key, none lost.

Keys come from the environment only (``new,old``); the command runs as an operator runs it, in
its own process, against a database of its own (it rewrites every stored token).
"""

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from merge_pipeline.warehouse.accounts import LinkedAccount, account_token, save_account
from merge_pipeline.warehouse.pipeline_tables import linked_accounts
from merge_pipeline.warehouse.vault import TokenVault, generate_key
from merge_pipeline_tests.cli_process import run_cli
from merge_pipeline_tests.security.conftest import OwnDatabase

TOKENS = {f"acct-rotate-{n}": f"tok-ROTATE-{n}-{'x' * n}" for n in range(1, 6)}


def _ciphertexts(engine: sa.Engine) -> dict[str, bytes]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(linked_accounts.c.id, linked_accounts.c.token_ciphertext)
        )
        return {row.id: bytes(row.token_ciphertext) for row in rows}


def _environment(database: OwnDatabase, keys: str) -> dict[str, str]:
    return {
        "MERGE_PIPELINE_DATABASE_URL": database.url.render_as_string(hide_password=False),
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": keys,
    }


def test_rotation_re_encrypts_every_token_under_the_new_key_and_loses_none(
    own_database: OwnDatabase,
) -> None:
    old, new = generate_key(), generate_key()
    with own_database.engine.begin() as connection:
        connection.execute(sa.delete(linked_accounts))
        for account_id, token in TOKENS.items():
            account = LinkedAccount(id=account_id, category="hris")
            save_account(connection, account, SecretStr(token), TokenVault(SecretStr(old)))
    before = _ciphertexts(own_database.engine)

    finished = run_cli("accounts", "rotate-key", **_environment(own_database, f"{new},{old}"))

    assert (finished.returncode, finished.stderr) == (0, "")
    assert finished.stdout.strip() == (
        "re-encrypted 5 account tokens with the first key of MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY"
        "; the other keys can now be removed"
    )
    after = _ciphertexts(own_database.engine)
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in after)
    only_new = TokenVault(SecretStr(new))
    with own_database.engine.connect() as connection:
        decrypted = {k: account_token(connection, k, only_new).get_secret_value() for k in TOKENS}
    assert decrypted == TOKENS
    for ciphertext in after.values():  # the old key alone opens none of them any more
        try:
            Fernet(old.encode()).decrypt(ciphertext)
        except InvalidToken:
            continue
        raise AssertionError("a token is still readable with the old key")
    assert new not in finished.stdout + finished.stderr and old not in finished.stderr


def test_a_token_no_key_opens_stops_the_rotation_and_changes_nothing(
    own_database: OwnDatabase,
) -> None:
    known, unknown, new = generate_key(), generate_key(), generate_key()
    with own_database.engine.begin() as connection:
        connection.execute(sa.delete(linked_accounts))
        for account_id, token in TOKENS.items():
            key = unknown if account_id.endswith("-3") else known
            account = LinkedAccount(id=account_id, category="hris")
            save_account(connection, account, SecretStr(token), TokenVault(SecretStr(key)))
    before = _ciphertexts(own_database.engine)

    finished = run_cli("accounts", "rotate-key", **_environment(own_database, f"{new},{known}"))

    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines() == [
        "Error: the token of linked account acct-rotate-3 decrypts with none of the keys in "
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY; nothing was re-encrypted"
    ]
    assert _ciphertexts(own_database.engine) == before


def test_rotation_without_a_usable_key_is_one_line_naming_the_setting(
    own_database: OwnDatabase,
) -> None:
    finished = run_cli("accounts", "rotate-key", **_environment(own_database, "not-a-key"))
    assert finished.returncode == 1
    [line] = finished.stderr.strip().splitlines()
    assert "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY" in line and "not-a-key" not in line
