from __future__ import annotations

import pytest

from mailer.config import Config, ConfigError
from tests.conftest import FERNET_KEY


def test_debug_generates_a_key_per_run(tmp_path):
    first = Config.from_env({"FLASK_DEBUG": "1"}).finalize(str(tmp_path))
    second = Config.from_env({"FLASK_DEBUG": "1"}).finalize(str(tmp_path))
    assert len(first.JWT_SECRET_KEY) >= 32 and first.JWT_SECRET_KEY != second.JWT_SECRET_KEY


def test_parses_typed_values():
    config = Config.from_env({"JWT_SECRET_KEY": "k" * 40, "SECRETS_KEY": FERNET_KEY,
                              "SMTP_RETRY_DELAYS": "1, 2,3", "SMTP_VERIFY_TLS": "false",
                              "CORS_ORIGINS": "https://a.test,https://b.test", "SMTP_PORT": "2525"})
    assert config.SMTP_RETRY_DELAYS == (1, 2, 3)
    assert config.SMTP_VERIFY_TLS is False
    assert config.CORS_ORIGINS == ("https://a.test", "https://b.test")
    assert config.SMTP_PORT == 2525
    with pytest.raises(ConfigError):
        Config.from_env({"JWT_SECRET_KEY": "k" * 40, "SECRETS_KEY": FERNET_KEY, "SMTP_ENCRYPTION": "tls-please"})


def _production(**env: str) -> Config:
    return Config.from_env({"JWT_SECRET_KEY": "k" * 40, "SECRETS_KEY": FERNET_KEY, "SMTP_HELO_NAME": "mx.test", **env})


def test_a_plaintext_relay_off_this_host_is_warned_about_at_start_outside_debug(caplog):
    """L15: SMTP_ENCRYPTION=none (the default) to a non-loopback relay sends reset links in clear: every start
    outside debug logs a warning; loopback, TLS and debug are quiet."""
    import logging

    from mailer import create_app

    assert any("in clear" in w for w in _production(SMTP_HOST="relay.example.com").startup_warnings())
    for quiet in (_production(SMTP_HOST="127.0.0.1"), _production(SMTP_HOST="localhost"),
                  _production(SMTP_HOST="relay.example.com", SMTP_ENCRYPTION="starttls"),
                  Config.from_env({"FLASK_DEBUG": "1", "SMTP_HOST": "relay.example.com"})):
        assert quiet.startup_warnings() == []
    caplog.set_level(logging.WARNING)
    create_app({"JWT_SECRET_KEY": "k" * 40, "SECRETS_KEY": (FERNET_KEY,), "SMTP_HELO_NAME": "mx.test",
                "SMTP_HOST": "relay.example.com"}, http=False)
    assert "SMTP_ENCRYPTION=none" in caplog.text and "relay.example.com" in caplog.text
