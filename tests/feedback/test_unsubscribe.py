"""One-click unsubscribe (RFC 8058): broadcast copies carry it, a POST suppresses for broadcasts, a GET changes
nothing, the mailto variant works through the receiver, and account mail is neither marked nor blocked."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import Tenant
from tests.feedback.rig import BOUNCE_DOMAIN, Receiver, outcomes, suppressions
from tests.fixtures import ReceivedMail, SmtpSink, add_users, drain

Admin = tuple[FlaskClient, dict[str, Any]]
LINK = re.compile(r"<http://mailer\.test/unsubscribe/([a-z2-7]+)>")


def _broadcast(app: Flask, redis: Redis, admin: Admin, subject: str = "News") -> dict[str, Any]:
    client, headers = admin
    response = client.post("/v1/broadcasts", json={"subject": subject, "text": "Hello {{ recipient.email }}",
                                                   "audience": {"roles": ["user"]}}, headers=headers)
    assert response.status_code == 202, response.get_json()
    drain(app, redis)
    return response.get_json()


def _copy_to(sink: SmtpSink, email: str, subject: str = "News") -> ReceivedMail:
    [mail] = [m for m in sink.messages if email in m.rcpt_tos and m.message["Subject"] == subject]
    return mail


@pytest.fixture
def members(bounce_app: Flask) -> list[str]:
    with bounce_app.app_context():
        tenant_id = str(db.session.scalars(select(Tenant.id)).one())
    emails = ["ann@example.com", "bob@example.com"]
    add_users(bounce_app, tenant_id, emails)
    return emails


def test_broadcast_copies_carry_one_click_headers_and_other_mail_does_not(
    bounce_app: Flask, redis: Redis, admin: Admin, smtp_server: SmtpSink, members: list[str],
) -> None:
    """List-Unsubscribe (https + mailto u-<token>) and List-Unsubscribe-Post on each copy, a token per recipient."""
    client, headers = admin
    _broadcast(bounce_app, redis, admin)
    ann, bob = (_copy_to(smtp_server, e).message for e in members)
    assert ann["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = LINK.search(ann["List-Unsubscribe"])
    assert link is not None and f"<mailto:u-{link.group(1)}@{BOUNCE_DOMAIN}>" in ann["List-Unsubscribe"]
    assert ann["List-Unsubscribe"] != bob["List-Unsubscribe"]
    client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "Receipt", "text": "x"}, headers=headers)
    drain(bounce_app, redis)
    receipt = _copy_to(smtp_server, "ann@example.com", "Receipt").message
    assert receipt["List-Unsubscribe"] is None and receipt["List-Unsubscribe-Post"] is None


def test_a_get_shows_a_button_and_changes_nothing(bounce_app: Flask, redis: Redis, admin: Admin,
                                                  smtp_server: SmtpSink, members: list[str]) -> None:
    """A link scanner's GET: 200 page with a POST form, no suppression, no event."""
    _broadcast(bounce_app, redis, admin)
    token = LINK.search(_copy_to(smtp_server, "ann@example.com").message["List-Unsubscribe"]).group(1)
    page = bounce_app.test_client().get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b'method="post"' in page.data and b'data-status="confirm"' in page.data
    assert page.headers["Cache-Control"] == "no-store"
    assert suppressions(bounce_app) == []


def test_one_click_post_unsubscribes_from_broadcasts_only(bounce_app: Flask, redis: Redis, admin: Admin,
                                                          smtp_server: SmtpSink, members: list[str]) -> None:
    """POST List-Unsubscribe=One-Click → 200, scope broadcast, audited; the next broadcast skips the address,
    a transactional message still reaches it; posting again changes nothing more."""
    client, headers = admin
    first = _broadcast(bounce_app, redis, admin)
    token = LINK.search(_copy_to(smtp_server, "ann@example.com").message["List-Unsubscribe"]).group(1)
    anonymous = bounce_app.test_client()
    response = anonymous.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and b'data-status="unsubscribed"' in response.data
    assert anonymous.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert suppressions(bounce_app) == [("ann@example.com", "broadcast", "unsubscribe")]
    [entry] = client.get("/v1/suppressions/ann@example.com", headers=headers).get_json()["items"]
    assert entry["source_message_id"] == first["id"]
    ann_row = next(r for r in client.get(f"/v1/messages/{first['id']}/recipients", headers=headers)
                   .get_json()["items"] if r["email"] == "ann@example.com")
    assert outcomes(bounce_app, ann_row["id"]) == ["sent", "unsubscribed"]
    audit = client.get("/v1/audit-events?action=suppression.created", headers=headers).get_json()
    assert audit["total"] == 1 and audit["items"][0]["details"]["reason"] == "unsubscribe"

    second = _broadcast(bounce_app, redis, admin, subject="More news")
    assert [m.rcpt_tos for m in smtp_server.messages if m.message["Subject"] == "More news"] == [["bob@example.com"]]
    rows = client.get(f"/v1/messages/{second['id']}/recipients", headers=headers).get_json()["items"]
    assert {r["email"]: r["error_code"] for r in rows} == {"ann@example.com": "suppressed", "bob@example.com": None}
    client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "Receipt", "text": "x"}, headers=headers)
    drain(bounce_app, redis)
    assert _copy_to(smtp_server, "ann@example.com", "Receipt")


def test_a_forged_token_is_refused_and_the_body_need_not_be_json(bounce_app: Flask, members: list[str]) -> None:
    """A made-up token → 404 page, nothing suppressed; the form body is never a 415."""
    response = bounce_app.test_client().post(f"/unsubscribe/{'a' * 42}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert suppressions(bounce_app) == []


def test_a_mail_to_the_u_address_unsubscribes(bounce_app: Flask, redis: Redis, admin: Admin, smtp_server: SmtpSink,
                                              receiver: Receiver, members: list[str]) -> None:
    """The mailto variant: a mail to u-<token>@BOUNCE_DOMAIN, through the receiver and a worker, unsubscribes."""
    _broadcast(bounce_app, redis, admin)
    header = _copy_to(smtp_server, "bob@example.com").message["List-Unsubscribe"]
    mailto = re.search(r"<mailto:([^>]+)>", header).group(1)
    code, _ = receiver.send(mailto, b"From: bob@example.com\r\nSubject: unsubscribe\r\n\r\n\r\n", "bob@example.com")
    assert code == 250
    drain(bounce_app, redis)
    assert suppressions(bounce_app) == [("bob@example.com", "broadcast", "unsubscribe")]
