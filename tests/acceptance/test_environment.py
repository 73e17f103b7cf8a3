"""API.md §7: every variable is in .env.example with the contract's default, and config.py honours it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailer.config import Config, ConfigError
from tests.conftest import FERNET_KEY

ROOT = Path(__file__).resolve().parents[2]

# name → (value in .env.example, Config attribute value when the variable is unset)
CONTRACT = {
    "DATABASE_URL": ("", ""),
    "DEFAULT_LOCALE": ("en", "en"),
    "CONSOLE_SESSION_HOURS": ("12", 12),
    "REDIS_URL": ("redis://localhost:6379/0", "redis://localhost:6379/0"),
    "JWT_SECRET_KEY": ("", ""),
    "JWT_ISSUER": ("mailer", "mailer"),
    "JWT_AUDIENCE": ("mailer-api", "mailer-api"),
    "PUBLIC_BASE_URL": ("http://localhost:5000", "http://localhost:5000"),
    "SMTP_HOST": ("localhost", "localhost"),
    "SMTP_PORT": ("1025", 1025),
    "SMTP_USERNAME": ("", ""),
    "SMTP_PASSWORD": ("", ""),
    "SMTP_ENCRYPTION": ("none", "none"),
    "SMTP_TIMEOUT_SECONDS": ("15", 15),
    "SMTP_VERIFY_TLS": ("true", True),
    "SMTP_MAX_ATTEMPTS": ("8", 8),
    "SMTP_RETRY_DELAYS": ("30,120,600,1800,3600,7200,14400,28800", (30, 120, 600, 1800, 3600, 7200, 14400, 28800)),
    "DELIVERY_LEASE_SECONDS": ("300", 300),
    "SWEEP_INTERVAL_SECONDS": ("60", 60),
    "MAIL_FROM": ("no-reply@localhost", "no-reply@localhost"),
    "MAIL_FROM_NAME": ("Mailer", "Mailer"),
    "CORS_ORIGINS": ("", ()),
    "RATELIMIT_ENABLED": ("true", True),
    "RATELIMIT_STORAGE_URI": ("", ""),
    "PROXY_FIX_X_FOR": ("0", 0),
    "TENANT_DAILY_QUOTA": ("10000", 10000),
    "MAX_MESSAGE_BYTES": ("10485760", 10485760),
    "MAX_RECIPIENTS": ("100", 100),
    "LOG_FORMAT": ("", ""),
    "USER_DAILY_QUOTA": ("500", 500),
    "SMTP_HELO_NAME": ("", ""),
    "BOUNCE_DOMAIN": ("", ""),
    "INBOUND_SMTP_HOST": ("127.0.0.1", "127.0.0.1"),
    "INBOUND_SMTP_PORT": ("2525", 2525),
    "SECRETS_KEY": ("", ()),
    "DNS_RESOLVERS": ("", ()),
    "WEBHOOK_TIMEOUT_SECONDS": ("10", 10),
    "WEBHOOK_RETRY_DELAYS": ("5,300,1800,7200,18000,36000,36000", (5, 300, 1800, 7200, 18000, 36000, 36000)),
    "WEBHOOK_ALLOW_PRIVATE": ("false", False),
    "RELAY_ALLOW_PRIVATE": ("false", False),
    "MESSAGE_RETENTION_DAYS": ("30", 30),
}


def _example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
             if re.match(r"^[A-Z][A-Z0-9_]*=", line))
    return {name: value for name, value in pairs}


def test_env_example_lists_every_variable_with_its_default():
    example = _example()
    assert {name: example.get(name) for name in CONTRACT} == {name: value for name, (value, _) in CONTRACT.items()}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_config_has_the_contract_default(name):
    assert getattr(Config(TESTING=True), name) == CONTRACT[name][1]


def test_config_reads_every_variable_by_its_name():
    overrides = {"DATABASE_URL": "postgresql+psycopg://u@h/db", "DEFAULT_LOCALE": "zh-CN",
                 "CONSOLE_SESSION_HOURS": "0.5",
                 "REDIS_URL": "redis://r:6379/3",
                 "JWT_ISSUER": "iss", "JWT_AUDIENCE": "aud", "PUBLIC_BASE_URL": "https://m.test", "SMTP_HOST": "relay",
                 "SMTP_PORT": "2525", "SMTP_USERNAME": "u", "SMTP_PASSWORD": "p", "SMTP_ENCRYPTION": "ssl",
                 "SMTP_TIMEOUT_SECONDS": "7", "SMTP_VERIFY_TLS": "false", "SMTP_MAX_ATTEMPTS": "3",
                 "SMTP_RETRY_DELAYS": "5,10", "DELIVERY_LEASE_SECONDS": "30", "SWEEP_INTERVAL_SECONDS": "9",
                 "MAIL_FROM": "a@b.test", "MAIL_FROM_NAME": "B", "CORS_ORIGINS": "https://a.test",
                 "RATELIMIT_ENABLED": "false", "RATELIMIT_STORAGE_URI": "memory://", "PROXY_FIX_X_FOR": "1",
                 "TENANT_DAILY_QUOTA": "5", "MAX_MESSAGE_BYTES": "1000", "MAX_RECIPIENTS": "3", "LOG_FORMAT": "text",
                 "USER_DAILY_QUOTA": "7", "SMTP_HELO_NAME": "mx.m.test", "BOUNCE_DOMAIN": "bounces.m.test",
                 "INBOUND_SMTP_HOST": "0.0.0.0", "INBOUND_SMTP_PORT": "2626", "SECRETS_KEY": FERNET_KEY,
                 "DNS_RESOLVERS": "127.0.0.1:5353", "WEBHOOK_TIMEOUT_SECONDS": "3", "WEBHOOK_RETRY_DELAYS": "1,2",
                 "WEBHOOK_ALLOW_PRIVATE": "true", "RELAY_ALLOW_PRIVATE": "true", "MESSAGE_RETENTION_DAYS": "9"}
    config = Config.from_env({"JWT_SECRET_KEY": "k" * 32, **overrides})
    expected = {"CONSOLE_SESSION_HOURS": 0.5,
                "SMTP_PORT": 2525, "SMTP_TIMEOUT_SECONDS": 7, "SMTP_VERIFY_TLS": False, "SMTP_MAX_ATTEMPTS": 3,
                "SMTP_RETRY_DELAYS": (5, 10), "DELIVERY_LEASE_SECONDS": 30, "SWEEP_INTERVAL_SECONDS": 9,
                "CORS_ORIGINS": ("https://a.test",), "RATELIMIT_ENABLED": False, "PROXY_FIX_X_FOR": 1,
                "TENANT_DAILY_QUOTA": 5, "MAX_MESSAGE_BYTES": 1000, "MAX_RECIPIENTS": 3, "USER_DAILY_QUOTA": 7,
                "INBOUND_SMTP_PORT": 2626, "SECRETS_KEY": (FERNET_KEY,), "DNS_RESOLVERS": ("127.0.0.1:5353",),
                "WEBHOOK_TIMEOUT_SECONDS": 3, "WEBHOOK_RETRY_DELAYS": (1, 2), "WEBHOOK_ALLOW_PRIVATE": True,
                "RELAY_ALLOW_PRIVATE": True, "MESSAGE_RETENTION_DAYS": 9}
    assert set(overrides) | {"JWT_SECRET_KEY"} == set(CONTRACT)
    for name, raw in overrides.items():
        assert getattr(config, name) == expected.get(name, raw), name


def test_the_example_file_itself_is_a_valid_environment(tmp_path):
    """`make run` copies .env.example to .env: it must start as is (it is a debug setup)."""
    config = Config.from_env(_example()).finalize(str(tmp_path))
    assert config.DEBUG is True and len(config.JWT_SECRET_KEY) >= 32
    assert config.DATABASE_URL.removeprefix("sqlite:///") == str(tmp_path / "mailer.db")
    assert config.RATELIMIT_STORAGE_URI == config.REDIS_URL
    assert config.LOG_FORMAT == "text"


def test_jwt_secret_key_is_required_and_32_bytes_outside_debug(tmp_path):
    with pytest.raises(ConfigError):
        Config.from_env({})
    with pytest.raises(ConfigError):
        Config.from_env({"JWT_SECRET_KEY": "é" * 15, "SECRETS_KEY": FERNET_KEY})  # 30 bytes
    config = Config.from_env({"JWT_SECRET_KEY": "é" * 16, "SECRETS_KEY": FERNET_KEY})
    assert config.JWT_SECRET_KEY == "é" * 16  # 32 bytes


def test_log_format_is_text_in_debug_and_json_otherwise(tmp_path):
    assert Config.from_env({"FLASK_DEBUG": "1"}).finalize(str(tmp_path)).LOG_FORMAT == "text"
    keys = {"JWT_SECRET_KEY": "k" * 32, "SECRETS_KEY": FERNET_KEY}
    assert Config.from_env(keys).finalize(str(tmp_path)).LOG_FORMAT == "json"
    assert Config.from_env({**keys, "LOG_FORMAT": "text"}).finalize(str(tmp_path)).LOG_FORMAT == "text"


def test_ratelimit_storage_defaults_to_redis_url(tmp_path):
    config = Config.from_env({"JWT_SECRET_KEY": "k" * 32, "SECRETS_KEY": FERNET_KEY, "REDIS_URL": "redis://elsewhere:6379/4"})
    assert config.finalize(str(tmp_path)).RATELIMIT_STORAGE_URI == "redis://elsewhere:6379/4"
    assert config.finalize(str(tmp_path)).flask_settings()["RATELIMIT_STORAGE_URI"] == "redis://elsewhere:6379/4"


def test_rate_limit_defaults_are_the_contracts():
    """§5: login 10/min per IP, 5/min per account; account mail 5/h per address, 20/h per IP;
    messages 50/min per user or key; broadcasts 5/h per tenant; TENANT_DAILY_QUOTA 10 000."""
    config = Config(JWT_SECRET_KEY="k" * 32, SECRETS_KEY=(FERNET_KEY,))
    assert (config.RATELIMIT_LOGIN_IP, config.RATELIMIT_LOGIN_ACCOUNT) == ("10/minute", "5/minute")
    assert (config.RATELIMIT_ACCOUNT_MAIL_ADDRESS, config.RATELIMIT_ACCOUNT_MAIL_IP) == ("5/hour", "20/hour")
    assert (config.RATELIMIT_MESSAGES, config.RATELIMIT_BROADCASTS) == ("50/minute", "5/hour")
    assert config.TENANT_DAILY_QUOTA == 10000
