"""What feedback tests share beyond their fixtures: the inbound receiver run in this process, sending and
delivering, and reading back rows, outcomes and suppressions."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select

from mailer.extensions import db
from mailer.feedback.receiver import make_controller
from mailer.models import DeliveryEvent, InboundReport, Recipient, Suppression
from tests.fixtures import SmtpSink, drain, free_port

BOUNCE_DOMAIN = "bounces.mailer.test"


@dataclass
class Receiver:
    host: str
    port: int

    def send(self, rcpt: str, raw: bytes, mail_from: str = "") -> tuple[int, bytes]:
        """One SMTP transaction; (code, text) of the first refusal, or of the reply to the data."""
        with smtplib.SMTP(self.host, self.port, timeout=10) as client:
            client.ehlo("mx.example.net")
            client.mail(mail_from)
            code, text = client.rcpt(rcpt)
            if code != 250:
                return code, text
            return client.data(raw)


@contextmanager
def running_receiver(app: Flask) -> Iterator[Receiver]:
    """The real inbound receiver of ``app`` on a free loopback port, for the duration of the block."""
    port = free_port()
    controller = make_controller(app, "127.0.0.1", port)
    controller.start()
    try:
        yield Receiver("127.0.0.1", port)
    finally:
        controller.stop()


def send_and_deliver(app: Flask, redis: Redis, client: FlaskClient, headers: dict[str, Any], to: list[str],
                     **extra: Any) -> dict[str, Any]:
    """POST /v1/messages and run the workers; the message as GET /v1/messages/{id} shows it."""
    response = client.post("/v1/messages", json={"to": to, "subject": "Hello", "text": "Hi", **extra},
                           headers=headers)
    assert response.status_code == 202, response.get_json()
    drain(app, redis)
    return client.get(f"/v1/messages/{response.get_json()['id']}", headers=headers).get_json()


def envelope_of(sink: SmtpSink, address: str) -> str:
    """The MAIL FROM the sink saw for the copy sent to ``address``."""
    [mail] = [m for m in sink.messages if address in m.rcpt_tos]
    return mail.mail_from


def recipient_row(app: Flask, recipient_id: str | uuid.UUID) -> Recipient:
    with app.app_context():
        db.session.expire_all()
        row = db.session.get(Recipient, uuid.UUID(str(recipient_id)))
        assert row is not None
        db.session.expunge(row)
        return row


def outcomes(app: Flask, recipient_id: str | uuid.UUID) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(DeliveryEvent.outcome).where(
            DeliveryEvent.recipient_id == uuid.UUID(str(recipient_id))).order_by(DeliveryEvent.at)))


def suppressions(app: Flask) -> list[tuple[str, str, str]]:
    with app.app_context():
        return sorted((s.email, s.scope, s.reason) for s in db.session.scalars(select(Suppression)))


def report_statuses(app: Flask) -> list[str]:
    with app.app_context():
        db.session.expire_all()
        return [r.status for r in db.session.scalars(select(InboundReport).order_by(InboundReport.received_at))]
