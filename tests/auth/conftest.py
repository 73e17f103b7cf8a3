"""Helpers for the account tests: read links out of received mail, sign users up for real."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures import Drainer, SmtpSink
from tests.helpers import create_tenant

PASSWORD = "a long enough passw0rd"
_LINK = re.compile(r"https?://[^\s<>\"]+")


def mails_to(smtp: SmtpSink, address: str) -> list[Any]:
    return [m.message for m in smtp.messages if address in m.rcpt_tos]


def text_of(mail: Any) -> str:
    return mail.get_body(("plain",)).get_content()


def html_of(mail: Any) -> str:
    return mail.get_body(("html",)).get_content()


def link_in(mail: Any, path: str) -> str:
    """The first link to `path` in the mail's text part, as a user would click it."""
    for url in _LINK.findall(text_of(mail)):
        if urlsplit(url).path.endswith(path):
            return url
    raise AssertionError(f"no {path} link in:\n{text_of(mail)}")


def token_in(mail: Any, path: str) -> str:
    return parse_qs(urlsplit(link_in(mail, path)).query)["token"][0]


def register(client: FlaskClient, email: str, password: str = PASSWORD, tenant: str = "acme", **extra: Any) -> Any:
    return client.post("/v1/auth/register", json={"tenant": tenant, "email": email, "password": password, **extra})


def sign_up(client: FlaskClient, worker: Drainer, smtp: SmtpSink, email: str, password: str = PASSWORD,
            tenant: str = "acme") -> None:
    """Register, receive the verification mail, click its link: a verified user."""
    assert register(client, email, password, tenant).status_code == 202
    worker()
    token = token_in(mails_to(smtp, email.lower())[-1], "/verify-email")
    response = client.post("/v1/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.get_json()


def login_pair(client: FlaskClient, email: str, password: str = PASSWORD, tenant: str = "acme") -> dict[str, Any]:
    response = client.post("/v1/auth/login", json={"tenant": tenant, "email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def acme_ids(app: Flask) -> dict[str, str]:
    return create_tenant(app, "acme", "admin@acme.test", frontend_url="https://app.acme.test/")
