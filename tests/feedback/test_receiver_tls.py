"""The inbound receiver offers STARTTLS (reports often carry the returned mail): with INBOUND_TLS_CERT/KEY it
presents that certificate, which a client verifies; without them, a self-signed one made at start."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from collections.abc import Callable
from pathlib import Path

import trustme
from flask import Flask

from mailer.mail.recipient_tokens import TokenKind, token_address
from tests.feedback import samples
from tests.feedback.rig import BOUNCE_DOMAIN, report_statuses, running_receiver
from tests.helpers import create_tenant


def _report_over_tls(app: Flask, context: ssl.SSLContext) -> tuple[int, bytes]:
    verp = token_address(app.config["MAILER"], TokenKind.BOUNCE, uuid.uuid4())
    with running_receiver(app) as receiver, smtplib.SMTP(receiver.host, receiver.port, timeout=10) as client:
        client.ehlo("mx.example.net")
        assert client.has_extn("starttls")
        assert client.starttls(context=context)[0] == 220
        client.ehlo("mx.example.net")
        client.mail("")
        assert client.rcpt(verp)[0] == 250
        return client.data(samples.auto_reply(to=verp))


def test_starttls_with_the_configured_certificate(app_factory: Callable[..., Flask], tmp_path: Path) -> None:
    """A client that trusts the operator's CA verifies the receiver's certificate for BOUNCE_DOMAIN."""
    ca = trustme.CA()
    cert = ca.issue_cert(BOUNCE_DOMAIN)
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_pem.write_to_path(str(key_path))
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    app = app_factory(BOUNCE_DOMAIN=BOUNCE_DOMAIN, INBOUND_TLS_CERT=str(cert_path), INBOUND_TLS_KEY=str(key_path))
    create_tenant(app)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    original = context.wrap_socket

    def for_bounce_domain(sock: object, **kwargs: object) -> ssl.SSLSocket:
        kwargs["server_hostname"] = BOUNCE_DOMAIN  # smtplib names the address it dialled (127.0.0.1)
        return original(sock, **kwargs)  # type: ignore[arg-type]

    context.wrap_socket = for_bounce_domain  # type: ignore[method-assign]
    assert _report_over_tls(app, context)[0] == 250
    assert report_statuses(app) == ["pending"]


def test_starttls_with_a_self_signed_certificate_when_none_is_set(bounce_app: Flask) -> None:
    """No INBOUND_TLS_CERT: STARTTLS still works (an opportunistic MTA does not verify), and the report is kept."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    assert _report_over_tls(bounce_app, context)[0] == 250
    assert report_statuses(bounce_app) == ["pending"]
