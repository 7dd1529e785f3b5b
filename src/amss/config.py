"""Process configuration from environment variables (SPEC §2), validated at start-up."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import socket
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from amss.kit.units import parse_byte_size, parse_duration, parse_listen_address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    """Every variable of SPEC §2. Field aliases are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", populate_by_name=True, case_sensitive=True
    )

    app_env: Literal["development", "test", "production"] = Field("development", alias="APP_ENV")
    db_url: str | None = Field(None, alias="DB_URL")
    # The owner role's URL, for migrations only; DB_URL is then a role that owns nothing.
    db_migrate_url: str | None = Field(None, alias="DB_MIGRATE_URL")
    data_dir: Path = Field(Path("./data"), alias="AMSS_DATA_DIR")
    redis_url_raw: str | None = Field(None, alias="REDIS_URL")
    redis_addr: str | None = Field(None, alias="REDIS_ADDR")
    http_addr: str = Field(":8080", alias="HTTP_ADDR")
    grpc_addr: str = Field(":9090", alias="GRPC_ADDR")
    worker_http_addr: str = Field(":9091", alias="WORKER_HTTP_ADDR")
    jwt_private_key_pem: str | None = Field(None, alias="JWT_PRIVATE_KEY_PEM", repr=False)
    jwt_public_key_pem: str | None = Field(None, alias="JWT_PUBLIC_KEY_PEM", repr=False)
    access_token_ttl: timedelta = Field(timedelta(minutes=15), alias="ACCESS_TOKEN_TTL")
    refresh_token_ttl: timedelta = Field(timedelta(hours=168), alias="REFRESH_TOKEN_TTL")
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", alias="LOG_LEVEL"
    )
    prometheus_enabled: bool = Field(True, alias="PROMETHEUS_ENABLED")
    otel_exporter_otlp_endpoint: str | None = Field(None, alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="CORS_ALLOWED_ORIGINS"
    )
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(
        default_factory=list, alias="TRUSTED_PROXIES"
    )
    worker_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}", alias="WORKER_ID"
    )
    retention_cleanup_interval: timedelta = Field(
        timedelta(hours=24), alias="RETENTION_CLEANUP_INTERVAL"
    )
    generator_interval: timedelta = Field(timedelta(minutes=10), alias="GENERATOR_INTERVAL")
    import_max_bytes: int = Field(50 * 1024 * 1024, alias="IMPORT_MAX_BYTES")
    # Fernet keys, comma-separated: the first encrypts, every one decrypts (rotation).
    secrets_key: str | None = Field(None, alias="SECRETS_KEY", repr=False)
    # The only switch that lets webhooks reach loopback and private networks (SPEC §7.2).
    webhook_allow_private: bool = Field(False, alias="WEBHOOK_ALLOW_PRIVATE")

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator(
        "access_token_ttl",
        "refresh_token_ttl",
        "retention_cleanup_interval",
        "generator_interval",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object) -> object:
        if isinstance(value, str):
            parsed = parse_duration(value)
            if parsed <= timedelta(0):
                raise ValueError("must be a positive duration")
            return parsed
        return value

    @field_validator("import_max_bytes", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        return parse_byte_size(value) if isinstance(value, str) else value

    @field_validator("http_addr", "grpc_addr", "worker_http_addr")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_listen_address(value)
        return value

    @field_validator("db_url", "db_migrate_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        scheme = value.split("://", 1)[0]
        if scheme not in {"postgres", "postgresql", "postgresql+psycopg"}:
            raise ValueError("must be a postgres:// or postgresql:// URL")
        return value

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("secrets_key")
    @classmethod
    def _secrets_key(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        # The message never repeats the value: it is a secret.
        for number, key in enumerate(secrets_keys(value), start=1):
            if not _is_fernet_key(key):
                raise ValueError(
                    f"key {number} is not a Fernet key (32 url-safe base64-encoded bytes; "
                    "generate one with 'amss keys --secrets')"
                )
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [
                ipaddress.ip_network(item.strip(), strict=False)
                for item in value.split(",")
                if item.strip()
            ]
        return value

    @property
    def redis_url(self) -> str | None:
        """REDIS_URL, or the legacy REDIS_ADDR (``host:port``) turned into a URL."""
        if self.redis_url_raw:
            return self.redis_url_raw
        if self.redis_addr:
            return f"redis://{self.redis_addr}/0"
        return None

    @property
    def migrate_url(self) -> str | None:
        """The URL migrations run on: DB_MIGRATE_URL, else DB_URL (one role for both)."""
        return self.db_migrate_url or self.db_url

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def http_listen(self) -> tuple[str, int]:
        return parse_listen_address(self.http_addr)

    @property
    def grpc_listen(self) -> tuple[str, int]:
        return parse_listen_address(self.grpc_addr)

    @property
    def worker_http_listen(self) -> tuple[str, int]:
        return parse_listen_address(self.worker_http_addr)


def secrets_keys(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (ValueError, binascii.Error):
        return False


class ConfigurationError(Exception):
    """A variable has a value the process cannot start with; the message names it."""


def production_problems(settings: Settings, *, needs_database: bool = True) -> list[str]:
    """What production refuses to start without (SPEC §10: fail closed), one per variable."""
    if not settings.is_production:
        return []
    problems = []
    if needs_database and not settings.db_url:
        problems.append(
            "DB_URL: required in production (the embedded database is for 'amss serve')"
        )
    if not (settings.jwt_private_key_pem and settings.jwt_public_key_pem):
        problems.append(
            "JWT_PRIVATE_KEY_PEM/JWT_PUBLIC_KEY_PEM: required in production "
            "(generate a pair with 'amss keys')"
        )
    if not settings.secrets_key:
        problems.append(
            "SECRETS_KEY: required in production to encrypt webhook secrets "
            "(generate one with 'amss keys --secrets')"
        )
    return problems


def require_production_settings(settings: Settings, *, needs_database: bool = True) -> None:
    problems = production_problems(settings, needs_database=needs_database)
    if problems:
        raise ConfigurationError("refusing to start in production: " + "; ".join(problems))


def describe_validation_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        variable = ".".join(str(part) for part in item["loc"]) or "configuration"
        lines.append(f"{variable}: {item['msg']}")
    return "invalid configuration: " + "; ".join(lines)


def load_settings() -> Settings:
    """Read the environment; raise ConfigurationError naming each bad variable."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
