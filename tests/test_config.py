from datetime import timedelta

import pytest

from amss.config import ConfigurationError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APP_ENV", "DB_URL", "REDIS_URL", "REDIS_ADDR", "HTTP_ADDR", "ACCESS_TOKEN_TTL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.app_env == "development"
    assert settings.db_url is None
    assert settings.redis_url is None
    assert settings.http_listen == ("0.0.0.0", 8080)
    assert settings.access_token_ttl == timedelta(minutes=15)
    assert settings.refresh_token_ttl == timedelta(hours=168)
    assert settings.import_max_bytes == 50 * 1024 * 1024


def test_legacy_redis_addr_becomes_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_ADDR", "cache:6380")
    assert load_settings().redis_url == "redis://cache:6380/0"


def test_lists_and_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8,192.168.1.1")
    monkeypatch.setenv("GENERATOR_INTERVAL", "90s")
    settings = load_settings()
    assert settings.cors_allowed_origins == ["https://a.example", "https://b.example"]
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.168.1.1/32"]
    assert settings.generator_interval == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("APP_ENV", "staging"),
        ("HTTP_ADDR", "eighty"),
        ("ACCESS_TOKEN_TTL", "soon"),
        ("ACCESS_TOKEN_TTL", "0"),
        ("DB_URL", "mysql://x"),
        ("TRUSTED_PROXIES", "not-a-network"),
        ("IMPORT_MAX_BYTES", "big"),
        ("PROMETHEUS_ENABLED", "perhaps"),
        ("LOG_LEVEL", "loud"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert f"{variable}:" in str(caught.value)
