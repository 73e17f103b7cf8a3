"""Delivers mail over SMTP and classifies every reply per recipient."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass

from mailer.smtp.results import ErrorCode, Outcome, RecipientResult
from mailer.smtp.settings import Encryption, SmtpServer


@dataclass(frozen=True)
class OutgoingMail:
    """One message to send: envelope plus the wire bytes (already without Bcc)."""

    sender: str
    recipients: tuple[str, ...]
    message: bytes
    message_id: str


class SmtpHandler:
    """Sends OutgoingMail to a server; never reports sent without a 250."""

    def send(self, server: SmtpServer, mail: OutgoingMail) -> list[RecipientResult]:
        return self.send_batch(server, [mail])[0]

    def send_batch(self, server: SmtpServer, mails: Sequence[OutgoingMail]) -> list[list[RecipientResult]]:
        try:
            connection = _open(server)
        except (OSError, smtplib.SMTPException) as exc:
            return [_all(mail, Outcome.DEFERRED, response=str(exc)) for mail in mails]
        try:
            return [_send_one(connection, mail) for mail in mails]
        finally:
            try:
                connection.quit()
            except (OSError, smtplib.SMTPException):
                connection.close()


def _open(server: SmtpServer) -> smtplib.SMTP:
    if server.encryption is Encryption.SSL:
        connection: smtplib.SMTP = smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout)
    else:
        connection = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
    connection.ehlo()
    if server.encryption is Encryption.STARTTLS:
        connection.starttls()
        connection.ehlo()
    if server.username:
        connection.login(server.username, server.password or "")
    return connection


def _send_one(connection: smtplib.SMTP, mail: OutgoingMail) -> list[RecipientResult]:
    try:
        code, reply = connection.mail(mail.sender)
        if code != 250:
            connection.rset()
            outcome = Outcome.DEFERRED if 400 <= code < 500 else Outcome.FAILED
            error = None if outcome is Outcome.DEFERRED else ErrorCode.SENDER_REJECTED
            return _all(mail, outcome, smtp_code=code, response=_text(reply), error_code=error)
        refused: dict[str, RecipientResult] = {}
        for rcpt in mail.recipients:
            code, reply = connection.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = _refusal(rcpt, code, reply)
        if len(refused) == len(mail.recipients):
            connection.rset()
            return [refused[rcpt] for rcpt in mail.recipients]
        code, reply = connection.data(mail.message)
    except smtplib.SMTPResponseException as exc:
        outcome = Outcome.DEFERRED if 400 <= exc.smtp_code < 500 else Outcome.FAILED
        error = None if outcome is Outcome.DEFERRED else ErrorCode.CONTENT_REJECTED
        return _all(mail, outcome, smtp_code=exc.smtp_code, response=_text(exc.smtp_error), error_code=error)
    except (OSError, smtplib.SMTPException) as exc:
        return _all(mail, Outcome.DEFERRED, response=str(exc))
    text = f"{code} {_text(reply)}"
    if code != 250:
        outcome = Outcome.DEFERRED if 400 <= code < 500 else Outcome.FAILED
        error = None if outcome is Outcome.DEFERRED else ErrorCode.CONTENT_REJECTED
        sent = RecipientResult("", outcome, code, None, text, error_code=error)
    else:
        sent = RecipientResult("", Outcome.SENT, code, None, text, message_id=mail.message_id)
    return [refused.get(rcpt) or _with(sent, rcpt) for rcpt in mail.recipients]


def _with(result: RecipientResult, recipient: str) -> RecipientResult:
    from dataclasses import replace

    return replace(result, recipient=recipient)


def _refusal(recipient: str, code: int, reply: bytes | str) -> RecipientResult:
    if 400 <= code < 500:
        return RecipientResult(recipient, Outcome.DEFERRED, code, None, f"{code} {_text(reply)}")
    return RecipientResult(
        recipient, Outcome.FAILED, code, None, f"{code} {_text(reply)}", error_code=ErrorCode.RECIPIENT_REJECTED
    )


def _all(mail: OutgoingMail, outcome: Outcome, **kwargs: object) -> list[RecipientResult]:
    return [RecipientResult(rcpt, outcome, **kwargs) for rcpt in mail.recipients]  # type: ignore[arg-type]


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
