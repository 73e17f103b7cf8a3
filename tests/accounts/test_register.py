"""Sign-up and email verification, end to end through the worker and a real SMTP server."""

from __future__ import annotations

from sqlalchemy import select

from mailer.extensions import db
from mailer.models import ActionToken, AuditEvent, AuthRequest, Message, User
from tests.helpers import (
    PASSWORD,
    bearer,
    create_tenant,
    html_of,
    link_in,
    login_pair,
    mails_to,
    register,
    sign_up,
    text_of,
    token_in,
)


def test_sign_up_verify_and_log_in(app, client, smtp_server, worker, acme_ids):
    """A new address gets a verification mail; its link verifies the account; then login works."""
    response = register(client, "Ann@Example.COM", name="Ann")
    assert response.status_code == 202
    assert response.get_json() == {"status": "verification_sent"}
    worker()

    [mail] = mails_to(smtp_server, "ann@example.com")
    assert mail["Subject"] == "Confirm your email address for Acme"
    url = link_in(mail, "/verify-email")
    assert url.startswith("https://app.acme.test/verify-email?token=")
    assert url in html_of(mail)
    token = token_in(mail, "/verify-email")
    assert len(token) >= 43  # 32 random bytes, URL-safe base64

    unverified = client.post("/v1/auth/login", json={"tenant": "acme", "email": "ann@example.com",
                                                     "password": PASSWORD})
    assert unverified.status_code == 403 and unverified.get_json()["code"] == "email_not_verified"

    verified = client.post("/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200 and verified.get_json() == {"status": "verified"}

    access = login_pair(client, "ANN@example.com")["access_token"]
    me = client.get("/v1/auth/me", headers=bearer(access)).get_json()
    assert me["email"] == "ann@example.com" and me["name"] == "Ann" and me["role"] == "user"
    assert me["email_verified"] is True and me["tenant"]["slug"] == "acme"

    with app.app_context():
        message = db.session.scalars(select(Message).where(Message.kind == "verification")).one()
        assert (message.queue, message.creator_type, message.created_by) == ("critical", "system", None)
        assert message.status == "sent"
        audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "email.verified")).one()
        assert audit.actor_id == db.session.scalars(select(User.id).where(User.email == "ann@example.com")).one()


def test_verification_link_is_single_use(app, client, smtp_server, worker, acme_ids):
    assert register(client, "ann@example.com").status_code == 202
    worker()
    token = token_in(mails_to(smtp_server, "ann@example.com")[0], "/verify-email")
    assert client.post("/v1/auth/verify-email", json={"token": token}).status_code == 200
    again = client.post("/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 400 and again.get_json()["code"] == "invalid_token"


def test_unknown_verification_token_is_invalid(client, acme_ids):
    for token in ["x" * 43, "", "not a token", "a" * 5000]:
        response = client.post("/v1/auth/verify-email", json={"token": token})
        assert response.status_code in (400, 422)
        if response.status_code == 400:
            assert response.get_json()["code"] == "invalid_token"
    assert client.post("/v1/auth/verify-email", json={"token": "x" * 43}).get_json()["code"] == "invalid_token"


def test_expired_verification_token_then_resend(app_factory, redis, smtp_server):
    """An expired link gives token_expired; resend-verification mails a fresh one that works."""
    from tests.fixtures import Drainer

    short = app_factory(VERIFICATION_TOKEN_SECONDS=0)
    create_tenant(short, "acme", "admin@acme.test")
    client = short.test_client()
    assert register(client, "ann@example.com").status_code == 202
    Drainer(short, redis)()
    old = token_in(mails_to(smtp_server, "ann@example.com")[0], "/verify-email")
    expired = client.post("/v1/auth/verify-email", json={"token": old})
    assert expired.status_code == 400 and expired.get_json()["code"] == "token_expired"

    normal = app_factory()
    client = normal.test_client()
    resend = client.post("/v1/auth/resend-verification", json={"tenant": "acme", "email": "ann@example.com"})
    assert resend.status_code == 202
    Drainer(normal, redis)()
    mails = mails_to(smtp_server, "ann@example.com")
    assert len(mails) == 2
    fresh = token_in(mails[1], "/verify-email")
    assert fresh != old
    assert client.post("/v1/auth/verify-email", json={"token": fresh}).status_code == 200


def test_resend_only_mails_unverified_existing_accounts(app, client, smtp_server, worker, acme_ids):
    sign_up(client, worker, smtp_server, "ann@example.com")
    before = len(smtp_server.messages)
    for email in ["ann@example.com", "nobody@example.com", "admin@acme.test"]:
        response = client.post("/v1/auth/resend-verification", json={"tenant": "acme", "email": email})
        assert response.status_code == 202
    unknown_tenant = client.post("/v1/auth/resend-verification", json={"tenant": "nope", "email": "a@example.com"})
    assert unknown_tenant.status_code == 202 and unknown_tenant.get_json() == {"status": "verification_sent"}
    worker()
    assert len(smtp_server.messages) == before


def test_resend_voids_the_older_verification_link(app, client, smtp_server, worker, acme_ids):
    register(client, "ann@example.com")
    worker()
    client.post("/v1/auth/resend-verification", json={"tenant": "acme", "email": "ann@example.com"})
    worker()
    first, second = (token_in(m, "/verify-email") for m in mails_to(smtp_server, "ann@example.com"))
    assert client.post("/v1/auth/verify-email", json={"token": first}).get_json()["code"] == "invalid_token"
    assert client.post("/v1/auth/verify-email", json={"token": second}).status_code == 200


def test_existing_account_gets_account_exists_notice_with_working_reset_link(
    app, client, smtp_server, worker, acme_ids
):
    """Signing up with a taken address mails the owner a notice; the password is not changed."""
    sign_up(client, worker, smtp_server, "ann@example.com")
    response = register(client, "ANN@example.com", password="attacker-chosen-password")
    assert response.status_code == 202 and response.get_json() == {"status": "verification_sent"}
    worker()
    notice = mails_to(smtp_server, "ann@example.com")[-1]
    assert notice["Subject"] == "You already have an account with Acme"
    token = token_in(notice, "/reset-password")
    assert link_in(notice, "/reset-password").startswith("https://app.acme.test/reset-password?token=")

    assert client.post("/v1/auth/login", json={"tenant": "acme", "email": "ann@example.com",
                                               "password": "attacker-chosen-password"}).status_code == 401
    login_pair(client, "ann@example.com")
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(User).where(User.email == "ann@example.com")) == 1
        assert db.session.scalars(select(Message.kind).order_by(Message.created_at)).all()[-1] == "account_exists"

    reset = client.post("/v1/auth/reset-password", json={"token": token, "password": "brand new password"})
    assert reset.status_code == 200
    login_pair(client, "ann@example.com", "brand new password")


def test_pre_registered_unverified_address_cannot_be_hijacked(app, client, smtp_server, worker, acme_ids):
    """An attacker signs up with the victim's address first; the victim's later sign-up yields an
    'account exists' notice, and resetting from it gives the victim the account (verified)."""
    register(client, "victim@example.com", password="attacker-password")
    worker()
    register(client, "victim@example.com", password="victim-password")
    worker()
    _verification, notice = mails_to(smtp_server, "victim@example.com")
    assert notice["Subject"].startswith("You already have")
    token = token_in(notice, "/reset-password")
    reset = client.post("/v1/auth/reset-password", json={"token": token, "password": "victim-password"})
    assert reset.status_code == 200
    login_pair(client, "victim@example.com", "victim-password")
    assert client.post("/v1/auth/login", json={"tenant": "acme", "email": "victim@example.com",
                                               "password": "attacker-password"}).status_code == 401


def test_register_validation(client, acme_ids):
    cases = [
        ({"tenant": "nope", "email": "a@example.com", "password": PASSWORD}, "tenant"),
        ({"tenant": "acme", "email": "a@example.com", "password": "short"}, "password"),
        ({"tenant": "acme", "email": "a@example.com", "password": "x" * 129}, "password"),
        ({"tenant": "acme", "email": "not-an-address", "password": PASSWORD}, "email"),
        ({"tenant": "acme", "email": "a@example.com", "password": PASSWORD, "role": "admin"}, "role"),
        ({"tenant": "acme", "email": "a@example.com", "password": PASSWORD, "name": "A\r\nBcc: x@y"}, "name"),
    ]
    for body, field in cases:
        response = client.post("/v1/auth/register", json=body)
        assert response.status_code == 422, body
        assert response.content_type == "application/problem+json"
        assert field in [e["field"] for e in response.get_json()["errors"]], response.get_json()
    ok = client.post("/v1/auth/register", json={"tenant": "acme", "email": "a@example.com", "password": "x" * 128})
    assert ok.status_code == 202
    assert client.post("/v1/auth/register", data="{", content_type="application/json").status_code == 400
    assert client.post("/v1/auth/register", data="x", content_type="text/plain").status_code == 415


def test_links_come_from_configuration_not_the_host_header(app, client, smtp_server, worker):
    """Without a tenant frontend_url the link uses PUBLIC_BASE_URL, whatever Host the request named."""
    create_tenant(app, "plain", "admin@plain.test")
    response = client.post("/v1/auth/register", json={"tenant": "plain", "email": "ann@example.com",
                                                      "password": PASSWORD},
                           headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    assert response.status_code == 202
    worker()
    mail = mails_to(smtp_server, "ann@example.com")[0]
    assert link_in(mail, "/verify-email").startswith("http://mailer.test/verify-email?token=")
    assert "evil.example" not in mail.as_string()


def test_tenant_name_is_escaped_in_html(app, client, smtp_server, worker):
    create_tenant(app, "evil", "admin@evil.test")
    with app.app_context():
        from mailer.models import Tenant

        db.session.scalars(select(Tenant).where(Tenant.slug == "evil")).one().name = '<script>alert("x")</script>'
        db.session.commit()
    register(client, "ann@example.com", tenant="evil", name="<b>Ann</b>")
    worker()
    mail = mails_to(smtp_server, "ann@example.com")[0]
    html = html_of(mail)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>Ann</b>" not in html and "&lt;b&gt;Ann&lt;/b&gt;" in html
    assert '<script>alert("x")</script>' in text_of(mail)  # plain text is not HTML


def test_tenant_template_overrides_builtin_and_broken_one_falls_back(app, client, smtp_server, worker, acme_ids):
    import uuid

    from mailer.models import Template

    tenant_id = uuid.UUID(acme_ids["tenant_id"])
    with app.app_context():
        db.session.add(Template(tenant_id=tenant_id, name="verification", subject="Welcome to {{ tenant.name }}",
                                text="Click {{ verification_url }} within {{ expires_in_hours }}h", html=None))
        db.session.add(Template(tenant_id=tenant_id, name="password_reset", subject="Reset",
                                text="{{ no_such_variable }}", html=None))
        db.session.commit()
    register(client, "ann@example.com")
    client.post("/v1/auth/forgot-password", json={"tenant": "acme", "email": "admin@acme.test"})
    worker()
    mail = mails_to(smtp_server, "ann@example.com")[0]
    assert mail["Subject"] == "Welcome to Acme"
    assert "within 24h" in text_of(mail)
    assert client.post("/v1/auth/verify-email", json={"token": token_in(mail, "/verify-email")}).status_code == 200
    reset = mails_to(smtp_server, "admin@acme.test")[0]
    assert reset["Subject"] == "Reset your Acme password"  # the built-in one
    assert token_in(reset, "/reset-password")


def test_tokens_are_stored_only_as_hashes(app, client, smtp_server, worker, acme_ids):
    register(client, "ann@example.com")
    worker()
    token = token_in(mails_to(smtp_server, "ann@example.com")[0], "/verify-email")
    with app.app_context():
        import hashlib

        row = db.session.scalars(select(ActionToken)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.purpose == "verification"
        assert str(row.tenant_id) == acme_ids["tenant_id"]
        request_row = db.session.scalars(select(AuthRequest)).one()
        assert request_row.status == "done" and request_row.password_hash is None


def test_concurrent_sign_ups_of_one_address_make_one_account(app, client, smtp_server, worker, acme_ids):
    """Two sign-ups processed in one worker run: one account, one verification, one notice."""
    register(client, "ann@example.com")
    register(client, "ann@example.com")
    worker()
    kinds = sorted(m["Subject"].split()[0] for m in mails_to(smtp_server, "ann@example.com"))
    assert kinds == ["Confirm", "You"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(User).where(User.email == "ann@example.com")) == 1


def test_sign_ups_processed_in_parallel_make_one_account(app, client, smtp_server, worker, redis, acme_ids):
    """Two workers process two sign-ups of one address at the same moment: still one account,
    one verification mail and one 'account exists' notice (the loser of the unique key retries)."""
    import threading

    from mailer.accounts.notices import process_auth_request

    register(client, "ann@example.com")
    register(client, "ann@example.com")
    redis.flushdb()  # drop the queued jobs: the two threads below are the workers
    with app.app_context():
        rows = [(r.tenant_id, r.id) for r in db.session.scalars(select(AuthRequest))]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def process(tenant_id, request_id):
        try:
            with app.app_context():
                barrier.wait()
                process_auth_request(tenant_id, request_id)
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=process, args=row) for row in rows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    worker()
    subjects = sorted(m["Subject"].split()[0] for m in mails_to(smtp_server, "ann@example.com"))
    assert subjects == ["Confirm", "You"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(User).where(User.email == "ann@example.com")) == 1
        assert {r.status for r in db.session.scalars(select(AuthRequest))} == {"done"}


def test_a_strangers_name_cannot_carry_a_link_or_a_long_text_into_verification_mail(client, smtp_server, worker,
                                                                                    acme_ids):
    """L6: the sign-up name goes to an address the registrant need not own. A link-like name is left out of the
    mail (body and To), a long one is cut to 50 characters; the stored name stays as typed."""
    pitch = "Your account is locked, call +1 555 0100 now to keep it " * 3
    names = {"a@example.com": "Visit https://evil.example/login", "b@example.com": "see evil.example",
             "c@example.com": pitch.strip()[:200], "d@example.com": "Ann"}
    for email, name in names.items():
        assert register(client, email, name=name).status_code == 202
    worker()
    for email in ("a@example.com", "b@example.com"):
        [mail] = mails_to(smtp_server, email)
        assert "evil.example" not in str(mail) and text_of(mail).startswith("Hello,")
    [long_one] = mails_to(smtp_server, "c@example.com")
    assert pitch[:50].strip() in text_of(long_one) and pitch[:51] not in text_of(long_one)
    [ann] = mails_to(smtp_server, "d@example.com")
    assert text_of(ann).startswith("Hello Ann,") and "Ann" in str(ann["To"])
