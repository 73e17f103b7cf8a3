"""SMTP submission's sender check (API.md §13 with §10's rule) reads a tenant's domains once per domains_version:
a domain verified, failed or deleted through the domain service is seen by the very next message, and while
nothing changed no message asks the database for them again."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from mailer.extensions import db
from mailer.mail.submitted import SenderRefusedError, Submission
from mailer.models import Message, Tenant
from mailer.notifications.submission_service import may_submit_as, store_submitted
from mailer.security.api_keys import new_api_key, resolve_api_key
from mailer.security.types import Principal
from tests.domains.conftest import dkim_record, dkim_verifies, verified_domain, verify
from tests.domains.dnsserver import DnsServer


def _principal(app: Flask, slug: str) -> Principal:
    with app.app_context():
        tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        _, secret = new_api_key(tenant_id, "smtp", None)
        db.session.commit()
        principal = resolve_api_key(secret)
        db.session.remove()
    assert principal is not None
    return principal


def _submitted(sender: str) -> Submission:
    raw = f"From: Shop <{sender}>\r\nTo: ann@example.com\r\nSubject: Receipt\r\n\r\nThanks.\r\n".encode()
    return Submission(sender, ("ann@example.com",), raw, "client.test", "127.0.0.1", "mailer.test")


def _store(app: Flask, principal: Principal, sender: str) -> dict[str, Any] | Exception:
    with app.app_context():
        try:
            [result] = store_submitted([(principal, _submitted(sender))])
            return result
        finally:
            db.session.remove()


@contextmanager
def _domain_reads(app: Flask) -> Iterator[list[str]]:
    """The statements this thread sends that read sending_domains."""
    seen: list[str] = []
    me = threading.current_thread()

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.current_thread() is me and "FROM sending_domains" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_domain_is_usable_while_verified_and_refused_at_the_next_message_once_it_fails(
        app: Flask, client: FlaskClient, acme: dict[str, Any], dns_server: DnsServer) -> None:
    principal = _principal(app, "acme")
    refused = _store(app, principal, "hello@shop.test")  # not a domain of the tenant yet
    assert isinstance(refused, SenderRefusedError)
    domain = verified_domain(client, acme, dns_server, "shop.test")

    with _domain_reads(app) as reads:
        first = _store(app, principal, "hello@shop.test")
        assert isinstance(first, dict), first
        assert len(reads) == 1  # a new domains_version: read once
        second = _store(app, principal, "orders@shop.test")
        assert isinstance(second, dict), second
        with app.app_context():
            assert may_submit_as(principal, "hello@shop.test")  # MAIL's check shares what was read
            db.session.remove()
        assert len(reads) == 1  # nothing changed: the next group and MAIL do not read them again

    with app.app_context():
        stored = db.session.get(Message, uuid.UUID(first["id"]))
        assert stored is not None and dkim_verifies(stored.raw_mime, dns_server)  # signed with the domain's key
        db.session.remove()

    dns_server.withdraw(dkim_record(domain)["name"])
    assert verify(client, acme, domain["id"])["status"] != "verified"
    assert isinstance(_store(app, principal, "hello@shop.test"), SenderRefusedError)
    with app.app_context():
        assert not may_submit_as(principal, "hello@shop.test")
        db.session.remove()


def test_a_deleted_domain_is_refused_at_the_next_message(app: Flask, client: FlaskClient, acme: dict[str, Any],
                                                         dns_server: DnsServer) -> None:
    principal = _principal(app, "acme")
    domain = verified_domain(client, acme, dns_server, "shop.test")
    assert isinstance(_store(app, principal, "hello@shop.test"), dict)
    assert client.delete(f"/v1/domains/{domain['id']}", headers=acme).status_code == 204
    assert isinstance(_store(app, principal, "hello@shop.test"), SenderRefusedError)
