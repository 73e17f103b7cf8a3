"""Tenant relay fixtures: a second aiosmtpd (STARTTLS with a trustme certificate, AUTH required), the app
trusting that CA as it would the operator's, and two tenants."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from tests.smtp.smtpd import HOST, Authenticator, RecordingHandler, free_port
from tests.tenant_admins import acme, admin_of, globex  # noqa: F401 - shared fixtures

RELAY_USER, RELAY_PASSWORD = "acme-relay", "relay-pass-Zq93-never-shown"


@dataclass
class Relay:
    port: int
    handler: RecordingHandler
    authenticator: Authenticator
    controller: Controller

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {"host": HOST, "port": self.port, "encryption": "starttls", "username": RELAY_USER,
                "password": RELAY_PASSWORD, **overrides}


@pytest.fixture(scope="session")
def relay_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, str]:
    ca = trustme.CA()
    path: Path = tmp_path_factory.mktemp("relay-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, str(path)


@pytest.fixture
def relay(relay_ca: tuple[trustme.CA, str]) -> Iterator[Relay]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    relay_ca[0].issue_cert(HOST, "localhost").configure_cert(context)
    handler, authenticator = RecordingHandler(), Authenticator(RELAY_USER, RELAY_PASSWORD)
    controller = Controller(handler, hostname=HOST, port=free_port(), server_hostname="relay.test",
                            tls_context=context, require_starttls=True, auth_required=True,
                            authenticator=authenticator)
    controller.start()
    yield Relay(controller.port, handler, authenticator, controller)
    controller.stop()


@pytest.fixture
def app(app_factory: Any, relay_ca: tuple[trustme.CA, str]) -> Flask:
    """Tenant relays on loopback allowed (tests only), the relay's CA trusted as for the operator's relay."""
    return app_factory(RELAY_ALLOW_PRIVATE=True, SMTP_CA_FILE=relay_ca[1], SMTP_RETRY_DELAYS=(1,),
                       SMTP_TIMEOUT_SECONDS=2.0)


def put_relay(client: FlaskClient, admin: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    response = client.put("/v1/tenant/smtp", json=settings, headers=admin)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def send(client: FlaskClient, admin: dict[str, Any], to: str = "ann@example.com") -> dict[str, Any]:
    response = client.post("/v1/messages", json={"to": [to], "subject": "Hi", "text": "Hello"}, headers=admin)
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def recipient(client: FlaskClient, admin: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    return client.get(f"/v1/messages/{message['id']}", headers=admin).get_json()["recipients"][0]
