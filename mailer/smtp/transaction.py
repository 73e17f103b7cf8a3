"""One message over one ready connection: MAIL, RCPT…, DATA, with a result per recipient.

Written with the step-by-step commands rather than ``sendmail`` so each refusal is
attributed to its step, and a connection lost while sending the data (deferred) is
told apart from one lost after the final "." (ambiguous: the server may have it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailer.smtp.connection import NETWORK_ERRORS, Connection
from mailer.smtp.replies import Reply, ambiguous, classify, deferred, failed, sent
from mailer.smtp.results import ErrorCode, RecipientResult

_BARE_EOL = re.compile(rb"\r\n|\n|\r(?!\n)")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class OutgoingMail:
    """One message to send: envelope plus the wire bytes (already without Bcc).

    Addresses are in envelope form (domains in IDNA ASCII, see validation.normalize_address).
    """

    sender: str
    recipients: tuple[str, ...]
    wire: bytes = field(repr=False)
    message_id: str


@dataclass
class TransactionResult:
    """Results by recipient, plus what became of the connection."""

    results: dict[str, RecipientResult]
    broken: bool = False  # discard the connection
    # Lost, or told 421 (closing), at the first MAIL: nothing was accepted, safe to retry on a new connection.
    untouched: bool = False


class _Lost(Exception):
    """The connection died; ``after_dot`` when the data was fully sent."""

    def __init__(self, reason: str, *, step: str, after_dot: bool = False) -> None:
        super().__init__(reason)
        self.step = step
        self.after_dot = after_dot


def deliver(connection: Connection, mail: OutgoingMail, deadline: float) -> TransactionResult:
    """Send ``mail`` and return a result for each distinct envelope recipient.

    Never raises for SMTP or network trouble; never reports sent without 250 to the data.
    """
    connection.start_attempt(deadline)
    result = TransactionResult({})
    pending = _unsupported_utf8(connection, mail, result)
    first = True
    while pending:
        accepted: list[str] = []
        try:
            pending = _transaction(connection, mail, pending, accepted, result, first=first)
        except _Lost as lost:
            reply = Reply.none(str(lost))
            for rcpt in accepted:
                outcome = ambiguous if lost.after_dot else deferred
                result.results[rcpt] = outcome(rcpt, reply, mail.message_id)
            for rcpt in pending:
                result.results.setdefault(rcpt, deferred(rcpt, reply, mail.message_id))
            result.broken = True
            result.untouched = first and lost.step == "mail"
            return result
        first = False
        if result.broken:
            break
    for rcpt in mail.recipients:
        result.results.setdefault(rcpt, deferred(rcpt, Reply.none("connection closed by the server")))
    return result


def _transaction(
    connection: Connection, mail: OutgoingMail, pending: list[str], accepted: list[str], result: TransactionResult,
    *, first: bool = False,
) -> list[str]:
    """One MAIL…DATA transaction (``first``: of the mail); returns the recipients left for another transaction."""
    reply = _step(connection, "mail", f"FROM:<{mail.sender}>{_mail_options(connection, mail)}")
    if reply.code != 250:
        result.untouched = first and reply.code == 421
        for rcpt in pending:
            result.results[rcpt] = classify(rcpt, reply, ErrorCode.SENDER_REJECTED)
        _reset_after_refusal(connection, result, reply)
        return []
    rest: list[str] = []
    for index, rcpt in enumerate(pending):
        reply = _step(connection, "rcpt", f"TO:<{rcpt}>")
        if reply.code in (250, 251):
            accepted.append(rcpt)
        elif reply.too_many_recipients and accepted:
            rest = pending[index:]
            break
        elif reply.code == 421:
            for other in pending[index:] + accepted:
                result.results[other] = deferred(other, reply)
            result.broken = True
            return []
        else:
            result.results[rcpt] = classify(rcpt, reply, ErrorCode.RECIPIENT_REJECTED)
    if not accepted:
        _reset_after_refusal(connection, result)
        return rest
    _data(connection, mail, accepted, result)
    return rest


def _data(connection: Connection, mail: OutgoingMail, accepted: list[str], result: TransactionResult) -> None:
    reply = _step(connection, "data")
    if reply.code != 354:
        for rcpt in accepted:
            result.results[rcpt] = classify(rcpt, reply, ErrorCode.CONTENT_REJECTED)
        _reset_after_refusal(connection, result, reply)
        return
    try:
        connection.client.send(_dot_stuffed(mail.wire))
    except NETWORK_ERRORS as exc:
        raise _Lost(f"connection lost during DATA: {exc}", step="data") from exc
    try:
        reply = Reply.from_smtplib(*connection.client.getreply())
    except NETWORK_ERRORS as exc:
        reason = f"connection lost after the final '.', before the reply: {exc}"
        raise _Lost(reason, step="data", after_dot=True) from exc
    for rcpt in accepted:
        if reply.code == 250:
            result.results[rcpt] = sent(rcpt, reply, mail.message_id)
        elif reply.code is not None and reply.code < 400:
            # Not a 250, not a refusal: the server may hold the message.
            result.results[rcpt] = ambiguous(rcpt, reply, mail.message_id)
        else:
            result.results[rcpt] = classify(rcpt, reply, ErrorCode.CONTENT_REJECTED)
    if reply.code == 421:
        result.broken = True
    else:
        connection.messages += 1


def _step(connection: Connection, verb: str, argument: str = "") -> Reply:
    try:
        return connection.command(verb, argument)
    except NETWORK_ERRORS as exc:
        raise _Lost(f"connection lost at {verb.upper()}: {exc}", step=verb) from exc


def _reset_after_refusal(connection: Connection, result: TransactionResult, reply: Reply | None = None) -> None:
    """After a refused transaction: 421 closes the connection, anything else gets RSET."""
    if (reply is not None and reply.code == 421) or not connection.reset():
        result.broken = True


def _unsupported_utf8(connection: Connection, mail: OutgoingMail, result: TransactionResult) -> list[str]:
    """Recipients this server can take; without SMTPUTF8 a non-ASCII address fails."""
    pending = list(dict.fromkeys(mail.recipients))
    if connection.has_extension("smtputf8"):
        return pending
    reply = Reply.none("the server does not offer SMTPUTF8, needed for a non-ASCII address")
    blocked = pending if not mail.sender.isascii() else [rcpt for rcpt in pending if not rcpt.isascii()]
    for rcpt in blocked:
        result.results[rcpt] = failed(rcpt, reply, ErrorCode.SMTPUTF8_UNSUPPORTED)
    return [rcpt for rcpt in pending if rcpt not in result.results]


def _mail_options(connection: Connection, mail: OutgoingMail) -> str:
    options = []
    if connection.has_extension("size"):
        options.append(f"SIZE={len(mail.wire)}")
    if not mail.wire.isascii() and connection.has_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    needs_utf8 = not (mail.sender.isascii() and all(rcpt.isascii() for rcpt in mail.recipients))
    if not needs_utf8:
        match = _HEADER_END.search(mail.wire)
        needs_utf8 = not mail.wire[: match.start() if match else len(mail.wire)].isascii()
    if needs_utf8 and connection.has_extension("smtputf8"):
        options.append("SMTPUTF8")
        connection.client.command_encoding = "utf-8"
    else:
        connection.client.command_encoding = "ascii"
    return "".join(f" {option}" for option in options)


def _dot_stuffed(message: bytes) -> bytes:
    """CRLF line ends, leading dots doubled, the final "." line added."""
    line_feeds = message.count(b"\n")
    if message.count(b"\r\n") != line_feeds or message.count(b"\r") != line_feeds:
        message = _BARE_EOL.sub(b"\r\n", message)  # rare: a regex pass costs ~0.25 ms per 30 KB
    data = message.replace(b"\n.", b"\n..")
    if data.startswith(b"."):
        data = b"." + data
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"
