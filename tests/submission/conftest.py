"""A real submission server (both ports, trustme TLS) on this test's app, a tenant and its API key."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from flask import Flask

from mailer.extensions import db
from mailer.security.api_keys import new_api_key
from mailer.submission.server import SubmissionServer
from mailer.submission.tls import server_context
from tests.fixtures import FAST, HOST, Sink, free_port
from tests.helpers import create_tenant

SENDER = "app@acme.test"


@dataclass(frozen=True)
class Tls:
    ca: trustme.CA
    cert: str
    key: str

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost", "mailer.test")
    folder = tmp_path_factory.mktemp("submission-tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    for extra in leaf.cert_chain_pems[1:]:
        extra.write_to_path(str(cert), append=True)
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    return Tls(ca, str(cert), str(key))


@dataclass
class Submission:
    app: Flask
    tls: Tls
    port: int
    tls_port: int
    key: str
    tenant_id: uuid.UUID
    server: SubmissionServer

    def starttls(self, *, login: bool = True, timeout: float = 10) -> smtplib.SMTP:
        client = smtplib.SMTP(HOST, self.port, timeout=timeout)
        client.ehlo("client.test")
        client.starttls(context=self.tls.client_context())
        client.ehlo("client.test")
        if login:
            client.login("anyone", self.key)
        return client

    def implicit(self, *, login: bool = True, timeout: float = 10) -> smtplib.SMTP_SSL:
        client = smtplib.SMTP_SSL(HOST, self.tls_port, timeout=timeout, context=self.tls.client_context())
        client.ehlo("client.test")
        if login:
            client.login("anyone", self.key)
        return client


def make_key(app: Flask, tenant_id: uuid.UUID) -> str:
    with app.app_context():
        _, secret = new_api_key(tenant_id, "smtp", None)
        db.session.commit()
    return secret


@pytest.fixture
def submission_factory(app_factory: Callable[..., Flask], sink: Sink, tls: Tls) -> Iterator[Callable[..., Submission]]:
    servers: list[SubmissionServer] = []

    def start(**overrides: Any) -> Submission:
        settings = {**FAST, "SMTP_PORT": sink.port, "SUBMISSION_TLS_CERT": tls.cert, "SUBMISSION_TLS_KEY": tls.key,
                    **overrides}
        app = app_factory(**settings)
        tenant_id = uuid.UUID(create_tenant(app, mail_from=SENDER)["tenant_id"])
        key = make_key(app, tenant_id)
        port, tls_port = free_port(), free_port()
        server = SubmissionServer(app, HOST, port, tls_port, server_context(app.config["MAILER"], "mailer.test"),
                                  "mailer.test")
        server.start()
        servers.append(server)
        return Submission(app, tls, port, tls_port, key, tenant_id, server)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def submission(submission_factory: Callable[..., Submission]) -> Submission:
    return submission_factory()


def ca_file(tls: Tls) -> Path:
    return Path(tls.cert).parent / "ca.pem"
