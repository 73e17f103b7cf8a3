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
