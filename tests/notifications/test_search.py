"""GET /v1/messages?email=&since=&until=&subject= (API.md §11), on top of the existing filters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from mailer.extensions import db
from mailer.models import Message
from tests.helpers import bearer, create_tenant, login


def _send(client, headers, to, subject, **extra):
    response = client.post("/v1/messages", json={"to": to, "subject": subject, "text": "hi", **extra}, headers=headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def _found(client, headers, **query):
    response = client.get("/v1/messages", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["total"] == len(body["items"])
    return {item["id"] for item in body["items"]}


def _age(app, message_id, days):
    with app.app_context():
        message = db.session.get(Message, uuid.UUID(message_id))
        message.created_at = datetime.now(UTC) - timedelta(days=days)
        db.session.commit()


def test_email_matches_any_recipient_case_insensitively(fast_app):
    """email= finds messages with that address in to, cc or bcc, whatever its case; not substrings."""
    client = fast_app.test_client()
    headers = bearer(login(client, "acme", "admin@acme.test"))
    to_ann = _send(client, headers, ["Ann@Example.com"], "One")
    cc_ann = _send(client, headers, ["bob@example.com"], "Two", cc=["ann@example.com"])
    bcc_ann = _send(client, headers, ["cat@example.com"], "Three", bcc=["ANN@example.com"])
    _send(client, headers, ["joann@example.com"], "Four")
    assert _found(client, headers, email="aNN@example.COM") == {to_ann, cc_ann, bcc_ann}
    assert _found(client, headers, email="nobody@example.com") == set()


def test_since_until_and_subject_combine_with_the_other_filters(fast_app):
    """since ≤ created_at < until, subject is a case-insensitive substring with no wildcards, tag still applies."""
    client = fast_app.test_client()
    headers = bearer(login(client, "acme", "admin@acme.test"))
    old = _send(client, headers, ["a@example.com"], "Your invoice 100% paid", tags=["billing"])
    recent = _send(client, headers, ["a@example.com"], "Another INVOICE", tags=["billing"])
    other = _send(client, headers, ["a@example.com"], "Welcome_aboard")
    _age(fast_app, old, 10)
    now = datetime.now(UTC)
    assert _found(client, headers, subject="invoice") == {old, recent}
    assert _found(client, headers, subject="100%") == {old}
    assert _found(client, headers, subject="e_a") == {other}
    assert _found(client, headers, subject="%") == {old}  # a literal percent sign, not a wildcard
    assert _found(client, headers, since=(now - timedelta(days=1)).isoformat()) == {recent, other}
    assert _found(client, headers, until=(now - timedelta(days=1)).isoformat()) == {old}
    assert _found(client, headers, since=(now - timedelta(days=11)).isoformat(),
                  until=(now - timedelta(days=9)).isoformat(), tag="billing", subject="INVOICE") == {old}
    assert _found(client, headers, email="a@example.com", subject="welcome") == {other}


def test_bad_search_parameters_are_422(fast_app):
    """A time that is not ISO 8601, since after until, or an over-long address: 422 naming the field."""
    client = fast_app.test_client()
    headers = bearer(login(client, "acme", "admin@acme.test"))
    now = datetime.now(UTC)
    for query, field in [({"since": "yesterday"}, "since"),
                         ({"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()}, "body"),
                         ({"email": "a" * 321}, "email")]:
        response = client.get("/v1/messages", query_string=query, headers=headers)
        assert response.status_code == 422, query
        assert response.get_json()["errors"][0]["field"] == field


def test_search_sees_only_what_the_caller_may_see(fast_app):
    """Another tenant's mail to the same address, and for a user other users' mail, are never found."""
    create_tenant(fast_app, "globex", "boss@globex.test")
    client = fast_app.test_client()
    acme = bearer(login(client, "acme", "admin@acme.test"))
    globex = bearer(login(client, "globex", "boss@globex.test"))
    mine = _send(client, acme, ["shared@example.com"], "Hello")
    _send(client, globex, ["shared@example.com"], "Hello")
    assert _found(client, acme, email="shared@example.com", subject="hello") == {mine}
    with fast_app.app_context():
        assert len(db.session.scalars(select(Message)).all()) == 2
