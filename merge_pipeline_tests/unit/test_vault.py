"""Account tokens are encrypted at rest, rotate, and fail clearly with the wrong key."""

import pytest
from pydantic import SecretStr

from merge_pipeline.warehouse.vault import TokenDecryptionError, TokenVault, generate_key

TOKEN = SecretStr("tok-SENTINEL-account-token")


def test_encrypted_token_round_trips_and_hides_plaintext() -> None:
    vault = TokenVault(SecretStr(generate_key()))
    ciphertext = vault.encrypt(TOKEN)
    assert b"SENTINEL" not in ciphertext
    assert vault.decrypt(ciphertext) == TOKEN


def test_rotation_keeps_old_tokens_readable() -> None:
    old, new = generate_key(), generate_key()
    ciphertext = TokenVault(SecretStr(old)).encrypt(TOKEN)
    rotated_vault = TokenVault(SecretStr(f"{new},{old}"))
    assert rotated_vault.decrypt(ciphertext) == TOKEN
    rotated = rotated_vault.rotate(ciphertext)
    assert TokenVault(SecretStr(new)).decrypt(rotated) == TOKEN


def test_wrong_key_gives_a_clear_error_without_secrets() -> None:
    key = generate_key()
    ciphertext = TokenVault(SecretStr(generate_key())).encrypt(TOKEN)
    with pytest.raises(TokenDecryptionError) as raised:
        TokenVault(SecretStr(key)).decrypt(ciphertext)
    assert "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY" in str(raised.value)
    assert key not in str(raised.value)
    assert raised.value.__cause__ is None


def test_vault_repr_shows_no_key() -> None:
    key = generate_key()
    assert key not in repr(TokenVault(SecretStr(key)))
