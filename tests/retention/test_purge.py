"""Retention (API.md §11): finished mail past retention is purged, unfinished mail never, stats keep counting."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from mailer.extensions import db
from mailer.models import DeliveryEvent, DeliveryStat, Message, Recipient, Tenant
from mailer.retention.schedule import DAY_KEY, run_daily_purge
from tests.fixtures import add_users, drain
from tests.helpers import bearer, create_tenant, login


@pytest.fixture
def app(app_factory, sink):
    app = app_factory(SMTP_PORT=sink.port)  # default retry delays: a deferred recipient stays deferred
    create_tenant(app)
    create_tenant(app, "globex", "boss@globex.test")
    sink.handler.rcpt_replies.update({"bob@example.com": "550 5.1.1 no such user",
                                      "cat@example.com": "451 4.3.0 try again later"})
    return app


def _send(client, headers, to):
    response = client.post("/v1/messages", json={"to": [to], "subject": "Hi", "text": "Hello"}, headers=headers)
    assert response.status_code == 202
    return response.get_json()["id"]


def _age_everything(app, days):
    then = datetime.now(UTC) - timedelta(days=days)
    with app.app_context():
        db.session.execute(update(Message).values(created_at=then))
        db.session.execute(update(Recipient).values(created_at=then))
        db.session.commit()


def _count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _statuses(app):
    with app.app_context():
        return dict(db.session.execute(select(Recipient.email, Recipient.status)).tuples().all())


def test_purge_deletes_finished_mail_past_retention_and_leaves_a_deferred_message_of_the_same_age(app, redis):
    """Sent and failed mail 10 days old goes with its recipients and events under a 7-day retention; a
    deferred message just as old stays, and so does another tenant's mail under the default 30 days."""
    client = app.test_client()
    acme = bearer(login(client, "acme", "admin@acme.test"))
    globex = bearer(login(client, "globex", "boss@globex.test"))
    sent, failed, deferred = (_send(client, acme, to) for to in ("ann@example.com", "bob@example.com",
                                                                   "cat@example.com"))
    _send(client, globex, "ann@example.com")
    drain(app, redis)
    assert _statuses(app) == {"ann@example.com": "sent", "bob@example.com": "failed", "cat@example.com": "deferred"}
    _age_everything(app, 10)
    stats_before = client.get("/v1/stats", headers=acme).get_json()["last_30d"]
    assert client.patch("/v1/tenant", json={"retention_days": 7}, headers=acme).status_code == 200

    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["messages"], report["recipients"], report["by_tenant"]) == (2, 2, {"acme": 2})

    assert client.get(f"/v1/messages/{sent}", headers=acme).status_code == 404
    assert client.get(f"/v1/messages/{failed}", headers=acme).status_code == 404
    assert client.get(f"/v1/messages/{deferred}", headers=acme).get_json()["recipients"][0]["status"] == "deferred"
    assert client.get("/v1/messages", headers=globex).get_json()["total"] == 1
    assert _count(app, Recipient) == 2
    with app.app_context():
        remaining = set(db.session.scalars(select(DeliveryEvent.recipient_id)))
        assert remaining == set(db.session.scalars(select(Recipient.id)))
    stats_after = client.get("/v1/stats", headers=acme).get_json()["last_30d"]
    stats_before.pop("since"), stats_after.pop("since")
    assert stats_after == stats_before
    assert (stats_after["sent"], stats_after["failed"], stats_after["deferred"]) == (1, 1, 1)


def _sent_long_ago(app, redis, headers, days=31):
    _send(app.test_client(), headers, "ann@example.com")
    drain(app, redis)
    _age_everything(app, days)


def test_purge_is_idempotent_and_runs_daily_from_the_sweep_at_most_once(app, redis):
    """The daily hook purges on its first call of the day only; a second purge finds nothing more."""
    _sent_long_ago(app, redis, bearer(login(app.test_client(), "acme", "admin@acme.test")))
    redis.delete(DAY_KEY)  # the worker's own sweep may have had today's purge already
    with app.app_context():
        assert run_daily_purge() is True
        assert run_daily_purge() is False
    assert _count(app, Message) == 0
    assert _count(app, DeliveryStat) == 2  # one recipient hour, one message hour
    again = json.loads(app.test_cli_runner().invoke(args=["purge"]).stdout)
    assert again["messages"] == 0
    assert _count(app, DeliveryStat) == 2


def test_a_users_stats_keep_only_their_own_purged_mail(app, redis):
    """Archived counts keep the creator: a user's /v1/stats counts their own purged mail, not the admin's."""
    client = app.test_client()
    admin = bearer(login(client, "acme", "admin@acme.test"))
    with app.app_context():
        tenant_id = str(db.session.scalar(select(Tenant.id).where(Tenant.slug == "acme")))
    add_users(app, tenant_id, ["uma@acme.test"])
    user = bearer(login(client, "acme", "uma@acme.test"))
    _send(client, user, "ann@example.com")
    _sent_long_ago(app, redis, admin, days=10)
    assert client.patch("/v1/tenant", json={"retention_days": 1}, headers=admin).status_code == 200
    assert json.loads(app.test_cli_runner().invoke(args=["purge"]).stdout)["messages"] == 2
    assert client.get("/v1/stats", headers=admin).get_json()["last_30d"]["messages"]["sent"] == 2
    assert client.get("/v1/stats", headers=user).get_json()["last_30d"]["messages"]["sent"] == 1
    assert client.get("/v1/stats", headers=user).get_json()["last_24h"]["total"] == 0


@pytest.mark.parametrize(("value", "status"), [(0, 422), (31, 422), (1, 200), (30, 200), (None, 200)])
def test_retention_days_is_1_to_the_operators_ceiling(app, value, status):
    """PATCH /v1/tenant retention_days: 1..MESSAGE_RETENTION_DAYS, null for the default; GET shows the days kept."""
    client = app.test_client()
    headers = bearer(login(client, "acme", "admin@acme.test"))
    response = client.patch("/v1/tenant", json={"retention_days": value}, headers=headers)
    assert response.status_code == status, response.get_json()
    shown = client.get("/v1/tenant", headers=headers).get_json()["retention_days"]
    assert shown == (value if status == 200 and value is not None else 30)
    if status == 422:
        assert response.get_json()["errors"][0]["field"] == "retention_days"


def test_a_daily_purge_cut_short_by_its_budget_goes_on_at_the_next_sweep(app, redis, monkeypatch):
    """Out of time, the daily purge stops between transactions and leaves the day open; the next sweep finishes."""
    from mailer.retention import schedule

    _sent_long_ago(app, redis, bearer(login(app.test_client(), "acme", "admin@acme.test")))
    redis.delete(DAY_KEY)
    monkeypatch.setattr(schedule, "BUDGET_SECONDS", 0.0)
    with app.app_context():
        assert run_daily_purge() is True
    assert _count(app, Message) == 1 and not redis.exists(DAY_KEY)
    monkeypatch.setattr(schedule, "BUDGET_SECONDS", 60.0)
    with app.app_context():
        assert run_daily_purge() is True
    assert _count(app, Message) == 0 and redis.exists(DAY_KEY)
