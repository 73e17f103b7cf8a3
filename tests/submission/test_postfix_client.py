"""A real MTA as the client: a private Postfix relaying through Mailer's submission port (STARTTLS required,
the trustme CA trusted, SASL with an API key as the password) — mail handed to that Postfix arrives at the sink."""

from __future__ import annotations

import shutil
import smtplib

import pytest
from redis import Redis
from sqlalchemy import func, select

from bench.private_postfix import PrivatePostfix, available
from mailer.extensions import db
from mailer.models import Message
from tests.fixtures import HOST, Drainer, Sink, free_port, wait_for
from tests.submission.conftest import SENDER, Submission, ca_file

pytestmark = pytest.mark.skipif(not available(), reason="needs Debian's postfix package and root")


def test_mail_relayed_by_postfix_through_submission_arrives(submission: Submission, sink: Sink, redis: Redis) -> None:
    relay = f"[127.0.0.1]:{submission.port}"
    postfix = PrivatePostfix(free_port())
    shutil.copy(ca_file(submission.tls), postfix.root / "ca.pem")  # the postfix user cannot read pytest's tmp dir
    (postfix.root / "ca.pem").chmod(0o644)
    postfix.files = {"sasl_passwd": f"{relay} app:{submission.key}\n"}
    postfix.settings = {
        "relayhost": relay,
        "smtp_sasl_auth_enable": "yes",
        "smtp_sasl_password_maps": f"texthash:{postfix.config_dir}/sasl_passwd",
        "smtp_sasl_security_options": "noanonymous",
        "smtp_sasl_tls_security_options": "noanonymous",
        "smtp_tls_security_level": "encrypt",
        "smtp_tls_CAfile": str(postfix.root / "ca.pem"),
        "smtp_tls_loglevel": "1",
    }
    with postfix:
        client = smtplib.SMTP(HOST, postfix.port, timeout=10)
        client.sendmail(SENDER, ["ann@example.com", "bob@example.com"],
                        f"From: {SENDER}\r\nTo: ann@example.com\r\nSubject: via postfix\r\n\r\nrelayed\r\n")
        client.quit()

        def arrived() -> bool:
            with submission.app.app_context():
                return db.session.scalar(select(func.count()).select_from(Message)) == 1

        try:
            wait_for(arrived, timeout=30)
        except AssertionError:
            pytest.fail("postfix did not relay through submission:\n" + postfix.log()[-3000:])
        log = postfix.log()
    assert "Trusted TLS connection established" in log or "Verified TLS connection established" in log
    Drainer(submission.app, redis)()
    assert sorted(r for m in sink.messages for r in m.rcpt_tos) == ["ann@example.com", "bob@example.com"]
    mail = sink.messages[0].message
    assert mail["Subject"] == "via postfix" and mail.get_content().strip() == "relayed"
    assert mail.get_all("Received")[0].startswith("from postfix.mailer.test")  # our trace, then Postfix's
