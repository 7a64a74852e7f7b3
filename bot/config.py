"""Settings from the environment and `.env` (names fixed by PRODUCT.md §4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/navigator.sqlite3"
# The checkout's own content/, so the bot starts from any working directory; an installed
# package (the Docker image) sets CONTENT_DIR instead.
DEFAULT_CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"


class SettingsError(Exception):
    """A bad setting, phrased as the one line an operator needs to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr | None = None
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    telegram_api_url: str | None = None
    webhook_base_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    admin_ids: Annotated[list[int], NoDecode] = []
    content_dir: Path = DEFAULT_CONTENT_DIR
    sla_accept_hours: float = Field(default=24, gt=0, le=24 * 30)
    sla_contact_hours: float = Field(default=48, gt=0, le=24 * 30)
    # Free text of closed requests (descriptions, phones, comments) is purged after this.
    retention_days: int = Field(default=365, ge=7, le=3650)
    # Search texts (already stripped of names and numbers) and their link to the family.
    search_retention_days: int = Field(default=90, ge=14, le=3650)
    # An unfinished dialog (a half-written request with its description and phone) expires.
    dialog_ttl_hours: float = Field(default=24, gt=0, le=24 * 30)
    # Requests a family may have open at once (each is offered to organisations in turn).
    max_open_requests: int = Field(default=3, ge=1, le=100)
    # A notification Telegram keeps refusing (timeouts, 5xx) is retried this long, then given
    # up: counted in /stats, the digest and /metrics, and the administrators are alerted.
    outbox_give_up_hours: float = Field(default=72, gt=0, le=24 * 30)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # MAX (issue 16): the bot's token from the MAX partner platform, the Bot API's base URL
    # (a test server in the tests) and the webhook subscription's secret.
    max_bot_token: SecretStr | None = None
    max_api_url: str = "https://platform-api2.max.ru"
    max_webhook_secret: SecretStr | None = None

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        # "1,2 3" is how people write lists in .env; JSON lists work too.
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part for part in value.replace(",", " ").split() if part]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not (
            value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")
        ):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("content_dir")
    @classmethod
    def _content_exists(cls, value: Path) -> Path:
        # The texts and the privacy notice are needed to say anything at all.
        if not (value / "texts").is_dir() or not (value / "privacy").is_dir():
            raise ValueError(f"{value} is not a content directory (no texts/ and privacy/ in it)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        head, _, tail = value.get_secret_value().partition(":")
        if not head.isdigit() or len(tail) < 20:
            raise ValueError("does not look like a token from @BotFather (digits:secret)")
        return value

    @field_validator("max_bot_token", "max_webhook_secret")
    @classmethod
    def _empty_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @field_validator("max_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a test server)")
        return value.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning a validation error into one line that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SourceError as exc:
        raise SettingsError(f"Bad setting: {exc}") from None
    except json.JSONDecodeError:
        raise SettingsError("Bad setting ADMIN_IDS: not a list of numbers") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        raise SettingsError(f"Bad setting {name}: {error['msg']}") from None
