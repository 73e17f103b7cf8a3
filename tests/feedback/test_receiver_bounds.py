"""The inbound receiver is bounded (API.md §8), through real SMTP sessions against the real aiosmtpd receiver:
one token named many times stores one report, one return path per transaction, 10 reports per token and a
limit per client address per hour (452 4.7.1), at most 1 MiB kept, a cap on concurrent sessions, processing
on the lowest queue, a cap on feedback events per recipient, and stored reports purged."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import func, select, update

from mailer.extensions import db
from mailer.mail.recipient_tokens import TokenKind, token_address
from mailer.models import InboundReport
from mailer.queues import get_queue
from tests.feedback import samples
from tests.feedback.rig import Receiver, envelope_of, outcomes, report_statuses, send_and_deliver
from tests.fixtures import SmtpSink, drain

MiB = 1024 * 1024


def _verp(app: Flask, rid: uuid.UUID | None = None) -> str:
    return token_address(app.config["MAILER"], TokenKind.BOUNCE, rid or uuid.uuid4())


def _stored(app: Flask) -> list[InboundReport]:
    with app.app_context():
        rows = list(db.session.scalars(select(InboundReport).order_by(InboundReport.received_at)))
        for row in rows:
            db.session.expunge(row)
        return rows


def test_one_token_named_50_times_stores_and_queues_one_report(bounce_app: Flask, receiver: Receiver,
                                                               redis: Redis) -> None:
    """RCPT 50 times of one token, then a 1 MiB DATA: one row (not 50), one job, on `bulk` (never the mail queue)."""
    verp = _verp(bounce_app)
    raw = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 1000
    with smtplib.SMTP(receiver.host, receiver.port, timeout=10) as client:
        client.ehlo("mx.example.net")
        client.mail("")
        assert {client.rcpt(verp)[0] for _ in range(50)} == {250}
        assert client.data(raw)[0] == 250
    [report] = _stored(bounce_app)
    assert len(report.raw) <= len(raw) + 100
    assert len(get_queue("bulk", redis).get_jobs()) == 1
    assert get_queue("default", redis).get_jobs() == []


def test_a_second_return_path_in_one_transaction_is_452_and_goes_separately(bounce_app: Flask,
                                                                            receiver: Receiver) -> None:
    """A report is mailed to one return path: a second token in the same transaction → 452 4.5.3, one row."""
    with smtplib.SMTP(receiver.host, receiver.port, timeout=10) as client:
        client.ehlo("mx.example.net")
        client.mail("")
        assert client.rcpt(_verp(bounce_app))[0] == 250
        code, text = client.rcpt(_verp(bounce_app))
        assert (code, text[:5]) == (452, b"4.5.3")
        assert client.data(samples.auto_reply(to="x"))[0] == 250
    assert len(_stored(bounce_app)) == 1


def test_at_most_10_reports_per_token_per_hour(bounce_app: Flask, receiver: Receiver) -> None:
    """Ten reports to one token are taken, the eleventh RCPT is 452 4.7.1; another token still gets through."""
    verp = _verp(bounce_app)
    for index in range(10):
        assert receiver.send(verp, samples.auto_reply(to=verp))[0] == 250, index
    code, text = receiver.send(verp, samples.auto_reply(to=verp))
    assert (code, text[:5]) == (452, b"4.7.1")
    assert receiver.send(_verp(bounce_app), samples.auto_reply(to="x"))[0] == 250
    assert len(_stored(bounce_app)) == 11


def test_reports_per_client_address_are_limited(bounce_app: Flask, receiver: Receiver, monkeypatch: Any) -> None:
    """Beyond the client's hourly limit (1 000; 5 here) every new token is 452 4.7.1 too."""
    monkeypatch.setattr("mailer.feedback.limits.REPORTS_PER_CLIENT_PER_HOUR", 5)
    codes = [receiver.send(_verp(bounce_app), samples.auto_reply(to="x"))[0] for _ in range(7)]
    assert codes == [250] * 5 + [452, 452]
    assert len(_stored(bounce_app)) == 5


def test_a_stored_report_keeps_at_most_1_mib(bounce_app: Flask, receiver: Receiver) -> None:
    """A 3 MiB report (under the 10 MiB refusal) is accepted, and what is stored is its first MiB."""
    raw = samples.auto_reply(to="x") + (b"y" * 998 + b"\r\n") * 3 * 1050
    assert len(raw) > 3 * MiB
    assert receiver.send(_verp(bounce_app), raw)[0] == 250
    [report] = _stored(bounce_app)
    assert len(report.raw) == MiB
    assert report.raw.startswith(b"From: Ann")


def test_concurrent_sessions_from_one_client_are_capped(bounce_app: Flask, receiver: Receiver,
                                                        monkeypatch: Any) -> None:
    """With the per-client cap at 2, a third open session is greeted 421 4.7.0 and closed; once one ends, a new
    session is welcome again."""
    monkeypatch.setattr("mailer.feedback.limits.MAX_SESSIONS_PER_CLIENT", 2)
    first = smtplib.SMTP(receiver.host, receiver.port, timeout=10)
    second = smtplib.SMTP(receiver.host, receiver.port, timeout=10)
    try:
        with socket.create_connection((receiver.host, receiver.port), timeout=5) as third:
            greeting = third.recv(200)
            assert greeting.startswith(b"421 4.7.0"), greeting
            third.settimeout(5)
            assert third.recv(200) == b""  # closed: no 220 greeting follows
        first.quit()
        with smtplib.SMTP(receiver.host, receiver.port, timeout=10) as again:
            assert again.noop()[0] == 250
    finally:
        for client in (first, second):
            with contextlib.suppress(smtplib.SMTPException):
                client.quit()


def test_feedback_events_per_recipient_are_capped(bounce_app: Flask, redis: Redis,
                                                  admin: tuple[FlaskClient, dict[str, Any]], receiver: Receiver,
                                                  smtp_server: SmtpSink, monkeypatch: Any) -> None:
    """A token holder mailing delay reports with ever new Message-IDs adds at most the cap (20; 3 here) of events;
    the rest are unmatched and change nothing."""
    monkeypatch.setattr("mailer.feedback.processing.MAX_FEEDBACK_PER_RECIPIENT", 3)
    client, headers = admin
    message = send_and_deliver(bounce_app, redis, client, headers, ["ann@example.com"])
    [row] = message["recipients"]
    verp = envelope_of(smtp_server, "ann@example.com")
    for index in range(5):
        raw = samples.postfix_dsn(to=verp, verp=verp, recipient="ann@example.com", action="delayed", status="4.4.1",
                                  original_message_id=row["message_id"], report_id=f"<delay-{index}@mx.example.net>")
        assert receiver.send(verp, raw)[0] == 250
    drain(bounce_app, redis)
    assert outcomes(bounce_app, row["id"]) == ["sent"] + ["delayed"] * 3
    assert sorted(report_statuses(bounce_app)) == ["processed"] * 3 + ["unmatched"] * 2


def test_stored_reports_are_purged_with_their_message_or_after_retention(
    bounce_app: Flask, redis: Redis, admin: tuple[FlaskClient, dict[str, Any]], receiver: Receiver,
    smtp_server: SmtpSink,
) -> None:
    """The daily purge: a report whose recipient was purged goes with it; an unmatched one (a token for no row)
    goes after MESSAGE_RETENTION_DAYS; a fresh report of a live recipient stays."""
    from mailer.models import Message
    from mailer.models.types import utcnow
    from mailer.retention.run import purge_now

    client, headers = admin
    old = send_and_deliver(bounce_app, redis, client, headers, ["old@example.com"])
    live = send_and_deliver(bounce_app, redis, client, headers, ["live@example.com"])
    for email in ("old@example.com", "live@example.com"):
        verp = envelope_of(smtp_server, email)
        assert receiver.send(verp, samples.auto_reply(to=verp))[0] == 250
    stray = _verp(bounce_app)
    assert receiver.send(stray, samples.auto_reply(to=stray))[0] == 250
    drain(bounce_app, redis)
    config = bounce_app.config["MAILER"]
    with bounce_app.app_context():
        long_ago = utcnow() - timedelta(days=config.MESSAGE_RETENTION_DAYS + 1)
        db.session.execute(update(Message).where(Message.id == uuid.UUID(old["id"])).values(created_at=long_ago))
        db.session.execute(update(InboundReport).where(InboundReport.recipient_id.not_in(
            [uuid.UUID(old["recipients"][0]["id"]), uuid.UUID(live["recipients"][0]["id"])]))
            .values(received_at=long_ago))
        db.session.commit()
        result = purge_now(config)
        assert result["inbound_reports"] == 2
        [kept] = db.session.scalars(select(InboundReport.recipient_id)).all()
        assert str(kept) == live["recipients"][0]["id"]
        assert db.session.scalar(select(func.count()).select_from(InboundReport)) == 1
