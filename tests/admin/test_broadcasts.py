"""Broadcasts: audience of the caller's tenant, one personal mail each, bulk queue, retries of failures."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from tests.fixtures import add_users, mail_to, make_api_key
from tests.helpers import bearer


def test_300_recipient_broadcast_through_real_workers(
    app, client, acme_seeded, globex_seeded, smtp_server, worker, redis
):
    """Every matching user gets their own mail once; a rejected one fails alone; retry re-sends only it."""
    emails = [f"member{i:03}@acme.test" for i in range(298)]
    add_users(app, acme_seeded.tenant_id, emails, names=[f"Member {i}" for i in range(298)])
    add_users(app, globex_seeded.tenant_id, ["outsider@globex.test"])
    # Not a hard-bounce code (5.1.x would suppress the address): the retry below may send.
    smtp_server.handler.rcpt_replies["member150@acme.test"] = "550 5.2.2 Mailbox full"

    response = client.post("/v1/broadcasts", json={
        "subject": "News for {{ recipient.name }}", "text": "Dear {{ recipient.name }} ({{ recipient.email }}): "
        "{{ data.topic }} at {{ tenant.name }}", "html": "<p>{{ topic }} for {{ recipient.email }}</p>",
        "data": {"topic": "Q4 <results>"}, "audience": {"roles": ["user", "admin"], "verified_only": True},
    }, headers=acme_seeded.admin)
    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    assert accepted["status"] == "queued" and accepted["recipient_count"] == 300  # 298 + user + admin
    assert len(redis.lrange("rq:queue:bulk", 0, -1)) >= 1 and not redis.lrange("rq:queue:default", 0, -1)

    worker()

    assert len(smtp_server.messages) == 299
    assert not any("outsider@globex.test" in m.rcpt_tos for m in smtp_server.messages)
    mail = mail_to(smtp_server, "member007@acme.test")
    assert mail["Subject"] == "News for Member 7"
    assert mail["To"].addresses[0].addr_spec == "member007@acme.test"
    assert mail["From"].addresses[0].addr_spec == "news@acme.test"
    assert "Dear Member 7 (member007@acme.test): Q4 <results> at Acme" in mail.get_body(("plain",)).get_content()
    assert "Q4 &lt;results&gt; for member007@acme.test" in mail.get_body(("html",)).get_content()
    ids = {m.message["Message-ID"] for m in smtp_server.messages}
    assert len(ids) == 299  # each recipient's own Message-ID

    message = client.get(f"/v1/messages/{accepted['id']}", headers=acme_seeded.admin).get_json()
    assert message["kind"] == "broadcast" and message["status"] == "partially_failed"
    assert message["counts"]["sent"] == 299 and message["counts"]["failed"] == 1
    failed = client.get(f"/v1/messages/{accepted['id']}/recipients?status=failed", headers=acme_seeded.admin).get_json()
    assert failed["total"] == 1
    rejected = failed["items"][0]
    assert rejected["email"] == "member150@acme.test" and rejected["error_code"] == "recipient_rejected"
    assert rejected["smtp_code"] == 550
    page = client.get(
        f"/v1/messages/{accepted['id']}/recipients?per_page=100&page=3", headers=acme_seeded.admin
    ).get_json()
    assert page["total"] == 300 and len(page["items"]) == 100
    listed = client.get("/v1/messages?kind=broadcast", headers=acme_seeded.admin).get_json()
    assert [m["id"] for m in listed["items"]] == [accepted["id"]]

    # The mailbox exists again; retry re-queues only the failed recipient and keeps its history.
    del smtp_server.handler.rcpt_replies["member150@acme.test"]
    retried = client.post(f"/v1/messages/{accepted['id']}/retry", headers=acme_seeded.admin)
    assert retried.status_code == 202 and retried.get_json()["requeued"] == 1
    worker()
    assert len(smtp_server.messages) == 300
    mail_to(smtp_server, "member150@acme.test")
    final = client.get(f"/v1/messages/{accepted['id']}", headers=acme_seeded.admin).get_json()
    assert final["status"] == "sent" and final["counts"]["sent"] == 300
    detail = client.get(
        f"/v1/messages/{accepted['id']}/recipients/{rejected['id']}", headers=acme_seeded.admin
    ).get_json()
    assert [e["outcome"] for e in detail["events"]] == ["failed", "sent"]


def test_audience_filters_roles_verification_and_activity(app, client, acme_seeded, smtp_server, worker):
    add_users(app, acme_seeded.tenant_id, ["unverified@acme.test"], verified=False)
    add_users(app, acme_seeded.tenant_id, ["gone@acme.test"], active=False)
    add_users(app, acme_seeded.tenant_id, ["boss@acme.test"], role="admin")

    def audience(**filters):
        response = client.post("/v1/broadcasts", json={"subject": "s", "text": "t", "audience": filters},
                               headers=acme_seeded.admin)
        assert response.status_code == 202, response.get_json()
        return response.get_json()["recipient_count"]

    assert audience(roles=["admin"]) == 2
    assert audience(roles=["user"]) == 1
    assert audience(roles=["user"], verified_only=False) == 2
    assert audience() == 3
    worker()
    assert not any(set(m.rcpt_tos) & {"gone@acme.test"} for m in smtp_server.messages)


def test_broken_template_is_422_and_nothing_is_stored(app, client, acme_seeded):
    for body in (
        {"subject": "s", "text": "{{ recipient.nickname }}"},
        {"subject": "s", "text": "{% for %}"},
        {"template": "nope"},
        {"subject": "s"},
        {"subject": "s", "text": "t", "audience": {"roles": ["service"]}},
        {"subject": "s", "text": "t", "audience": {"roles": ["user"], "tenant_id": acme_seeded.tenant_id}},
        {"subject": "s", "text": "t", "to": ["x@evil.test"]},
    ):
        response = client.post("/v1/broadcasts", json=body, headers=acme_seeded.admin)
        assert response.status_code == 422, body
    with app.app_context():
        from mailer.extensions import db
        from mailer.models import Message, Recipient

        assert db.session.scalar(select(func.count()).select_from(Message)) == 0
        assert db.session.scalar(select(func.count()).select_from(Recipient)) == 0


def test_template_edits_do_not_change_a_broadcast_in_flight(client, acme_seeded, smtp_server, worker):
    client.put("/v1/templates/news", json={"subject": "Old {{ recipient.email }}", "text": "old {{ n }}"},
               headers=acme_seeded.admin)
    response = client.post("/v1/broadcasts", json={"template": "news", "data": {"n": 1},
                                                   "audience": {"roles": ["user"]}}, headers=acme_seeded.admin)
    assert response.status_code == 202, response.get_json()
    client.put("/v1/templates/news", json={"subject": "New", "text": "new"}, headers=acme_seeded.admin)
    client.delete("/v1/templates/news", headers=acme_seeded.admin)
    worker()
    mail = mail_to(smtp_server, "user@acme.test")
    assert mail["Subject"] == "Old user@acme.test"
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n").split("\n-- \n")[0].strip() == "old 1"


def test_builtin_broadcast_template(client, acme_seeded, smtp_server, worker):
    response = client.post("/v1/broadcasts", json={"template": "broadcast", "data": {
        "subject": "Maintenance tonight", "body": "We will be down.\n\nSorry."}, "audience": {"roles": ["user"]}},
        headers=acme_seeded.admin)
    assert response.status_code == 202, response.get_json()
    worker()
    mail = mail_to(smtp_server, "user@acme.test")
    assert mail["Subject"] == "Maintenance tonight"
    assert "Hello Uma User" in mail.get_body(("plain",)).get_content()
    assert "<p>Sorry.</p>" in mail.get_body(("html",)).get_content()


def test_only_admins_broadcast_and_retry(client, acme_seeded):
    service = bearer(make_api_key(client, acme_seeded.admin)["key"])
    body = {"subject": "s", "text": "t"}
    sent = client.post("/v1/messages", json={"to": ["a@example.com"], **body}, headers=acme_seeded.user).get_json()[
        "id"
    ]
    for headers in (acme_seeded.user, service):
        assert client.post("/v1/broadcasts", json=body, headers=headers).status_code == 403
        assert client.post(f"/v1/messages/{sent}/retry", headers=headers).status_code == 403


def test_users_see_recipients_of_their_own_messages_only(client, acme_seeded):
    mine = client.post("/v1/messages", json={"to": ["a@example.com"], "subject": "s", "text": "t"},
                       headers=acme_seeded.user).get_json()["id"]
    broadcast = client.post("/v1/broadcasts", json={"subject": "s", "text": "t"}, headers=acme_seeded.admin).get_json()[
        "id"
    ]
    assert client.get(f"/v1/messages/{mine}/recipients", headers=acme_seeded.user).get_json()["total"] == 1
    assert client.get(f"/v1/messages/{broadcast}/recipients", headers=acme_seeded.user).status_code == 404
    assert client.get(f"/v1/messages/{mine}/recipients", headers=acme_seeded.admin).status_code == 200
    assert client.get(f"/v1/messages/{uuid.uuid4()}/recipients", headers=acme_seeded.admin).status_code == 404


def test_a_recipient_whose_mail_cannot_be_built_fails_alone_as_invalid_message(app, client, acme_seeded, smtp_server,
                                                                                worker):
    """The template renders for the first member (checked up front) but not for one other: only that one fails."""
    add_users(app, acme_seeded.tenant_id, ["zed@acme.test"])
    response = client.post("/v1/broadcasts", json={
        "subject": "Hi", "text": "{% if recipient.email.startswith('zed') %}{{ not_given }}{% endif %}ok",
    }, headers=acme_seeded.admin)
    assert response.status_code == 202, response.get_json()
    worker()

    body = client.get(f"/v1/messages/{response.get_json()['id']}/recipients?per_page=100",
                      headers=acme_seeded.admin).get_json()
    by_email = {r["email"]: r for r in body["items"]}
    assert by_email["zed@acme.test"]["status"] == "failed"
    assert by_email["zed@acme.test"]["error_code"] == "invalid_message"
    others = [r for e, r in by_email.items() if e != "zed@acme.test"]
    assert others and all(r["status"] == "sent" for r in others)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == sorted(r["email"] for r in others)


def test_every_waiting_row_names_the_job_staged_for_it(app_factory, redis):
    """Each broadcast row the outbox staged carries its job's id in the COPY: DELIVERY_BATCH_SIZE rows a job,
    in position order, the suppressed rows in none; each enqueued job lists exactly the rows that name it."""
    from rq.job import Job

    from mailer.extensions import db
    from mailer.models import Recipient
    from tests.fixtures import seed

    app = app_factory(DELIVERY_BATCH_SIZE=4)
    client = app.test_client()
    acme = seed(app, client, "acme")
    add_users(app, acme.tenant_id, [f"member{i:02}@acme.test" for i in range(9)])
    for email in ("member03@acme.test", "member06@acme.test"):
        assert client.post("/v1/suppressions", json={"email": email, "reason": "manual"},
                           headers=acme.admin).status_code == 201
    response = client.post("/v1/broadcasts", json={"subject": "s", "text": "t"}, headers=acme.admin)
    assert response.status_code == 202, response.get_json()
    with app.app_context():
        rows = db.session.execute(select(Recipient.id, Recipient.email, Recipient.job_id)
                                  .where(Recipient.message_id == uuid.UUID(response.get_json()["id"]))
                                  .order_by(Recipient.position)).all()
    assert len(rows) == 11
    assert [row.job_id for row in rows if row.email in ("member03@acme.test", "member06@acme.test")] == [None, None]
    waiting = [row for row in rows if row.job_id is not None]
    assert len(waiting) == 9
    job_ids = list(dict.fromkeys(row.job_id for row in waiting))
    assert [sum(row.job_id == job_id for row in waiting) for job_id in job_ids] == [4, 4, 1]
    assert set(redis.lrange("rq:queue:bulk", 0, -1)) == {job_id.encode() for job_id in job_ids}
    for job_id in job_ids:
        assert Job.fetch(job_id, connection=redis).args[0] == [str(row.id) for row in waiting if row.job_id == job_id]
