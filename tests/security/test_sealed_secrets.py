"""Secrets at rest (API.md §7, §10): DKIM keys and relay passwords are sealed with SECRETS_KEY, rotate under
a new key with `flask --app wsgi secrets rotate`, and appear in clear in no table, answer, audit record or log."""

from __future__ import annotations

import json
import logging
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import select

from mailer.security.sealed import context_for
from mailer.security.secret_box import secret_box
from tests.helpers import bearer, create_tenant, login

RELAY_PASSWORD = "relay-password-Kx81-secret"


def _tenant_with_secrets(app: Any) -> tuple[Any, dict[str, Any], list[Any]]:
    """A tenant with a sending domain (its DKIM key), a relay with a password and a webhook endpoint (its
    signing secret); every answer it got."""
    client = app.test_client()
    create_tenant(app, "acme", "admin@acme.test")
    admin = bearer(login(client, "acme", "admin@acme.test"))
    answers = [
        client.post("/v1/domains", json={"name": "acme.com"}, headers=admin),
        client.put("/v1/tenant/smtp", json={"host": "127.0.0.1", "port": 2525, "encryption": "starttls",
                                            "username": "acme", "password": RELAY_PASSWORD}, headers=admin),
        client.get("/v1/tenant/smtp", headers=admin),
        client.get("/v1/domains", headers=admin),
        client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks", "events": ["message.sent"]},
                    headers=admin),
        client.get("/v1/webhooks", headers=admin),
        client.get("/v1/audit-events", headers=admin),
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 201, 200, 200]
    return client, admin, answers


def _placed(app: Any) -> list[tuple[str, str]]:
    """(sealed value, the place it is bound to) of the DKIM key, the relay password and the webhook secret."""
    from mailer.extensions import db
    from mailer.models import DkimKey, TenantRelay, WebhookEndpoint

    with app.app_context():
        return [(token, context_for(column, row_id)) for column, pk in (
            (DkimKey.private_key_sealed, DkimKey.id), (TenantRelay.password_sealed, TenantRelay.tenant_id),
            (WebhookEndpoint.secret_sealed, WebhookEndpoint.id),
        ) for row_id, token in db.session.execute(select(pk, column)).all()]


def _sealed(app: Any) -> tuple[str, ...]:
    return tuple(token for token, _ in _placed(app))


def _open_all(keys: tuple[str, ...], placed: list[tuple[str, str]]) -> list[str]:
    return [secret_box(keys).open(token, context=context) for token, context in placed]


def _dump(app: Any) -> str:
    """Every row of every table, as text (what a database dump would hold)."""
    from mailer.extensions import db

    with app.app_context():
        return "\n".join(repr(tuple(row)) for table in db.metadata.sorted_tables
                         for row in db.session.execute(table.select()))


def test_no_private_key_or_password_in_clear_anywhere(app_factory, caplog):
    """Neither the PEM nor the relay password is in the database, the answers, the audit trail or the logs;
    the webhook secret is in its one create answer only."""
    key = Fernet.generate_key().decode()
    app = app_factory(RELAY_ALLOW_PRIVATE=True, WEBHOOK_ALLOW_PRIVATE=True, SECRETS_KEY=(key,))
    caplog.set_level(logging.DEBUG)
    _, _, answers = _tenant_with_secrets(app)
    sealed_key = _sealed(app)[0]
    pem, password, webhook_secret = _open_all((key,), _placed(app))
    assert webhook_secret.startswith("whsec_") and webhook_secret in answers[4].get_data(as_text=True)
    assert password == RELAY_PASSWORD  # sealed, and what was given
    # PKCS#1 starts with the modulus, which the public DKIM record holds too: look for the private rest.
    key_lines = [line for line in pem.splitlines() if "PRIVATE KEY" not in line][8:]
    assert len(key_lines) > 15
    places = {"database": _dump(app), "answers": "\n".join(a.get_data(as_text=True) for a in answers),
              "logs": caplog.text}
    assert sealed_key in places["database"]  # we looked in the right place
    for where, text in places.items():
        assert RELAY_PASSWORD not in text, where
        assert where == "answers" or webhook_secret not in text, where
        assert "PRIVATE KEY" not in text and not any(line in text for line in key_lines), where


def test_rotate_reseals_every_secret_under_the_newest_key(app_factory):
    """After `secrets rotate` with SECRETS_KEY=new,old, the secrets open with the new key alone, unchanged."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app = app_factory(RELAY_ALLOW_PRIVATE=True, WEBHOOK_ALLOW_PRIVATE=True, SECRETS_KEY=(old,))
    _tenant_with_secrets(app)
    before = _sealed(app)
    plain = _open_all((old,), _placed(app))

    rotating = app_factory(RELAY_ALLOW_PRIVATE=True, WEBHOOK_ALLOW_PRIVATE=True, SECRETS_KEY=(new, old))
    result = rotating.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "resealed": {"hmac_keyring.sealed": 1, "dkim_keys.private_key_sealed": 1, "tenant_relays.password_sealed": 1,
                     "webhook_endpoints.secret_sealed": 1, "webhook_endpoints.previous_secret_sealed": 0,
                     "erasures.sealed_address": 0},
        "unreadable": {}, "bound": {}}
    after = _sealed(app)
    assert all(a != b for a, b in zip(after, before, strict=True))
    assert _open_all((new,), _placed(app)) == plain
    assert RELAY_PASSWORD not in result.output


def test_rotate_reports_secrets_no_listed_key_opens_and_exits_1(app_factory):
    """A value sealed under a key no longer listed is left as it is, counted, and the command exits 1."""
    app = app_factory(RELAY_ALLOW_PRIVATE=True, WEBHOOK_ALLOW_PRIVATE=True,
                      SECRETS_KEY=(Fernet.generate_key().decode(),))
    _tenant_with_secrets(app)
    before = _sealed(app)
    stranger = app_factory(RELAY_ALLOW_PRIVATE=True, WEBHOOK_ALLOW_PRIVATE=True,
                           SECRETS_KEY=(Fernet.generate_key().decode(),))
    result = stranger.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["unreadable"] == {"hmac_keyring.sealed": 1, "dkim_keys.private_key_sealed": 1,
                                                       "tenant_relays.password_sealed": 1,
                                                       "webhook_endpoints.secret_sealed": 1}
    assert _sealed(app) == before
