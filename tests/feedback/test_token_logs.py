"""No unsubscribe token in any log (N14): our request log, werkzeug's access log and Flask's lines go through the
scrub filter, and gunicorn's access log (a real gunicorn, `--access-logfile -`) uses the scrubbing logger of
gunicorn.conf.py. Each shows `/unsubscribe/[redacted]` where the token was."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from mailer.logs import build_handler
from mailer.mail.recipient_tokens import TokenKind, make_token
from tests.conftest import FERNET_KEY, JWT_TEST_KEY, TEST_REDIS_URL
from tests.fixtures import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def all_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = build_handler(stream, "json")
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def test_request_and_werkzeug_lines_carry_no_unsubscribe_token(bounce_app: Flask, all_lines: io.StringIO) -> None:
    token = make_token(bounce_app.config["MAILER"], TokenKind.UNSUBSCRIBE, uuid.uuid4())
    client = bounce_app.test_client()
    client.get(f"/unsubscribe/{token}")
    client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    # What werkzeug's development server writes for the same request (its logger propagates to ours).
    logging.getLogger("werkzeug").info('127.0.0.1 - - [6/Dec/2026 03:00:00] "%s" %s -',
                                       f"POST /unsubscribe/{token} HTTP/1.1", 200)
    logging.getLogger("flask.app").error(f"Exception on /unsubscribe/{token} [POST]")
    # aiosmtpd logs every command of the inbound receiver, the mailto unsubscribe's RCPT included.
    logging.getLogger("mail.log").info("%r >> %r", ("192.0.2.1", 4321),
                                       f"RCPT TO:<u-{token}@{bounce_app.config['MAILER'].BOUNCE_DOMAIN}>".encode())
    text = all_lines.getvalue()
    assert text.count("/unsubscribe/[redacted]") >= 4
    assert "RCPT TO:<u***@" in text
    assert token not in text


def test_gunicorn_access_log_carries_no_unsubscribe_token(bounce_app: Flask) -> None:
    config = bounce_app.config["MAILER"]
    token = make_token(config, TokenKind.UNSUBSCRIBE, uuid.uuid4())
    port = free_port()
    env = {**os.environ, "DATABASE_URL": config.DATABASE_URL, "REDIS_URL": TEST_REDIS_URL,
           "JWT_SECRET_KEY": JWT_TEST_KEY, "SECRETS_KEY": FERNET_KEY, "BOUNCE_DOMAIN": config.BOUNCE_DOMAIN,
           "PYTHONPATH": str(ROOT)}
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen([gunicorn, "-w", "1", "-b", f"127.0.0.1:{port}", "--access-logfile", "-", "wsgi:app"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz") == 200, timeout=30, interval=0.2)
        assert _get(f"http://127.0.0.1:{port}/unsubscribe/{token}?x=1") in (200, 404)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0].decode("utf-8", "replace")
    assert "/unsubscribe/[redacted]" in output, output[-2000:]
    assert token not in output


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0
