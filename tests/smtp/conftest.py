"""Fixtures for the SMTP handler: aiosmtpd servers on free loopback ports, trustme
certificates, a private connection pool per test, and message builders."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller

from mailer.smtp.handler import OutgoingMail, SmtpSender
from mailer.smtp.mime import Address, Attachment, MessageContent, build_message, make_message_id, to_bytes
from mailer.smtp.pool import ConnectionPool
from mailer.smtp.settings import SmtpServer
from tests.smtp.smtpd import HOST, RecordingHandler, free_port


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def untrusted_ca_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("other-ca") / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def _server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


@pytest.fixture(scope="session")
def tls_context(ca: trustme.CA) -> ssl.SSLContext:
    """Server side: a certificate for 127.0.0.1 and localhost, issued by ``ca``."""
    return _server_context(ca.issue_cert(HOST, "localhost"))


@pytest.fixture(scope="session")
def wrong_host_tls_context(ca: trustme.CA) -> ssl.SSLContext:
    """Server side: a certificate from the trusted CA, but for another name."""
    return _server_context(ca.issue_cert("mail.example.org"))


@pytest.fixture
def smtpd_factory() -> Iterator[Callable[..., Controller]]:
    """Starts aiosmtpd Controllers (kwargs go to Controller/SMTP); stops them after the test."""
    started: list[Controller] = []

    def start(handler: Any, **kwargs: Any) -> Controller:
        controller = Controller(handler, hostname=HOST, port=free_port(), server_hostname="mx.test", **kwargs)
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def recorder() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def smtpd(smtpd_factory: Callable[..., Controller], recorder: RecordingHandler) -> Controller:
    return smtpd_factory(recorder)


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    pool = ConnectionPool()
    yield pool
    pool.close()


@pytest.fixture
def handler(pool: ConnectionPool) -> SmtpSender:
    return SmtpSender(pool)


@pytest.fixture
def make_server() -> Callable[..., SmtpServer]:
    """SmtpServer for a loopback port with short timeouts (tests must be fast)."""

    def make(port: int, **kwargs: Any) -> SmtpServer:
        kwargs.setdefault("timeout", 2.0)
        kwargs.setdefault("owner", "tenant-1")
        return SmtpServer(host=kwargs.pop("host", HOST), port=port, **kwargs)

    return make


@pytest.fixture
def server(smtpd: Controller, make_server: Callable[..., SmtpServer]) -> SmtpServer:
    return make_server(smtpd.port)


@pytest.fixture
def make_mail() -> Callable[..., OutgoingMail]:
    return _make_mail


def _make_mail(
    *to: str,
    sender: str = "app@example.com",
    bcc: tuple[str, ...] = (),
    text: str | None = "Hello.\n",
    html: str | None = None,
    subject: str = "Hi",
    attachments: tuple[Attachment, ...] = (),
) -> OutgoingMail:
    """A built message and its envelope, as the job layer makes them."""
    content = MessageContent(
        sender=Address(sender, "App"),
        to=tuple(Address(address) for address in to or ("ann@example.com",)),
        bcc=tuple(Address(address) for address in bcc),
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
    )
    message_id = make_message_id(sender.rpartition("@")[2])
    wire = to_bytes(build_message(content, message_id=message_id))
    return OutgoingMail(sender, tuple(content.envelope_recipients()), wire, message_id)
