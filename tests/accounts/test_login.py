"""Login: uniform failures, 403 only after a correct password, audit, rehash."""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import AuditEvent, User
from tests.helpers import ADMIN_PASSWORD, PASSWORD, bearer, login_pair, register


def attempt(client, email, password, tenant="acme"):
    return client.post("/v1/auth/login", json={"tenant": tenant, "email": email, "password": password},
                       headers={"X-Request-ID": "fixed-request-id"})


def test_unknown_user_and_wrong_password_get_the_same_answer(app, client, acme_ids):
    wrong = attempt(client, "admin@acme.test", "not the password")
    unknown = attempt(client, "nobody@acme.test", "not the password")
    no_tenant = attempt(client, "admin@acme.test", ADMIN_PASSWORD, tenant="nope")
    for response in (wrong, unknown, no_tenant):
        assert response.status_code == 401
        assert response.get_json()["code"] == "invalid_credentials"
        assert response.content_type == "application/problem+json"
    assert wrong.data == unknown.data == no_tenant.data
    counters = {"X-RateLimit-Remaining", "X-RateLimit-Reset"}  # count requests per IP, not an oracle
    assert {k: v for k, v in wrong.headers.items() if k not in counters} == {
        k: v for k, v in unknown.headers.items() if k not in counters
    }


def test_unknown_user_costs_a_password_verification(app, client, acme_ids, monkeypatch):
    """Unknown user, unknown tenant and wrong password each spend exactly one argon2 verification
    with the same parameters, so they take similar time (bench/enumeration.py measures it)."""
    from mailer.security import passwords

    verified: list[str] = []
    real = passwords._hasher

    class CountingHasher:
        def verify(self, hash_, password):
            verified.append(hash_.split("$")[3])  # the parameters, e.g. m=65536,t=3,p=4
            return real.verify(hash_, password)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(passwords, "_hasher", CountingHasher())
    expected = [real.hash("x").split("$")[3]]
    for email, tenant in [("admin@acme.test", "acme"), ("nobody@acme.test", "acme"), ("admin@acme.test", "nope")]:
        verified.clear()
        assert attempt(client, email, "not the password", tenant).status_code == 401
        assert verified == expected, (email, tenant, verified)


def test_unverified_and_disabled_only_after_correct_password(app, client, worker, smtp_server, acme_ids):
    register(client, "ann@example.com")
    worker()
    assert attempt(client, "ann@example.com", "wrong password").get_json()["code"] == "invalid_credentials"
    unverified = attempt(client, "ann@example.com", PASSWORD)
    assert unverified.status_code == 403 and unverified.get_json()["code"] == "email_not_verified"

    with app.app_context():
        db.session.scalars(select(User).where(User.email == "admin@acme.test")).one().is_active = False
        db.session.commit()
    assert attempt(client, "admin@acme.test", "wrong password").get_json()["code"] == "invalid_credentials"
    disabled = attempt(client, "admin@acme.test", ADMIN_PASSWORD)
    assert disabled.status_code == 403 and disabled.get_json()["code"] == "account_disabled"


def test_login_is_audited_without_the_password(app, client, acme_ids):
    attempt(client, "admin@acme.test", "a wrong guess 123")
    attempt(client, "nobody@acme.test", "another guess 456")
    login_pair(client, "admin@acme.test", ADMIN_PASSWORD)
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.at)).all()
        assert [e.action for e in events] == ["login.failed", "login.failed", "login.succeeded"]
        assert events[0].details == {"reason": "wrong_password"} and events[0].actor_id is not None
        assert events[1].details == {"reason": "unknown_user"} and events[1].actor_id is None
        dumped = repr([(e.details, e.ip) for e in events])
        for secret in ("a wrong guess 123", "another guess 456", ADMIN_PASSWORD, "nobody@acme.test"):
            assert secret not in dumped


def test_password_is_rehashed_when_parameters_change(app, client, acme_ids):
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        user.password_hash = weak.hash(ADMIN_PASSWORD)
        db.session.commit()
        old_hash = user.password_hash
    login_pair(client, "admin@acme.test", ADMIN_PASSWORD)
    with app.app_context():
        new_hash = db.session.scalars(select(User)).one().password_hash
    assert new_hash != old_hash and not PasswordHasher().check_needs_rehash(new_hash)
    login_pair(client, "admin@acme.test", ADMIN_PASSWORD)


def test_login_email_is_case_insensitive_and_me_reads_the_token(app, client, acme_ids):
    pair = login_pair(client, "ADMIN@Acme.Test", ADMIN_PASSWORD)
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 900
    me = client.get("/v1/auth/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert set(me.get_json()) == {"id", "email", "name", "role", "email_verified", "locale", "tenant"}
    assert me.get_json()["role"] == "admin" and me.get_json()["tenant"]["id"] == acme_ids["tenant_id"]
