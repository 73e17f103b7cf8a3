"""VERP and unsubscribe tokens: opaque, signed, verifiable with the key alone (the stable token key, kept in the
database's keyring: security.stable_keys)."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet
from flask import Flask

from mailer.config import Config
from mailer.mail.recipient_tokens import TokenKind, make_token, read_address, read_token, token_address
from tests.conftest import FERNET_KEY

BOUNCES = "bounces.mailer.test"


_URL: list[str] = []


@pytest.fixture(autouse=True)
def _database(app: Flask) -> None:
    _URL[:] = [app.config["MAILER"].DATABASE_URL]


def _config(*keys: str) -> Config:
    return Config(TESTING=True, SECRETS_KEY=keys or (FERNET_KEY,), BOUNCE_DOMAIN=BOUNCES, DATABASE_URL=_URL[0])


def test_a_token_names_its_recipient_and_nothing_readable() -> None:
    """The token reads back to the recipient id; the address holds no email and fits a local part."""
    config, rid = _config(), uuid.uuid4()
    address = token_address(config, TokenKind.BOUNCE, rid)
    local, _, domain = address.partition("@")
    assert domain == BOUNCES and local.startswith("b-") and len(local) <= 64
    assert local == local.lower() and rid.hex not in local
    found = read_address(config, address)
    assert found is not None and found.kind is TokenKind.BOUNCE and found.recipient_id == rid


def test_case_folded_by_an_mta_still_verifies() -> None:
    """Some MTAs upper-case local parts; base32 survives that."""
    config, rid = _config(), uuid.uuid4()
    found = read_address(config, token_address(config, TokenKind.BOUNCE, rid).upper())
    assert found is not None and found.recipient_id == rid


def test_forged_truncated_and_cross_purpose_tokens_are_refused() -> None:
    """A changed character, a shortened token, another key, or a bounce token used to unsubscribe: None."""
    config, rid = _config(), uuid.uuid4()
    token = make_token(config, TokenKind.BOUNCE, rid)
    flipped = ("a" if token[5] != "a" else "b").join([token[:5], token[6:]])
    assert read_token(config, TokenKind.BOUNCE, flipped) is None
    assert read_token(config, TokenKind.BOUNCE, token[:-1]) is None
    assert read_token(config, TokenKind.UNSUBSCRIBE, token) is None
    assert read_address(config, f"b-{token}@elsewhere.test") is None


def test_tokens_do_not_change_with_a_secrets_key_rotation() -> None:
    """With a new key in front of SECRETS_KEY, the token key is the same (it is not derived from the Fernet
    keys): tokens made before verify, and new ones are the same (the full rotation: tests/security)."""
    rid, new = uuid.uuid4(), Fernet.generate_key().decode()
    old_token = make_token(_config(), TokenKind.BOUNCE, rid)
    rotated = _config(new, FERNET_KEY)
    assert read_token(rotated, TokenKind.BOUNCE, old_token) == rid
    assert make_token(rotated, TokenKind.BOUNCE, rid) == old_token
