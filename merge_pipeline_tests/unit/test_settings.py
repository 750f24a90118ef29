"""Settings: one clear line per problem, and secrets that never print."""

import pytest
from pydantic import SecretStr

from merge_pipeline.settings import SettingsError, load_settings
from merge_pipeline.warehouse.vault import generate_key


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("API_KEY", "TOKEN_ENCRYPTION_KEY", "WEBHOOK_SIGNING_KEY", "DATABASE_URL"):
        monkeypatch.delenv(f"MERGE_PIPELINE_{name}", raising=False)


def test_missing_settings_are_named_in_one_line() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "MERGE_PIPELINE_API_KEY is required but not set" in message
    assert "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY is required but not set" in message
    assert "\n" not in message


def test_malformed_encryption_key_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERGE_PIPELINE_API_KEY", "k")
    monkeypatch.setenv("MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY", "not-a-key")
    with pytest.raises(SettingsError, match="MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY must be a Fernet"):
        load_settings()


def test_malformed_page_size_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERGE_PIPELINE_API_KEY", "k")
    monkeypatch.setenv("MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY", generate_key())
    monkeypatch.setenv("MERGE_PIPELINE_PAGE_SIZE", "500")
    with pytest.raises(SettingsError, match="MERGE_PIPELINE_PAGE_SIZE"):
        load_settings()


def test_secrets_never_show_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.setenv("MERGE_PIPELINE_API_KEY", "sk-live-visible?")
    monkeypatch.setenv("MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY", key)
    monkeypatch.setenv("MERGE_PIPELINE_WEBHOOK_SIGNING_KEY", "whsec-visible?")
    settings = load_settings()
    for rendered in (repr(settings), str(settings), str(settings.model_dump())):
        assert "sk-live-visible?" not in rendered
        assert key not in rendered
        assert "whsec-visible?" not in rendered
    assert settings.api_key == SecretStr("sk-live-visible?")


def test_defaults_point_at_merge_and_the_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERGE_PIPELINE_API_KEY", "k")
    monkeypatch.setenv("MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY", generate_key())
    settings = load_settings()
    assert str(settings.base_url) == "https://api.merge.dev/api"
    assert settings.database_url is None
    assert settings.page_size == 100


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("API_KEY", "sk-live-stray-newline\n"),
        ("WEBHOOK_SIGNING_KEY", " whsec-stray-space"),
        ("DATABASE_URL", "postgresql://u:pw-stray@db/x\r\n"),
        ("BASE_URL", "https://api.merge.dev/api\n"),
        ("PAGE_SIZE", "100\n"),
    ],
)
def test_stray_whitespace_is_one_line_naming_the_setting_never_its_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("MERGE_PIPELINE_API_KEY", "k")
    monkeypatch.setenv("MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY", generate_key())
    monkeypatch.setenv(f"MERGE_PIPELINE_{variable}", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(f"MERGE_PIPELINE_{variable} has whitespace")
    assert "\n" not in message
    assert value.strip() not in message


def test_secret_from_a_file_with_a_newline_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    (tmp_path / ".env").write_text(
        f"MERGE_PIPELINE_API_KEY='sk-from-file\n'\nMERGE_PIPELINE_TOKEN_ENCRYPTION_KEY={generate_key()}\n"
    )
    with pytest.raises(SettingsError, match=r"^MERGE_PIPELINE_API_KEY has whitespace") as raised:
        load_settings()
    assert "sk-from-file" not in str(raised.value)


def test_database_url_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERGE_PIPELINE_API_KEY", "k")
    monkeypatch.setenv("MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY", generate_key())
    monkeypatch.setenv("MERGE_PIPELINE_DATABASE_URL", "postgresql://u:hunter2-db@db/x")
    settings = load_settings()
    assert "hunter2-db" not in repr(settings) + str(settings.model_dump())
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql://u:hunter2-db@db/x"
