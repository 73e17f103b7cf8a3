"""`flask --app wsgi inbound-smtp --host H --port P` (API.md §6) as a real process: it listens, refuses what is not
a genuine token address, takes a report, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

from flask import Flask

from mailer.config import Config
from mailer.mail.recipient_tokens import TokenKind, token_address
from tests.conftest import FERNET_KEY, JWT_TEST_KEY, TEST_REDIS_URL
from tests.feedback.rig import BOUNCE_DOMAIN, report_statuses
from tests.fixtures import free_port

ROOT = Path(__file__).resolve().parents[2]


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert proc.poll() is None, "inbound-smtp exited early"
        assert time.monotonic() < deadline, "inbound-smtp did not start listening"
        time.sleep(0.1)


def test_the_command_serves_the_bounce_domain_and_stops_on_sigterm(bounce_app: Flask) -> None:
    """Another domain → 550 5.7.1; a genuine b- address → 250 and a stored report; SIGTERM → exit 0."""
    import uuid

    port = free_port()
    env = {**os.environ, "DATABASE_URL": bounce_app.config["MAILER"].DATABASE_URL, "REDIS_URL": TEST_REDIS_URL,
           "JWT_SECRET_KEY": JWT_TEST_KEY, "SECRETS_KEY": FERNET_KEY, "BOUNCE_DOMAIN": BOUNCE_DOMAIN,
           "LOG_FORMAT": "text", "PYTHONPATH": str(ROOT)}
    flask = str(Path(sys.executable).with_name("flask"))
    proc = subprocess.Popen([flask, "--app", "wsgi", "inbound-smtp", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait_listening(port, proc)
        # The token key is the database's stable keyring (security.stable_keys), opened with the process's key.
        signed_as_the_process = Config(TESTING=True, SECRETS_KEY=(FERNET_KEY,), BOUNCE_DOMAIN=BOUNCE_DOMAIN,
                                       DATABASE_URL=bounce_app.config["MAILER"].DATABASE_URL)
        verp = token_address(signed_as_the_process, TokenKind.BOUNCE, uuid.uuid4())
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo("mx.example.net")
            client.mail("")
            assert client.rcpt("ann@example.com")[0] == 550
            assert client.rcpt(verp)[0] == 250
            assert client.data(b"Subject: out of office\r\n\r\naway\r\n")[0] == 250
        assert report_statuses(bounce_app) == ["pending"]
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
