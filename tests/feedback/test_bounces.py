"""A bounce, a delay, a complaint, end to end: VERP out through a real SMTP sink, the report back in through
the real receiver, processed by a real worker."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from mailer.mail.recipient_tokens import TokenKind, read_address, token_address
from tests.feedback import samples
from tests.feedback.rig import (
    BOUNCE_DOMAIN,
    Receiver,
    envelope_of,
    outcomes,
    recipient_row,
    report_statuses,
    send_and_deliver,
    suppressions,
)
from tests.fixtures import SmtpSink, drain
from tests.helpers import bearer, create_tenant, login

Admin = tuple[FlaskClient, dict[str, Any]]


def _sent(bounce_app: Flask, redis: Redis, admin: Admin, to: list[str]) -> dict[str, Any]:
    client, headers = admin
    message = send_and_deliver(bounce_app, redis, client, headers, to)
    assert all(r["status"] == "sent" for r in message["recipients"]), message
    return message


def _recipient(message: dict[str, Any], email: str) -> dict[str, Any]:
    return next(r for r in message["recipients"] if r["email"] == email)


def _bounce(bounce_app: Flask, redis: Redis, receiver: Receiver, smtp_server: SmtpSink, message: dict[str, Any],
            email: str, **dsn: Any) -> tuple[int, bytes]:
    verp = envelope_of(smtp_server, email)
    raw = samples.postfix_dsn(to=verp, verp=verp, recipient=email,
                              original_message_id=_recipient(message, email)["message_id"], **dsn)
    reply = receiver.send(verp, raw)
    drain(bounce_app, redis)
    return reply


def test_each_recipient_gets_its_own_signed_return_path(bounce_app: Flask, redis: Redis, admin: Admin,
                                                        smtp_server: SmtpSink) -> None:
    """With BOUNCE_DOMAIN, one transaction per recipient, MAIL FROM b-<token> naming that recipient's row."""
    message = _sent(bounce_app, redis, admin, ["ann@example.com", "bob@example.com"])
    assert len(smtp_server.messages) == 2
    for email in ("ann@example.com", "bob@example.com"):
        sender = envelope_of(smtp_server, email)
        assert sender.endswith(f"@{BOUNCE_DOMAIN}") and "example.com" not in sender.partition("@")[0]
        target = read_address(bounce_app.config["MAILER"], sender)
        assert target is not None and str(target.recipient_id) == _recipient(message, email)["id"]
    assert smtp_server.messages[0].data == smtp_server.messages[1].data  # same stored MIME for both copies


def test_without_bounce_domain_the_envelope_is_the_from_address(app: Flask, redis: Redis,
                                                                smtp_server: SmtpSink) -> None:
    """No BOUNCE_DOMAIN: today's behaviour, one transaction for all recipients from the From address."""
    create_tenant(app, mail_from="news@acme.test")
    client = app.test_client()
    send_and_deliver(app, redis, client, bearer(login(client, "acme", "admin@acme.test")),
                     ["ann@example.com", "bob@example.com"])
    [mail] = smtp_server.messages
    assert mail.mail_from == "news@acme.test" and sorted(mail.rcpt_tos) == ["ann@example.com", "bob@example.com"]


def test_a_dsn_bounces_the_recipient_suppresses_it_and_blocks_the_next_message(
    bounce_app: Flask, redis: Redis, admin: Admin, receiver: Receiver, smtp_server: SmtpSink,
) -> None:
    """Action failed 5.1.1 → bounced with the DSN's codes, a hard_bounce suppression; the next send is suppressed."""
    client, headers = admin
    message = _sent(bounce_app, redis, admin, ["gone@example.com"])
    code, _ = _bounce(bounce_app, redis, receiver, smtp_server, message, "gone@example.com")
    assert code == 250
    after = client.get(f"/v1/messages/{message['id']}", headers=headers).get_json()
    [recipient] = after["recipients"]
    assert recipient["status"] == "bounced" and recipient["error_code"] == "bounced"
    assert after["counts"]["bounced"] == 1 and after["status"] == "failed"
    detail = client.get(f"/v1/messages/{message['id']}/recipients/{recipient['id']}", headers=headers).get_json()
    bounced = detail["events"][-1]
    assert (bounced["outcome"], bounced["smtp_code"], bounced["enhanced_code"]) == ("bounced", 550, "5.1.1")
    assert "User unknown" in bounced["response"] and "mx.example.com" in bounced["response"]
    [entry] = client.get("/v1/suppressions/gone@example.com", headers=headers).get_json()["items"]
    assert (entry["scope"], entry["reason"], entry["enhanced_code"]) == ("all", "hard_bounce", "5.1.1")
    assert entry["source_message_id"] == message["id"]

    before = len(smtp_server.messages)
    again = client.post("/v1/messages", json={"to": ["gone@example.com", "ann@example.com"], "subject": "Again",
                                              "text": "x"}, headers=headers).get_json()
    assert {r["email"]: r["status"] for r in again["recipients"]} == {"gone@example.com": "failed",
                                                                     "ann@example.com": "queued"}
    drain(bounce_app, redis)
    assert [m.rcpt_tos for m in smtp_server.messages[before:]] == [["ann@example.com"]]
    blocked = _recipient(client.get(f"/v1/messages/{again['id']}", headers=headers).get_json(), "gone@example.com")
    assert (blocked["error_code"], blocked["attempts"]) == ("suppressed", 0)
    assert outcomes(bounce_app, blocked["id"]) == ["suppressed"]


def test_the_same_report_twice_records_one_event(bounce_app: Flask, redis: Redis, admin: Admin,
                                                 receiver: Receiver, smtp_server: SmtpSink) -> None:
    """A duplicate delivery of a report is accepted and processed, and changes nothing more."""
    message = _sent(bounce_app, redis, admin, ["gone@example.com"])
    _bounce(bounce_app, redis, receiver, smtp_server, message, "gone@example.com")
    _bounce(bounce_app, redis, receiver, smtp_server, message, "gone@example.com")
    rid = message["recipients"][0]["id"]
    assert outcomes(bounce_app, rid) == ["sent", "bounced"]
    assert suppressions(bounce_app) == [("gone@example.com", "all", "hard_bounce")]
    assert report_statuses(bounce_app) == ["processed", "processed"]
    assert redis.hget("mailer:metrics:feedback", "outcome|bounced") == b"1"


def test_a_policy_bounce_bounces_but_never_suppresses(bounce_app: Flask, redis: Redis, admin: Admin,
                                                      receiver: Receiver, smtp_server: SmtpSink) -> None:
    """5.7.1 (reputation/policy) → bounced, but no suppression: the address is fine."""
    message = _sent(bounce_app, redis, admin, ["ann@example.com"])
    _bounce(bounce_app, redis, receiver, smtp_server, message, "ann@example.com", status="5.7.1",
            diagnostic="smtp; 550 5.7.1 Message rejected due to local policy")
    assert recipient_row(bounce_app, message["recipients"][0]["id"]).status == "bounced"
    assert suppressions(bounce_app) == []


def test_a_delay_is_an_event_and_changes_no_status(bounce_app: Flask, redis: Redis, admin: Admin,
                                                   receiver: Receiver, smtp_server: SmtpSink) -> None:
    """Action delayed → event delayed with its 4.x.x status; the recipient stays sent."""
    message = _sent(bounce_app, redis, admin, ["ann@example.com"])
    _bounce(bounce_app, redis, receiver, smtp_server, message, "ann@example.com", action="delayed", status="4.4.1",
            diagnostic="X-Postfix; connect to mx.example.com[192.0.2.25]:25: Connection timed out")
    rid = message["recipients"][0]["id"]
    assert recipient_row(bounce_app, rid).status == "sent"
    assert outcomes(bounce_app, rid) == ["sent", "delayed"]
    assert suppressions(bounce_app) == []


def test_a_complaint_records_complained_and_suppresses(bounce_app: Flask, redis: Redis, admin: Admin,
                                                       receiver: Receiver, smtp_server: SmtpSink) -> None:
    """An ARF abuse report → event complained, suppression complaint (scope all); the status stays sent."""
    message = _sent(bounce_app, redis, admin, ["ann@example.com"])
    verp = envelope_of(smtp_server, "ann@example.com")
    receiver.send(verp, samples.arf_complaint(to=verp, recipient="ann@example.com",
                                              original_message_id=message["recipients"][0]["message_id"]))
    drain(bounce_app, redis)
    rid = message["recipients"][0]["id"]
    assert outcomes(bounce_app, rid) == ["sent", "complained"]
    assert recipient_row(bounce_app, rid).status == "sent"
    assert suppressions(bounce_app) == [("ann@example.com", "all", "complaint")]


def test_non_standard_bounces_work_through_the_whole_path(bounce_app: Flask, redis: Redis, admin: Admin,
                                                          receiver: Receiver, smtp_server: SmtpSink) -> None:
    """A qmail bounce to the VERP address bounces and suppresses its recipient."""
    message = _sent(bounce_app, redis, admin, ["gone@example.org"])
    verp = envelope_of(smtp_server, "gone@example.org")
    receiver.send(verp, samples.qmail_bounce(to=verp, recipient="gone@example.org",
                                             original_message_id=message["recipients"][0]["message_id"]))
    drain(bounce_app, redis)
    assert recipient_row(bounce_app, message["recipients"][0]["id"]).status == "bounced"
    assert suppressions(bounce_app) == [("gone@example.org", "all", "hard_bounce")]


def test_one_bounce_among_50_recipients_suppresses_only_that_one(bounce_app: Flask, redis: Redis, admin: Admin,
                                                                 receiver: Receiver, smtp_server: SmtpSink) -> None:
    """A 50-recipient message: the report for one copy touches that recipient alone."""
    to = [f"r{i:02}@example.com" for i in range(50)]
    message = _sent(bounce_app, redis, admin, to)
    _bounce(bounce_app, redis, receiver, smtp_server, message, "r17@example.com")
    statuses = {r.email: r.status for r in (recipient_row(bounce_app, x["id"]) for x in message["recipients"])}
    assert statuses.pop("r17@example.com") == "bounced" and set(statuses.values()) == {"sent"}
    assert suppressions(bounce_app) == [("r17@example.com", "all", "hard_bounce")]


def test_a_report_about_another_tenants_recipient_touches_nothing_of_theirs(
    bounce_app: Flask, redis: Redis, admin: Admin, receiver: Receiver, smtp_server: SmtpSink,
) -> None:
    """Acme's token with a DSN naming globex's recipient and Message-ID changes no globex row and no suppression."""
    create_tenant(bounce_app, "globex", "boss@globex.test")
    other = bounce_app.test_client()
    globex = send_and_deliver(bounce_app, redis, other, bearer(login(other, "globex", "boss@globex.test")),
                              ["target@example.net"])
    ours = _sent(bounce_app, redis, admin, ["a@example.com", "b@example.com"])
    verp = envelope_of(smtp_server, "a@example.com")
    theirs = globex["recipients"][0]
    raw = samples.multi_dsn(to=verp, verp=verp, original_message_id=theirs["message_id"],
                            failures=[("target@example.net", "5.1.1"), ("nobody@example.net", "5.1.1")])
    receiver.send(verp, raw)
    drain(bounce_app, redis)
    assert recipient_row(bounce_app, theirs["id"]).status == "sent"
    assert all(recipient_row(bounce_app, r["id"]).status == "sent" for r in ours["recipients"])
    assert suppressions(bounce_app) == [] and report_statuses(bounce_app) == ["unmatched"]


def test_an_unmatched_report_is_counted_and_changes_nothing(bounce_app: Flask, redis: Redis, admin: Admin,
                                                            receiver: Receiver, smtp_server: SmtpSink) -> None:
    """An auto-reply to a genuine VERP address: status unmatched, the metric counts it, the recipient stays sent."""
    message = _sent(bounce_app, redis, admin, ["ann@example.com"])
    verp = envelope_of(smtp_server, "ann@example.com")
    assert receiver.send(verp, samples.auto_reply(to=verp))[0] == 250
    drain(bounce_app, redis)
    assert report_statuses(bounce_app) == ["unmatched"]
    assert recipient_row(bounce_app, message["recipients"][0]["id"]).status == "sent"
    assert redis.hget("mailer:metrics:feedback", "report|unmatched") == b"1"
    scrape = bounce_app.test_client().get("/metrics").get_data(as_text=True)
    assert 'mailer_feedback_reports_total{status="unmatched"} 1.0' in scrape


def test_a_genuine_token_for_a_deleted_recipient_is_unmatched(bounce_app: Flask, redis: Redis,
                                                              receiver: Receiver) -> None:
    """A signed token whose row no longer exists (purged): accepted, unmatched, nothing changes."""
    import uuid
    verp = token_address(bounce_app.config["MAILER"], TokenKind.BOUNCE, uuid.uuid4())
    receiver.send(verp, samples.postfix_dsn(to=verp, verp=verp, recipient="x@example.com",
                                            original_message_id="<none@acme.test>"))
    drain(bounce_app, redis)
    assert report_statuses(bounce_app) == ["unmatched"] and suppressions(bounce_app) == []
