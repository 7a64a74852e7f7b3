"""Settings (PRODUCT.md §4): no environment needed, `.env` read, one clear line per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_DATABASE_URL, Settings, SettingsError, load_settings

CONTENT = Path(__file__).resolve().parent.parent / "content"
CONTRACT_VARIABLES = (
    "BOT_TOKEN",
    "DATABASE_URL",
    "REDIS_URL",
    "TELEGRAM_API_URL",
    "WEBHOOK_BASE_URL",
    "WEBHOOK_SECRET",
    "WEBHOOK_HOST",
    "WEBHOOK_PORT",
    "ADMIN_IDS",
    "CONTENT_DIR",
    "SLA_ACCEPT_HOURS",
    "SLA_CONTACT_HOURS",
    "LOG_LEVEL",
)
TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No contract variable set and an empty cwd, so no developer's `.env` is read."""
    for name in CONTRACT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.chdir(tmp_path)


def bad_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    return str(caught.value)


def test_defaults_need_no_environment() -> None:
    settings = load_settings()
    assert settings.bot_token is None
    assert (
        settings.database_url
        == DEFAULT_DATABASE_URL
        == ("sqlite+aiosqlite:///./data/navigator.sqlite3")
    )
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert settings.telegram_api_url is None
    assert settings.webhook_base_url is None
    assert settings.webhook_secret is None
    assert (settings.webhook_host, settings.webhook_port) == ("0.0.0.0", 8080)
    assert settings.admin_ids == []
    # The checkout's own content/, whatever the working directory is.
    assert settings.content_dir == CONTENT
    assert (settings.sla_accept_hours, settings.sla_contact_hours) == (24, 48)
    assert settings.log_level == "INFO"


def test_every_contract_variable_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    content = tmp_path / "my-content"
    (content / "texts").mkdir(parents=True)
    (content / "privacy").mkdir()
    values = {
        "BOT_TOKEN": TOKEN,
        "DATABASE_URL": "postgresql+asyncpg://bot@db:5432/navigator",
        "REDIS_URL": "redis://redis:6379/0",
        "TELEGRAM_API_URL": "http://bot-api:8081",
        "WEBHOOK_BASE_URL": "https://bot.example.org",
        "WEBHOOK_SECRET": "s3cret",
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": "8443",
        "ADMIN_IDS": "7",
        "CONTENT_DIR": str(content),
        "SLA_ACCEPT_HOURS": "12",
        "SLA_CONTACT_HOURS": "36.5",
        "LOG_LEVEL": "debug",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.bot_token is not None and settings.bot_token.get_secret_value() == TOKEN
    assert settings.database_url == "postgresql+asyncpg://bot@db:5432/navigator"
    assert not settings.is_sqlite
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.telegram_api_url == "http://bot-api:8081"
    assert settings.webhook_base_url == "https://bot.example.org"
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == "s3cret"
    assert (settings.webhook_host, settings.webhook_port) == ("127.0.0.1", 8443)
    assert settings.admin_ids == [7]
    assert settings.content_dir == content
    assert (settings.sla_accept_hours, settings.sla_contact_hours) == (12, 36.5)
    assert settings.log_level == "DEBUG"
    assert TOKEN not in repr(settings), "the token is a secret"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1, 2", [1, 2]), ("1,2 3", [1, 2, 3]), ("[3]", [3]), ("[4, 5]", [4, 5]), ("", [])],
)
def test_admin_ids_parse(monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[int]) -> None:
    monkeypatch.setenv("ADMIN_IDS", raw)
    assert load_settings().admin_ids == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "SLA_ACCEPT_HOURS",
            "abc",
            "Bad setting SLA_ACCEPT_HOURS: "
            "Input should be a valid number, unable to parse string as a number",
        ),
        ("SLA_ACCEPT_HOURS", "0", "Bad setting SLA_ACCEPT_HOURS: Input should be greater than 0"),
        (
            "WEBHOOK_PORT",
            "70000",
            "Bad setting WEBHOOK_PORT: Input should be less than or equal to 65535",
        ),
        (
            "DATABASE_URL",
            "mysql://x",
            "Bad setting DATABASE_URL: "
            "Value error, must start with sqlite+aiosqlite:// or postgresql+asyncpg://",
        ),
        (
            "DATABASE_URL",
            "sqlite:///sync.db",
            "Bad setting DATABASE_URL: "
            "Value error, must start with sqlite+aiosqlite:// or postgresql+asyncpg://",
        ),
        (
            "LOG_LEVEL",
            "LOUD",
            "Bad setting LOG_LEVEL: "
            "Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'",
        ),
        (
            "BOT_TOKEN",
            "nonsense",
            "Bad setting BOT_TOKEN: "
            "Value error, does not look like a token from @BotFather (digits:secret)",
        ),
        (
            "ADMIN_IDS",
            "1, two",
            "Bad setting ADMIN_IDS: "
            "Input should be a valid integer, unable to parse string as an integer",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    assert bad_setting(monkeypatch, name, value) == message


def test_a_directory_without_texts_is_not_a_content_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "texts").mkdir()
    assert bad_setting(monkeypatch, "CONTENT_DIR", str(tmp_path)) == (
        f"Bad setting CONTENT_DIR: Value error, {tmp_path} is not a content directory "
        "(no texts/ and privacy/ in it)"
    )


def test_a_bad_token_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    message = bad_setting(monkeypatch, "BOT_TOKEN", "12345:tooshortsecret")
    assert message.startswith("Bad setting BOT_TOKEN: ")
    assert "tooshortsecret" not in message


def test_an_empty_token_means_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "")
    assert load_settings().bot_token is None


@pytest.mark.parametrize(
    "url", ["postgresql://bot:pw@db:5432/navigator", "postgres://bot:pw@db:5432/navigator"]
)
def test_plain_postgres_urls_get_the_asyncpg_driver(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert load_settings().database_url == "postgresql+asyncpg://bot:pw@db:5432/navigator"


def test_dotenv_in_the_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        f"BOT_TOKEN={TOKEN}\nADMIN_IDS=1, 2\nSLA_ACCEPT_HOURS=6\n"
        "DATABASE_URL=postgresql://bot@db/navigator\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SLA_ACCEPT_HOURS", "8")  # the environment wins over .env
    settings = load_settings()
    assert settings.bot_token is not None and settings.bot_token.get_secret_value() == TOKEN
    assert settings.admin_ids == [1, 2]
    assert settings.sla_accept_hours == 8
    assert settings.database_url == "postgresql+asyncpg://bot@db/navigator"


def test_a_bad_value_in_dotenv_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WEBHOOK_PORT=0\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert (
        str(caught.value) == "Bad setting WEBHOOK_PORT: Input should be greater than or equal to 1"
    )


def test_arguments_given_in_code_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://ignored")
    settings = Settings(database_url="sqlite+aiosqlite:///x.sqlite3")
    assert settings.database_url == "sqlite+aiosqlite:///x.sqlite3"
