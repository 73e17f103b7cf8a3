"""Register, resend-verification and forgot-password answer the same, byte for byte, whether or
not the account exists; the work is keyed by ids in the worker, and survives Redis being down."""

from __future__ import annotations

from rq import Queue
from sqlalchemy import select

from mailer.accounts.pending import enqueue_pending_auth_work
from mailer.extensions import db
from mailer.models import AuthRequest
from tests.helpers import PASSWORD, create_tenant, mails_to, sign_up, token_in

SAME_ID = {"X-Request-ID": "same-request-id"}


def post(client, path, body):
    return client.post(path, json=body, headers=SAME_ID)


# These count the caller's requests (per IP, in order), whatever the address: not an oracle.
REQUEST_COUNTERS = {"X-RateLimit-Remaining", "X-RateLimit-Reset"}


def assert_identical(first, second):
    assert first.status_code == second.status_code == 202
    assert first.data == second.data

    def headers(response):
        return sorted((k, v) for k, v in response.headers.items() if k not in REQUEST_COUNTERS)

    assert headers(first) == headers(second)


def test_forgot_password_answers_are_byte_identical(app, client, smtp_server, worker, acme_ids):
    sign_up(client, worker, smtp_server, "ann@example.com")
    known = post(client, "/v1/auth/forgot-password", {"tenant": "acme", "email": "ann@example.com"})
    unknown = post(client, "/v1/auth/forgot-password", {"tenant": "acme", "email": "nobody@example.com"})
    other_tenant = post(client, "/v1/auth/forgot-password", {"tenant": "nope", "email": "ann@example.com"})
    assert_identical(known, unknown)
    assert_identical(known, other_tenant)
    assert known.get_json() == {"status": "reset_requested"}


def test_register_answers_are_byte_identical(app, client, smtp_server, worker, acme_ids):
    sign_up(client, worker, smtp_server, "ann@example.com")
    existing = post(client, "/v1/auth/register", {"tenant": "acme", "email": "ann@example.com", "password": PASSWORD})
    new = post(client, "/v1/auth/register", {"tenant": "acme", "email": "bob@example.com", "password": PASSWORD})
    assert_identical(existing, new)
    assert new.get_json() == {"status": "verification_sent"}


def test_resend_answers_are_byte_identical(app, client, smtp_server, worker, acme_ids):
    client.post("/v1/auth/register", json={"tenant": "acme", "email": "ann@example.com", "password": PASSWORD})
    unverified = post(client, "/v1/auth/resend-verification", {"tenant": "acme", "email": "ann@example.com"})
    verified = post(client, "/v1/auth/resend-verification", {"tenant": "acme", "email": "admin@acme.test"})
    unknown = post(client, "/v1/auth/resend-verification", {"tenant": "acme", "email": "nobody@example.com"})
    assert_identical(unverified, verified)
    assert_identical(unverified, unknown)


def test_request_path_does_the_same_work_for_known_and_unknown_addresses(app, client, redis, acme_ids):
    """Both answers leave exactly one stored request and one queued job carrying two ids."""
    for email in ("admin@acme.test", "nobody@example.com"):
        client.post("/v1/auth/forgot-password", json={"tenant": "acme", "email": email})
    queue = Queue("critical", connection=redis)  # RQ's default serializer, as a bare worker and rq-dashboard read it
    jobs = queue.get_jobs()
    assert [job.func_name for job in jobs] == ["mailer.worker.jobs.process_auth_request"] * 2
    with app.app_context():
        rows = db.session.scalars(select(AuthRequest).order_by(AuthRequest.created_at)).all()
        assert [list(job.args) for job in jobs] == [[str(r.tenant_id), str(r.id)] for r in rows]
        assert [r.kind for r in rows] == ["forgot_password", "forgot_password"]


def test_redis_down_still_answers_202_and_the_sweeper_hook_catches_up(app_factory, app, smtp_server, worker):
    """With Redis unreachable the answers stay the same; the pending rows are enqueued later."""
    create_tenant(app, "acme", "admin@acme.test")
    down = app_factory(REDIS_URL="redis://127.0.0.1:1/0").test_client()
    up = app.test_client()
    answers = [
        post(down, "/v1/auth/register", {"tenant": "acme", "email": "ann@example.com", "password": PASSWORD}),
        post(up, "/v1/auth/register", {"tenant": "acme", "email": "bob@example.com", "password": PASSWORD}),
    ]
    assert_identical(*answers)
    assert_identical(post(down, "/v1/auth/forgot-password", {"tenant": "acme", "email": "admin@acme.test"}),
                     post(up, "/v1/auth/forgot-password", {"tenant": "acme", "email": "x@example.com"}))
    worker()
    assert mails_to(smtp_server, "ann@example.com") == [] and len(mails_to(smtp_server, "bob@example.com")) == 1

    with app.app_context():
        assert enqueue_pending_auth_work() == 0  # too fresh: their jobs may still be on their way
        assert enqueue_pending_auth_work(min_age_seconds=0) == 2
    worker()
    token = token_in(mails_to(smtp_server, "ann@example.com")[0], "/verify-email")
    assert up.post("/v1/auth/verify-email", json={"token": token}).status_code == 200
    assert token_in(mails_to(smtp_server, "admin@acme.test")[0], "/reset-password")
    with app.app_context():
        assert {r.status for r in db.session.scalars(select(AuthRequest))} == {"done"}
        assert enqueue_pending_auth_work(min_age_seconds=0) == 0


def test_sweeps_never_multiply_a_waiting_requests_job_and_replace_a_lost_one(app, client, redis, smtp_server,
                                                                             worker, acme_ids):
    """L4: while a request's job waits in Redis, sweep after sweep adds none; once the job is lost, the next
    sweep enqueues exactly one; the mail goes once."""
    client.post("/v1/auth/forgot-password", json={"tenant": "acme", "email": "admin@acme.test"})
    with app.app_context():
        assert [enqueue_pending_auth_work(min_age_seconds=0) for _ in range(5)] == [0] * 5
        assert redis.llen("rq:queue:critical") == 1
        redis.flushdb()  # the job is lost (a Redis restart without persistence)
        assert [enqueue_pending_auth_work(min_age_seconds=0) for _ in range(3)] == [1, 0, 0]
        assert redis.llen("rq:queue:critical") == 1
    worker()
    assert len(mails_to(smtp_server, "admin@acme.test")) == 1


def test_stale_pending_requests_expire(app, client, smtp_server, worker, acme_ids):
    from datetime import timedelta

    from mailer.models.types import utcnow

    client.post("/v1/auth/register", json={"tenant": "acme", "email": "ann@example.com", "password": PASSWORD})
    with app.app_context():
        row = db.session.scalars(select(AuthRequest)).one()
        row.created_at = utcnow() - timedelta(days=2)
        db.session.commit()
        assert enqueue_pending_auth_work(min_age_seconds=0) == 0
        row = db.session.scalars(select(AuthRequest)).one()
        assert row.status == "expired" and row.password_hash is None
    worker()  # the original job finds the row no longer pending
    assert smtp_server.messages == []
