"""Forgot and reset password, end to end: mail, single use, sessions revoked, notice sent."""

from __future__ import annotations

import threading

from sqlalchemy import select

from mailer.extensions import db
from mailer.models import AuditEvent, Message, RefreshToken, User
from tests.helpers import PASSWORD, bearer, create_tenant, login_pair, mails_to, sign_up, text_of, token_in

NEW = "a different passw0rd"


def forgot(client, email, tenant="acme"):
    return client.post("/v1/auth/forgot-password", json={"tenant": tenant, "email": email})


def test_forgot_and_reset_password(app, client, smtp_server, worker, acme_ids):
    """The reset mail's link sets a new password, ends every session, mails a notice, logs nobody in."""
    sign_up(client, worker, smtp_server, "ann@example.com")
    old = login_pair(client, "ann@example.com")

    response = forgot(client, "Ann@Example.com")
    assert response.status_code == 202 and response.get_json() == {"status": "reset_requested"}
    worker()
    mail = mails_to(smtp_server, "ann@example.com")[-1]
    assert mail["Subject"] == "Reset your Acme password"
    assert "expires in 60 minutes" in text_of(mail)
    token = token_in(mail, "/reset-password")

    reset = client.post("/v1/auth/reset-password", json={"token": token, "password": NEW})
    assert reset.status_code == 200 and reset.get_json() == {"status": "password_reset"}  # no tokens: no auto-login

    assert client.get("/v1/auth/me", headers=bearer(old["access_token"])).status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": old["refresh_token"]}).status_code == 401
    wrong = client.post("/v1/auth/login", json={"tenant": "acme", "email": "ann@example.com", "password": PASSWORD})
    assert wrong.status_code == 401
    login_pair(client, "ann@example.com", NEW)

    worker()
    notice = mails_to(smtp_server, "ann@example.com")[-1]
    assert notice["Subject"] == "Your Acme password was changed"
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == "ann@example.com")).one()
        assert user.token_version == 2
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == user.id)).all()
        assert "password.reset_requested" in actions and "password.reset" in actions
        live = db.session.scalars(
            select(RefreshToken).where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        ).all()
        assert len(live) == 1  # only the session opened after the reset
        kinds = db.session.scalars(select(Message.kind).order_by(Message.created_at)).all()
        assert kinds[-2:] == ["password_reset", "password_changed"]


def test_reset_link_is_single_use(app, client, smtp_server, worker, acme_ids):
    sign_up(client, worker, smtp_server, "ann@example.com")
    forgot(client, "ann@example.com")
    worker()
    token = token_in(mails_to(smtp_server, "ann@example.com")[-1], "/reset-password")
    assert client.post("/v1/auth/reset-password", json={"token": token, "password": NEW}).status_code == 200
    again = client.post("/v1/auth/reset-password", json={"token": token, "password": "third password!"})
    assert again.status_code == 400 and again.get_json()["code"] == "invalid_token"
    login_pair(client, "ann@example.com", NEW)


def test_new_reset_request_voids_older_links(app, client, smtp_server, worker, acme_ids):
    sign_up(client, worker, smtp_server, "ann@example.com")
    forgot(client, "ann@example.com")
    worker()
    forgot(client, "ann@example.com")
    worker()
    first, second = (token_in(m, "/reset-password") for m in mails_to(smtp_server, "ann@example.com")[-2:])
    voided = client.post("/v1/auth/reset-password", json={"token": first, "password": NEW})
    assert voided.status_code == 400 and voided.get_json()["code"] == "invalid_token"
    assert client.post("/v1/auth/reset-password", json={"token": second, "password": NEW}).status_code == 200


def test_expired_reset_link(app_factory, redis, smtp_server):
    from tests.fixtures import Drainer

    short = app_factory(RESET_TOKEN_SECONDS=0)
    create_tenant(short, "acme", "admin@acme.test")
    client = short.test_client()
    forgot(client, "admin@acme.test")
    Drainer(short, redis)()
    token = token_in(mails_to(smtp_server, "admin@acme.test")[0], "/reset-password")
    response = client.post("/v1/auth/reset-password", json={"token": token, "password": NEW})
    assert response.status_code == 400 and response.get_json()["code"] == "token_expired"


def test_forgot_password_mails_only_existing_accounts(app, client, smtp_server, worker, acme_ids):
    for email, tenant in [("nobody@example.com", "acme"), ("admin@acme.test", "other"), ("x@example.com", "nope")]:
        response = forgot(client, email, tenant)
        assert response.status_code == 202 and response.get_json() == {"status": "reset_requested"}
    worker()
    assert smtp_server.messages == []
    with app.app_context():
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "password.reset_requested")).all() == []


def test_disabled_account_gets_no_reset_mail(app, client, smtp_server, worker, acme_ids):
    with app.app_context():
        db.session.scalars(select(User)).one().is_active = False
        db.session.commit()
    assert forgot(client, "admin@acme.test").status_code == 202
    worker()
    assert smtp_server.messages == []


def test_verification_token_cannot_reset_a_password(app, client, smtp_server, worker, acme_ids):
    """Tokens are purpose-bound: a verification link is not a reset link, and vice versa."""
    client.post("/v1/auth/register", json={"tenant": "acme", "email": "ann@example.com", "password": PASSWORD})
    forgot(client, "admin@acme.test")
    worker()
    verification = token_in(mails_to(smtp_server, "ann@example.com")[0], "/verify-email")
    reset = token_in(mails_to(smtp_server, "admin@acme.test")[0], "/reset-password")
    misuse = client.post("/v1/auth/reset-password", json={"token": verification, "password": NEW})
    assert misuse.status_code == 400 and misuse.get_json()["code"] == "invalid_token"
    misuse = client.post("/v1/auth/verify-email", json={"token": reset})
    assert misuse.status_code == 400 and misuse.get_json()["code"] == "invalid_token"
    # both still work for what they are for
    assert client.post("/v1/auth/verify-email", json={"token": verification}).status_code == 200
    assert client.post("/v1/auth/reset-password", json={"token": reset, "password": NEW}).status_code == 200


def test_reset_password_length_is_checked(app, client, smtp_server, worker, acme_ids):
    forgot(client, "admin@acme.test")
    worker()
    token = token_in(mails_to(smtp_server, "admin@acme.test")[0], "/reset-password")
    for password in ["short", "x" * 129]:
        response = client.post("/v1/auth/reset-password", json={"token": token, "password": password})
        assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "password"
    assert client.post("/v1/auth/reset-password", json={"token": token, "password": NEW}).status_code == 200


def test_concurrent_redemptions_give_exactly_one_success(app, client, smtp_server, worker, acme_ids):
    """Two threads redeem the same reset link at once: one 200, one 400 invalid_token, one version bump."""
    forgot(client, "admin@acme.test")
    worker()
    token = token_in(mails_to(smtp_server, "admin@acme.test")[0], "/reset-password")
    barrier = threading.Barrier(2)
    results: list[tuple[int, str | None, str]] = []

    def redeem(password: str) -> None:
        thread_client = app.test_client()
        barrier.wait()
        response = thread_client.post("/v1/auth/reset-password", json={"token": token, "password": password})
        results.append((response.status_code, (response.get_json() or {}).get("code"), password))

    threads = [threading.Thread(target=redeem, args=(p,)) for p in ("first password 1", "second password 2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r[:2] for r in results) == [(200, None), (400, "invalid_token")], results
    winner = next(r[2] for r in results if r[0] == 200)
    login_pair(client, "admin@acme.test", winner)
    with app.app_context():
        assert db.session.scalars(select(User)).one().token_version == 2
        assert db.session.scalar(select(db.func.count()).select_from(Message)
                                 .where(Message.kind == "password_changed")) == 1
