"""Test-only helpers shared across modules: tenants, logins, bearer headers; signing up for real and reading
the links out of the mail it sends."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient

if TYPE_CHECKING:  # tests.fixtures imports this module
    from tests.fixtures import Drainer, SmtpSink

ADMIN_PASSWORD = "correct horse battery staple"


def create_tenant(
    app: Flask, slug: str = "acme", admin_email: str = "admin@acme.test", **options: str
) -> dict[str, str]:
    """Creates a tenant through the real CLI; returns {"tenant_id", "admin_id"}."""
    args = ["tenants", "create", slug, "--name", slug.title(), "--admin-email", admin_email,
            "--admin-password", ADMIN_PASSWORD]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", value]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def login(client: FlaskClient, tenant: str, email: str, password: str = ADMIN_PASSWORD) -> str:
    response = client.post("/v1/auth/login", json={"tenant": tenant, "email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def bearer(token: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}"}


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
