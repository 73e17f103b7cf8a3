"""A `b-` token speaks for its own recipient only (API.md §8): forged DSN and ARF reports that name the other
recipients of the same message, with its real Message-ID, bounce and suppress nobody but the token's own."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from tests.feedback import samples
from tests.feedback.rig import (
    Receiver,
    envelope_of,
    outcomes,
    recipient_row,
    report_statuses,
    send_and_deliver,
    suppressions,
)
from tests.fixtures import SmtpSink, drain

Admin = tuple[FlaskClient, dict[str, Any]]
PEOPLE = ["ann@example.com", "bob@example.com", "carl@example.com"]


def _sent(bounce_app: Flask, redis: Redis, admin: Admin) -> dict[str, dict[str, Any]]:
    """A message to Ann with Bob in Cc and Carl in Bcc: one shared Message-ID, as custom messages have."""
    client, headers = admin
    message = send_and_deliver(bounce_app, redis, client, headers, ["ann@example.com"], cc=["bob@example.com"],
                               bcc=["carl@example.com"])
    rows = {r["email"]: r for r in message["recipients"]}
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert len({r["message_id"] for r in rows.values()}) == 1  # the Message-ID every copy shows
    return rows


def _untouched(bounce_app: Flask, rows: dict[str, dict[str, Any]], *emails: str) -> None:
    for email in emails:
        assert recipient_row(bounce_app, rows[email]["id"]).status == "sent", email
        assert outcomes(bounce_app, rows[email]["id"]) == ["sent"], email


def test_a_forged_dsn_naming_the_other_recipients_bounces_none_of_them(
    bounce_app: Flask, redis: Redis, admin: Admin, receiver: Receiver, smtp_server: SmtpSink,
) -> None:
    """Ann mails her own return path a DSN: `delayed` for herself, `failed 5.1.1` for Bob and Carl, with the
    message's Message-ID. Ann gets her delay; Bob and Carl stay `sent`, no suppression anywhere."""
    rows = _sent(bounce_app, redis, admin)
    verp = envelope_of(smtp_server, "ann@example.com")
    shared_id = rows["ann@example.com"]["message_id"]
    dsn = samples.multi_dsn(to=verp, verp=verp, original_message_id=shared_id,
                            failures=[("bob@example.com", "5.1.1"), ("carl@example.com", "5.1.1")])
    own = ("Final-Recipient: rfc822; ann@example.com\r\nAction: delayed\r\nStatus: 4.4.1\r\n"
           "Diagnostic-Code: smtp; 451 4.4.1 later\r\n\r\n")
    dsn = dsn.replace(b"Reporting-MTA: dns; relay.example.net\r\n\r\n",
                      b"Reporting-MTA: dns; relay.example.net\r\n\r\n" + own.encode())
    assert receiver.send(verp, dsn)[0] == 250
    drain(bounce_app, redis)
    assert report_statuses(bounce_app) == ["processed"]
    assert outcomes(bounce_app, rows["ann@example.com"]["id"]) == ["sent", "delayed"]
    _untouched(bounce_app, rows, "bob@example.com", "carl@example.com")
    assert suppressions(bounce_app) == []


def test_a_forged_dsn_about_others_only_is_unmatched(
    bounce_app: Flask, redis: Redis, admin: Admin, receiver: Receiver, smtp_server: SmtpSink,
) -> None:
    """Two `failed` blocks, neither about the token's recipient: nothing is applied, the report is unmatched."""
    rows = _sent(bounce_app, redis, admin)
    verp = envelope_of(smtp_server, "ann@example.com")
    dsn = samples.multi_dsn(to=verp, verp=verp, original_message_id=rows["ann@example.com"]["message_id"],
                            failures=[("bob@example.com", "5.1.1"), ("carl@example.com", "5.1.2")])
    receiver.send(verp, dsn)
    drain(bounce_app, redis)
    assert report_statuses(bounce_app) == ["unmatched"]
    _untouched(bounce_app, rows, *PEOPLE)
    assert suppressions(bounce_app) == []


def test_a_forged_complaint_naming_another_recipient_is_about_the_token_s_own(
    bounce_app: Flask, redis: Redis, admin: Admin, receiver: Receiver, smtp_server: SmtpSink,
) -> None:
    """An ARF report to Ann's return path naming Bob (Original-Rcpt-To, To): a single finding applies to the token's
    recipient whatever address it names, so only Ann is `complained` and suppressed; Bob is untouched."""
    rows = _sent(bounce_app, redis, admin)
    verp = envelope_of(smtp_server, "ann@example.com")
    arf = samples.arf_complaint(to=verp, recipient="bob@example.com",
                                original_message_id=rows["ann@example.com"]["message_id"])
    receiver.send(verp, arf)
    drain(bounce_app, redis)
    assert outcomes(bounce_app, rows["ann@example.com"]["id"]) == ["sent", "complained"]
    _untouched(bounce_app, rows, "bob@example.com", "carl@example.com")
    assert suppressions(bounce_app) == [("ann@example.com", "all", "complaint")]


def test_a_forged_plain_text_bounce_listing_others_bounces_none_of_them(
    bounce_app: Flask, redis: Redis, admin: Admin, receiver: Receiver, smtp_server: SmtpSink,
) -> None:
    """The non-standard path (Exim's X-Failed-Recipients) with two other addresses: unmatched, nobody changes."""
    rows = _sent(bounce_app, redis, admin)
    verp = envelope_of(smtp_server, "ann@example.com")
    raw = samples.exim_bounce(to=verp, recipient="bob@example.com",
                              original_message_id=rows["ann@example.com"]["message_id"])
    raw = raw.replace(b"X-Failed-Recipients: bob@example.com",
                      b"X-Failed-Recipients: bob@example.com, carl@example.com")
    receiver.send(verp, raw)
    drain(bounce_app, redis)
    _untouched(bounce_app, rows, "bob@example.com", "carl@example.com")
    assert ("bob@example.com", "all", "hard_bounce") not in suppressions(bounce_app)
    assert ("carl@example.com", "all", "hard_bounce") not in suppressions(bounce_app)
