"""Retention of account data (L18): old sign-up/reset requests (address, name, IP), and expired action and
refresh tokens are deleted by the purge; recent ones and pending requests stay."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select, update

from mailer.extensions import db
from mailer.models import ActionToken, AuthRequest, RefreshToken
from mailer.models.types import utcnow
from tests.fixtures import drain
from tests.helpers import create_tenant, login


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_the_purge_drops_old_auth_requests_and_expired_tokens(app, redis, smtp_server):
    create_tenant(app)
    client = app.test_client()
    for email in ("ann@example.com", "bob@example.com"):
        assert client.post("/v1/auth/register", json={"tenant": "acme", "email": email, "password": "pw-12345678",
                                                      "name": "Ann"}).status_code == 202
    client.post("/v1/auth/forgot-password", json={"tenant": "acme", "email": "admin@acme.test"})
    drain(app, redis)
    login(client, "acme", "admin@acme.test")
    login(client, "acme", "admin@acme.test")
    assert (_count(app, AuthRequest), _count(app, ActionToken), _count(app, RefreshToken)) == (3, 3, 2)
    days = app.config["MAILER"].MESSAGE_RETENTION_DAYS
    with app.app_context():
        old_request = db.session.scalars(select(AuthRequest.id).where(AuthRequest.email == "ann@example.com")).one()
        db.session.execute(update(AuthRequest).where(AuthRequest.id == old_request)
                           .values(created_at=utcnow() - timedelta(days=days + 1)))
        for model in (ActionToken, RefreshToken):
            first = db.session.scalars(select(model).limit(1)).one()
            first.expires_at = utcnow() - timedelta(days=2)
        db.session.commit()

    report = json.loads(app.test_cli_runner().invoke(args=["purge"]).stdout)
    assert report["auth_data"] == {"auth_requests": 1, "action_tokens": 1, "refresh_tokens": 1}
    assert (_count(app, AuthRequest), _count(app, ActionToken), _count(app, RefreshToken)) == (2, 2, 1)
    with app.app_context():
        assert "ann@example.com" not in db.session.scalars(select(AuthRequest.email)).all()
