"""Secrets at rest: sealed under the newest SECRETS_KEY, readable under any listed key, never in clear."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from mailer.config import Config, ConfigError
from mailer.security.secret_box import SecretBox, SecretUnreadableError


def test_a_sealed_secret_opens_and_is_not_the_plaintext():
    box = SecretBox([Fernet.generate_key().decode()])
    token = box.seal("relay-password-1", context="t.c:1")
    assert "relay-password-1" not in token
    assert box.open(token, context="t.c:1") == "relay-password-1"


def test_rotation_reseals_under_the_newest_key_and_the_old_key_can_then_go():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox([old]).seal("dkim-private-key", context="t.c:1")
    both = SecretBox([new, old])
    resealed = both.reseal(token, context="t.c:1")
    assert SecretBox([new]).open(resealed, context="t.c:1") == "dkim-private-key"
    with pytest.raises(SecretUnreadableError):
        SecretBox([new]).open(token, context="t.c:1")


def test_a_tampered_token_is_unreadable():
    box = SecretBox([Fernet.generate_key().decode()])
    token = box.seal("x", context="t.c:1")
    with pytest.raises(SecretUnreadableError):
        box.open(token[:-4] + "AAAA", context="t.c:1")


def test_secrets_key_is_required_outside_debug_and_must_be_fernet_keys():
    with pytest.raises(ConfigError, match="SECRETS_KEY is required"):
        Config(JWT_SECRET_KEY="k" * 32)
    with pytest.raises(ConfigError, match="not a Fernet key"):
        Config(JWT_SECRET_KEY="k" * 32, SECRETS_KEY=("not-a-key",))
    assert Config(JWT_SECRET_KEY="k" * 32, SECRETS_KEY=(Fernet.generate_key().decode(),))


def test_debug_without_a_key_keeps_one_per_instance_folder(tmp_path):
    first = Config(DEBUG=True).finalize(str(tmp_path)).SECRETS_KEY
    second = Config(DEBUG=True).finalize(str(tmp_path)).SECRETS_KEY
    assert first == second and len(first) == 1
    assert (tmp_path / "secrets.key").stat().st_mode & 0o077 == 0


def test_localhost_is_refused_as_the_helo_name_outside_debug():
    key = (Fernet.generate_key().decode(),)
    with pytest.raises(ConfigError, match="SMTP_HELO_NAME"):
        Config(JWT_SECRET_KEY="k" * 32, SECRETS_KEY=key, SMTP_HELO_NAME="localhost")
    assert Config(JWT_SECRET_KEY="k" * 32, SECRETS_KEY=key, SMTP_HELO_NAME="mx1.example.com")
