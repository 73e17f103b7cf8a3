"""Template bombs in the worker: a broadcast template that blows up for one member fails that member
alone, for good and counted; a bad override of an account template cannot hold up the critical queue."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import select

from mailer.extensions import db
from mailer.models import Recipient
from tests.helpers import mails_to, register, sign_up, text_of

RECURSION = "{% macro f(n) %}{{ f(n+1) }}{% endmacro %}"


def test_a_broadcast_template_that_blows_up_for_one_member_fails_only_that_member(
        app, client, smtp_server, worker, admin):
    """The first-member probe passes; in the worker the bomb member is failed invalid_message, once."""
    sign_up(client, worker, smtp_server, "bob@example.com")
    sign_up(client, worker, smtp_server, "cy@example.com")
    text = RECURSION + "{% if recipient.email == 'bob@example.com' %}{{ f(0) }}{% else %}hi{% endif %}"
    response = client.post("/v1/broadcasts", json={"subject": "news", "text": text,
                                                   "audience": {"roles": ["user", "admin"]}}, headers=admin)
    assert response.status_code == 202, response.get_json()
    worker()
    worker()  # a second pass (and the sweeper's view of what is due) finds nothing left to do
    with app.app_context():
        rows = {r.email: r for r in db.session.scalars(select(Recipient).where(
            Recipient.message_id == uuid.UUID(response.get_json()["id"])))}
        assert rows["bob@example.com"].status == "failed"
        assert rows["bob@example.com"].error_code == "invalid_message"
        assert rows["bob@example.com"].next_attempt_at is None
        assert {rows[e].status for e in ("admin@acme.test", "cy@example.com")} == {"sent"}
    assert len(mails_to(smtp_server, "bob@example.com")) == 1  # the verification mail only


def test_a_slow_verification_override_does_not_stall_the_critical_queue(app, client, smtp_server, worker, admin):
    """A spinning override of `verification` costs its short budget once; the built-in mail goes out."""
    spin = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}{{ verification_url }}"
    assert client.put("/v1/templates/verification", json={"subject": "Verify", "text": spin},
                      headers=admin).status_code in (200, 201)
    for n in range(3):
        assert register(client, f"user{n}@example.com").status_code == 202
    started = time.monotonic()
    worker(("critical",))
    took = time.monotonic() - started
    for n in range(3):
        (mail,) = mails_to(smtp_server, f"user{n}@example.com")
        assert "/verify-email?token=" in text_of(mail)
    assert took < 6.0  # three jobs; the override's 0.5 s budget is spent once, then it is skipped
