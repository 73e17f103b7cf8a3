"""A real `flask --app wsgi submission-smtp` process killed with SIGKILL mid-DATA: what got 250 is stored,
what did not is not (API.md §13: committed before the answer)."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import Message
from tests.conftest import FERNET_KEY, JWT_TEST_KEY, TEST_REDIS_URL
from tests.fixtures import HOST, free_port, wait_for
from tests.submission.conftest import SENDER, Submission

ROOT = Path(__file__).resolve().parents[2]


def _server(submission: Submission, port: int) -> subprocess.Popen[bytes]:
    config = submission.app.config["MAILER"]
    env = {**os.environ, "DATABASE_URL": config.DATABASE_URL, "REDIS_URL": TEST_REDIS_URL,
           "JWT_SECRET_KEY": JWT_TEST_KEY, "SECRETS_KEY": FERNET_KEY, "MAIL_FROM": config.MAIL_FROM,
           "SUBMISSION_TLS_CERT": submission.tls.cert, "SUBMISSION_TLS_KEY": submission.tls.key,
           "SUBMISSION_SMTPS_PORT": "", "SMTP_HELO_NAME": "mailer.test", "FLASK_DEBUG": "0"}
    flask = str(Path(sys.executable).with_name("flask"))
    proc = subprocess.Popen([flask, "--app", "wsgi", "submission-smtp", "--host", HOST, "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening() -> bool:
        assert proc.poll() is None, "submission-smtp exited"
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
        except OSError:
            return False
        return True

    wait_for(listening, timeout=30)
    return proc


def _client(submission: Submission, port: int) -> smtplib.SMTP:
    client = smtplib.SMTP(HOST, port, timeout=10)
    client.starttls(context=submission.tls.client_context())
    client.login("app", submission.key)
    return client


def test_sigkill_mid_data_loses_nothing_answered_and_stores_nothing_unanswered(submission: Submission) -> None:
    port = free_port()
    server = _server(submission, port)
    try:
        first = _client(submission, port)
        assert first.mail(SENDER)[0] == 250 and first.rcpt("ann@example.com")[0] == 250
        code, reply = first.data(f"From: {SENDER}\r\nSubject: kept\r\n\r\nhi\r\n")
        assert code == 250 and reply.startswith(b"2.0.0 OK <")
        answered = reply.decode().removeprefix("2.0.0 OK <").removesuffix(">")
        second = _client(submission, port)
        assert second.mail(SENDER)[0] == 250 and second.rcpt("bob@example.com")[0] == 250
        second.putcmd("data")
        assert second.getreply()[0] == 354
        second.send(f"From: {SENDER}\r\nSubject: cut\r\n\r\n".encode() + b"half of the body\r\n" * 200)
        time.sleep(0.3)  # the server has read part of DATA
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    with submission.app.app_context():
        subjects = db.session.scalars(select(Message.subject)).all()
        assert subjects == ["kept"]
        assert db.session.scalar(select(func.count()).select_from(Message)) == 1
        message = db.session.scalars(select(Message)).one()
        assert message.id == uuid.UUID(answered)
        assert [r.email for r in message.recipients] == ["ann@example.com"]
