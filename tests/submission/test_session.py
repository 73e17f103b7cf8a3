"""The dialogue of §13 with smtplib over real TLS: the TLS gate, AUTH, the order of commands, the bounds."""

from __future__ import annotations

import base64
import smtplib
import socket
import time

import pytest
from sqlalchemy import update

from mailer.extensions import db
from mailer.models import ApiKey
from mailer.models.types import utcnow
from tests.fixtures import HOST
from tests.submission.conftest import SENDER, Submission

MESSAGE = f"From: {SENDER}\r\nTo: ann@example.com\r\nSubject: hi\r\n\r\nhello\r\n"


def _raw(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=10)
    assert sock.recv(1024).startswith(b"220")
    return sock


def _say(sock: socket.socket, line: str) -> str:
    """Send a command; its whole reply (every line up to the one with a space after the code)."""
    sock.sendall(line.encode() + b"\r\n")
    reply = b""
    while not any(len(row) > 3 and row[3:4] == b" " for row in reply.split(b"\r\n")):
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    return reply.decode()


def test_every_command_but_the_greeting_ones_needs_starttls_first(submission: Submission) -> None:
    sock = _raw(submission.port)
    try:
        ehlo = _say(sock, "EHLO client.test")
        assert "STARTTLS" in ehlo and "AUTH" not in ehlo
        for line in ("HELO client.test", "NOOP", "RSET"):
            assert _say(sock, line).startswith("250"), line
        _say(sock, "EHLO client.test")
        for line in ("AUTH PLAIN " + base64.b64encode(f"\0u\0{submission.key}".encode()).decode(),
                     f"MAIL FROM:<{SENDER}>", "RCPT TO:<ann@example.com>", "DATA", "VRFY ann"):
            assert _say(sock, line).startswith("530 5.7.0 Must issue a STARTTLS command first"), line
    finally:
        sock.close()


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_plain_and_login_with_an_api_key_over_starttls(submission: Submission, mechanism: str) -> None:
    client = submission.starttls(login=False)
    assert "PLAIN" in client.esmtp_features["auth"] and "LOGIN" in client.esmtp_features["auth"]
    client.user, client.password = "whoever", submission.key
    assert client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))[0] == 235
    assert client.mail(SENDER)[0] == 250
    client.quit()


def test_implicit_tls_offers_auth_at_once_and_no_starttls(submission: Submission) -> None:
    client = submission.implicit(login=False)
    assert "starttls" not in client.esmtp_features and "auth" in client.esmtp_features
    client.login("x", submission.key)
    client.quit()


def test_a_wrong_key_is_refused_with_535(submission: Submission) -> None:
    client = submission.starttls(login=False)
    with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
        client.login("x", "mk_not-a-key")
    assert raised.value.smtp_code == 535 and raised.value.smtp_error.startswith(b"5.7.8")
    client.quit()


def test_a_revoked_key_is_refused_at_once(submission: Submission) -> None:
    with submission.app.app_context():
        db.session.execute(update(ApiKey).values(revoked_at=utcnow()))
        db.session.commit()
    client = submission.implicit(login=False)
    client.user, client.password = "x", submission.key
    assert _auth_reply(client)[0] == 535
    client.close()


def test_sessions_per_client_address_are_bounded(submission_factory) -> None:  # type: ignore[no-untyped-def]
    submission = submission_factory(SUBMISSION_MAX_SESSIONS=10, SUBMISSION_MAX_PER_CLIENT=1)
    first = _raw(submission.port)
    try:
        with socket.create_connection((HOST, submission.port), timeout=10) as second:
            assert second.recv(1024).startswith(b"421 4.3.2")
    finally:
        first.close()


def test_mail_before_auth_is_refused(submission: Submission) -> None:
    client = submission.starttls(login=False)
    assert client.mail(SENDER) == (530, b"5.7.0 Authentication required")
    client.quit()


def _auth_reply(client: smtplib.SMTP) -> tuple[int, bytes]:
    try:
        return client.auth("PLAIN", client.auth_plain)
    except smtplib.SMTPAuthenticationError as refused:
        return refused.smtp_code, refused.smtp_error


def test_ten_failed_auth_from_one_address_then_454_saying_when(submission: Submission) -> None:
    client = submission.starttls(login=False)
    client.user = "x"
    for attempt in range(10):
        client.password = f"mk_wrong{attempt}"
        assert _auth_reply(client)[0] == 535
    client.password = submission.key
    code, reply = _auth_reply(client)  # even the right key, until the window ends
    assert code == 454 and reply.startswith(b"4.7.0") and b"try again in" in reply
    other = submission.implicit(login=False)  # from the same address on the other port too
    other.user, other.password = "x", submission.key
    assert _auth_reply(other)[0] == 454
    client.close()
    other.close()


def test_the_session_limit_answers_421_at_the_greeting(submission_factory) -> None:  # type: ignore[no-untyped-def]
    submission = submission_factory(SUBMISSION_MAX_SESSIONS=2, SUBMISSION_MAX_PER_CLIENT=2)
    first, second = _raw(submission.port), _raw(submission.port)
    try:
        third = socket.create_connection((HOST, submission.tls_port), timeout=10)  # the other port shares the count
        with submission.tls.client_context().wrap_socket(third, server_hostname="127.0.0.1") as secured:
            assert secured.recv(1024).startswith(b"421 4.3.2")
    finally:
        first.close()
        second.close()
    time.sleep(0.2)  # the slots come back when the sessions end
    _raw(submission.port).close()


def test_idle_sessions_are_ended_with_421_4_4_2(submission_factory) -> None:  # type: ignore[no-untyped-def]
    submission = submission_factory(SUBMISSION_IDLE_TIMEOUT_SECONDS=0.5)
    sock = _raw(submission.port)
    try:
        sock.settimeout(5)
        assert sock.recv(1024).startswith(b"421 4.4.2")
    finally:
        sock.close()
