"""The smaller findings: JWT_ALGORITHM allow-list, no bound parameters (password hashes) in database
error text, logs or the failure data RQ keeps."""

from __future__ import annotations

import io
import logging

import pytest
from sqlalchemy.exc import IntegrityError

from mailer.config import Config, ConfigError
from mailer.extensions import db
from mailer.logs import build_handler
from mailer.models import Role, Tenant, User
from tests.conftest import FERNET_KEY

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g"


@pytest.mark.parametrize("algorithm", ["none", "RS256", "ES256", "hs256", "PS512"])
def test_only_hmac_jwt_algorithms_are_accepted(algorithm):
    """`none` would accept unsigned tokens; asymmetric algorithms make no sense with a shared secret."""
    with pytest.raises(ConfigError, match="JWT_ALGORITHM"):
        Config.from_env({"JWT_SECRET_KEY": "k" * 40, "SECRETS_KEY": FERNET_KEY, "JWT_ALGORITHM": algorithm})


def test_hmac_algorithms_are_accepted():
    for algorithm in ("HS256", "HS384", "HS512"):
        config = Config.from_env({"JWT_SECRET_KEY": "k" * 64, "SECRETS_KEY": FERNET_KEY, "JWT_ALGORITHM": algorithm})
        assert algorithm == config.JWT_ALGORITHM


def test_a_database_error_does_not_carry_the_password_hash(app, admin):
    """A failed INSERT of a user (duplicate address) names the statement, not its values."""
    with app.app_context():
        tenant = db.session.query(Tenant).one()
        db.session.add(User(tenant_id=tenant.id, email="admin@acme.test", name="", password_hash=HASH,
                            role=Role.USER.value))
        with pytest.raises(IntegrityError) as caught:
            db.session.flush()
        db.session.rollback()
    assert "argon2" not in str(caught.value)


def test_the_log_scrubber_redacts_password_hashes():
    """Whatever text reaches a log line, an argon2 hash in it is replaced."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.hardening.scrub")
    logger.addHandler(build_handler(stream, "json"))
    logger.propagate = False
    try:
        logger.error("boom: [parameters: ('a@b.test', '%s')]", HASH, extra={"error": f"with {HASH}"})
    finally:
        logger.handlers.clear()
    assert "argon2" not in stream.getvalue() and "[password hash]" in stream.getvalue()
