"""The handler against real SMTP servers: what the server received and each recipient's result."""

from __future__ import annotations

import time

import pytest

from mailer.smtp.handler import OutgoingMail, SmtpSender
from mailer.smtp.mime import Attachment
from mailer.smtp.results import ErrorCode, Outcome
from tests.smtp.smtpd import ScriptedServer


def test_sends_and_server_receives_envelope_headers_tree_and_attachment(handler, server, recorder, make_mail) -> None:
    """A multipart message arrives whole; Bcc only in the envelope; every recipient sent."""
    pdf = bytes(range(256)) * 10
    mail = make_mail(
        "ann@example.com",
        "bob@example.com",
        bcc=("secret@example.com",),
        text=None,
        html="<h1>Hi</h1><p>See <a href='https://x.example/a'>the report</a>.</p>",
        subject="Report für Q4",
        attachments=(Attachment("report.pdf", "application/pdf", pdf),),
    )

    results = handler.send(server, mail)

    assert [r.recipient for r in results] == ["ann@example.com", "bob@example.com", "secret@example.com"]
    assert {r.outcome for r in results} == {Outcome.SENT}
    assert all(r.smtp_code == 250 and r.enhanced_code == "2.0.0" and r.message_id == mail.message_id for r in results)
    [received] = recorder.messages
    assert received.mail_from == "app@example.com"
    assert received.rcpt_tos == ("ann@example.com", "bob@example.com", "secret@example.com")
    message = received.parsed()
    assert message["Bcc"] is None and b"secret@" not in received.content
    assert message["Subject"] == "Report für Q4"
    assert message["Message-ID"] == mail.message_id
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert "the report" in next(alternative.iter_parts()).get_content()
    assert attachment.get_filename() == "report.pdf"
    assert attachment.get_content() == pdf


def test_rcpt_refusals_are_per_recipient(handler, server, recorder, make_mail) -> None:
    """550 fails one recipient, 451 defers another; the rest are sent in the same transaction."""
    recorder.rcpt_replies = {
        "gone@example.com": "550 5.1.1 No such user",
        "grey@example.com": "451 4.7.1 Greylisted, try again in 5 minutes",
    }
    mail = make_mail("ann@example.com", "gone@example.com", "grey@example.com")

    ann, gone, grey = handler.send(server, mail)

    assert ann.outcome is Outcome.SENT
    assert (gone.outcome, gone.smtp_code, gone.enhanced_code, gone.error_code) == (
        Outcome.FAILED,
        550,
        "5.1.1",
        ErrorCode.RECIPIENT_REJECTED,
    )
    assert gone.response == "550 5.1.1 No such user"
    assert (grey.outcome, grey.smtp_code, grey.enhanced_code, grey.retry_after) == (
        Outcome.DEFERRED,
        450 + 1,
        "4.7.1",
        300.0,
    )
    assert recorder.messages[0].rcpt_tos == ("ann@example.com",)


def test_all_recipients_refused_resets_and_keeps_connection(handler, server, recorder, make_mail) -> None:
    """No DATA when nobody was accepted; RSET, and the next mail goes over the same connection."""
    recorder.rcpt_replies = {"gone@example.com": "550 5.1.1 No such user"}

    [[gone], [ann]] = handler.send_batch(server, [make_mail("gone@example.com"), make_mail("ann@example.com")])

    assert gone.outcome is Outcome.FAILED and ann.outcome is Outcome.SENT
    assert "RSET" in recorder.commands
    assert len(recorder.peers) == 1


def test_too_many_recipients_continue_in_new_transaction(handler, server, recorder, make_mail) -> None:
    """452 at RCPT after some were accepted: the rest go in a new transaction, same connection."""
    recorder.max_recipients = 2
    recipients = [f"r{i}@example.com" for i in range(5)]

    results = handler.send(server, make_mail(*recipients))

    assert [r.outcome for r in results] == [Outcome.SENT] * 5
    assert [m.rcpt_tos for m in recorder.messages] == [tuple(recipients[:2]), tuple(recipients[2:4]), (recipients[4],)]
    assert len(recorder.peers) == 1


@pytest.mark.parametrize(
    ("reply", "outcome", "error_code"),
    [
        ("451 4.3.0 Temporary failure, retry in 30 seconds", Outcome.DEFERRED, None),
        ("554 5.7.1 Message rejected as spam", Outcome.FAILED, ErrorCode.CONTENT_REJECTED),
        ("552 5.3.4 Message too big", Outcome.FAILED, ErrorCode.MESSAGE_TOO_LARGE),
    ],
)
def test_data_replies_apply_to_every_accepted_recipient(
    handler, server, recorder, make_mail, reply, outcome, error_code
) -> None:
    """The reply to the final dot decides for all recipients accepted at RCPT."""
    recorder.data_replies = [reply]
    recorder.rcpt_replies = {"gone@example.com": "550 5.1.1 No such user"}

    ann, bob, gone = handler.send(server, make_mail("ann@example.com", "bob@example.com", "gone@example.com"))

    for result in (ann, bob):
        assert (result.outcome, result.error_code, result.response) == (outcome, error_code, reply)
    assert gone.error_code is ErrorCode.RECIPIENT_REJECTED
    if outcome is Outcome.DEFERRED:
        assert ann.retry_after == 30.0


def test_sender_rejected_fails_everyone(handler, server, recorder, make_mail) -> None:
    """5xx at MAIL FROM fails each recipient with sender_rejected."""
    recorder.mail_reply = "553 5.7.1 Sender not allowed"

    results = handler.send(server, make_mail("ann@example.com", "bob@example.com"))

    assert [(r.outcome, r.error_code, r.smtp_code) for r in results] == [
        (Outcome.FAILED, ErrorCode.SENDER_REJECTED, 553)
    ] * 2


def test_one_failure_in_a_batch_does_not_disturb_the_others(handler, server, recorder, make_mail) -> None:
    """Each mail of a batch gets its own results over one connection."""
    recorder.data_replies = ["250 ok", "554 5.7.1 rejected", "250 ok"]

    results = handler.send_batch(server, [make_mail(f"u{i}@example.com") for i in range(3)])

    assert [r.outcome for [r] in results] == [Outcome.SENT, Outcome.FAILED, Outcome.SENT]
    assert len(recorder.peers) == 1


def test_421_greeting_defers_everyone(handler, make_server, make_mail) -> None:
    """A 421 greeting is a fault of the server: every mail of the batch deferred, none failed."""
    with ScriptedServer(greeting="421 4.3.2 Service not available, try again in 10 minutes") as smtp:
        results = handler.send_batch(make_server(smtp.port), [make_mail("a@example.com", "b@example.com")] * 2)

    assert [r.outcome for mail in results for r in mail] == [Outcome.DEFERRED] * 4
    assert results[0][0].smtp_code == 421 and results[0][0].retry_after == 600.0
    assert smtp.connections == 1  # no retry per mail against a server that refuses us


def test_connection_refused_defers(handler, make_server, make_mail) -> None:
    """Nobody listening: deferred with the reason, no SMTP code."""
    with ScriptedServer() as smtp:
        port = smtp.port
    [result] = handler.send(make_server(port), make_mail("a@example.com"))
    assert result.outcome is Outcome.DEFERRED and result.smtp_code is None
    assert "connection failed" in result.response


def test_drop_mid_data_defers(handler, make_server) -> None:
    """Connection reset while the data is still being sent: deferred, not ambiguous."""
    # 16 MB: more than any socket buffers hold, so we are still sending when the reset comes.
    body = b"Subject: big\r\n\r\n" + (b"x" * 76 + b"\r\n") * 210_000
    mail = OutgoingMail("app@example.com", ("a@example.com",), body, "<big@example.com>")
    with ScriptedServer(on_data="drop_mid_data") as smtp:
        [result] = handler.send(make_server(smtp.port), mail)
    assert result.outcome is Outcome.DEFERRED
    assert "during DATA" in result.response


def test_drop_after_final_dot_is_ambiguous(handler, make_server, make_mail, pool) -> None:
    """Lost after the final dot, before the reply: ambiguous, with the Message-ID to reuse."""
    mail = make_mail("a@example.com", "b@example.com")
    with ScriptedServer(on_data="drop_after_dot") as smtp:
        results = handler.send(make_server(smtp.port), mail)
    assert [r.outcome for r in results] == [Outcome.AMBIGUOUS] * 2
    assert results[0].message_id == mail.message_id
    assert len(smtp.messages) == 1
    assert pool.stats().discarded == 1


def test_drop_between_messages_reconnects(handler, make_server, make_mail) -> None:
    """The connection dies after one mail: the next mail of the batch goes over a new one."""
    with ScriptedServer(on_data="drop_after_dot") as smtp:
        results = handler.send_batch(make_server(smtp.port), [make_mail("a@example.com"), make_mail("b@example.com")])
    assert [r.outcome for [r] in results] == [Outcome.AMBIGUOUS, Outcome.AMBIGUOUS]
    assert smtp.connections == 2 and len(smtp.messages) == 2


@pytest.mark.parametrize("trickle_greeting", [True, False])
def test_trickling_server_cannot_hold_past_deadline(handler, make_server, make_mail, trickle_greeting) -> None:
    """One byte every 50 ms never trips the socket timeout; the wall-clock deadline does."""
    with ScriptedServer(on_data="trickle", trickle_greeting=trickle_greeting, interval=0.02) as smtp:
        server = make_server(smtp.port, timeout=0.5, deadline=1.0)
        started = time.monotonic()
        [result] = handler.send(server, make_mail("a@example.com"))
        elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 5.0  # the 1 s deadline, with room for a loaded machine
    assert result.outcome is (Outcome.DEFERRED if trickle_greeting else Outcome.AMBIGUOUS)
    assert "deadline" in result.response


def test_max_duration_bounds_a_batch(make_server) -> None:
    """The job layer sizes RQ timeouts from this."""
    server = make_server(25, timeout=10.0)
    assert server.attempt_deadline == 40.0
    assert SmtpSender.max_duration(server, 3) == 4 * 40.0 + 10.0


def test_smtputf8_used_when_offered(handler, server, recorder, make_mail) -> None:
    """A non-ASCII local part goes with SMTPUTF8, headers in UTF-8."""
    [result] = handler.send(server, make_mail("jörg@example.com"))
    assert result.outcome is Outcome.SENT
    [received] = recorder.messages
    assert "SMTPUTF8" in received.mail_options
    assert received.rcpt_tos == ("jörg@example.com",)
    assert "jörg@example.com".encode() in received.content


def test_smtputf8_unsupported_fails_only_those_recipients(
    handler, smtpd_factory, recorder, make_server, make_mail
) -> None:
    """Without SMTPUTF8, non-ASCII local parts fail with smtputf8_unsupported; others are sent."""
    smtpd = smtpd_factory(recorder, enable_SMTPUTF8=False)
    mail = make_mail("ann@example.com", bcc=("jörg@example.com",))

    ann, jorg = handler.send(make_server(smtpd.port), mail)

    assert ann.outcome is Outcome.SENT
    assert (jorg.outcome, jorg.error_code) == (Outcome.FAILED, ErrorCode.SMTPUTF8_UNSUPPORTED)
    assert recorder.messages[0].rcpt_tos == ("ann@example.com",)


def test_duplicate_envelope_recipients_get_one_result_each(handler, server, recorder) -> None:
    """One result per envelope recipient, same order, even when repeated; RCPT sent once."""
    mail = OutgoingMail("a@example.com", ("b@example.com", "b@example.com"), b"Subject: x\r\n\r\n.hi\r\n", "<1@x>")
    results = handler.send(server, mail)
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.SENT]
    assert recorder.messages[0].rcpt_tos == ("b@example.com",)
    assert recorder.messages[0].content.endswith(b"\r\n.hi\r\n")  # dot-stuffing undone by the server


def test_421_at_data_defers_and_replaces_the_connection(handler, server, recorder, make_mail, pool) -> None:
    """421 means the server is closing: deferred, connection discarded, the next mail reconnects."""
    recorder.data_replies = ["421 4.3.2 System shutting down"]

    [[first], [second]] = handler.send_batch(server, [make_mail("a@example.com"), make_mail("b@example.com")])

    assert (first.outcome, first.smtp_code) == (Outcome.DEFERRED, 421)
    assert second.outcome is Outcome.SENT
    assert len(recorder.peers) == 2 and pool.stats().discarded == 1


def test_452_before_any_acceptance_is_a_plain_deferral(handler, server, recorder, make_mail) -> None:
    """No recipient accepted yet: 452 is not "send the rest later" but a transient refusal."""
    recorder.max_recipients = 0
    results = handler.send(server, make_mail("a@example.com", "b@example.com"))
    assert [(r.outcome, r.smtp_code) for r in results] == [(Outcome.DEFERRED, 452)] * 2
    assert recorder.messages == []


def test_size_refused_at_mail_from_is_message_too_large(
    handler, smtpd_factory, recorder, make_server, make_mail
) -> None:
    """The server's SIZE limit, announced in EHLO, refuses at MAIL FROM with 552."""
    smtpd = smtpd_factory(recorder, data_size_limit=2000)
    [result] = handler.send(make_server(smtpd.port), make_mail("a@example.com", text="x" * 5000))
    assert (result.outcome, result.smtp_code, result.error_code) == (
        Outcome.FAILED,
        552,
        ErrorCode.MESSAGE_TOO_LARGE,
    )
