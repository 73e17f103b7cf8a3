"""Sealed values are bound to their table, column and row (review N11): a database writer without SECRETS_KEY
who copies one tenant's sealed DKIM key into another tenant's relay password, or one endpoint's webhook secret
into another's, gets a value that does not open; where it belongs it opens as before."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import DkimKey, Tenant, TenantRelay, WebhookEndpoint
from mailer.relays.routing import UNREADABLE, relay_server
from mailer.security.sealed import open_value
from mailer.security.secret_box import SecretBox, SecretUnreadableError
from tests.helpers import bearer, create_tenant, login


def _admin(app: Any, slug: str, email: str) -> tuple[Any, dict[str, Any]]:
    client = app.test_client()
    return client, bearer(login(client, slug, email))


def test_a_sealed_value_copied_to_another_row_or_column_does_not_open(app_factory):
    app = app_factory(RELAY_ALLOW_PRIVATE=True, WEBHOOK_ALLOW_PRIVATE=True,
                      SECRETS_KEY=(Fernet.generate_key().decode(),))
    create_tenant(app)
    create_tenant(app, "globex", "boss@globex.test")
    client, acme = _admin(app, "acme", "admin@acme.test")
    _, globex = _admin(app, "globex", "boss@globex.test")
    assert client.post("/v1/domains", json={"name": "acme.com"}, headers=acme).status_code == 201
    assert client.put("/v1/tenant/smtp", json={"host": "127.0.0.1", "port": 2525, "encryption": "starttls",
                                               "username": "globex", "password": "globex-relay-pw"},
                      headers=globex).status_code == 200
    for headers in (acme, globex):
        assert client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["message.sent"]},
                           headers=headers).status_code == 201
    config = app.config["MAILER"]
    with app.app_context():
        dkim = db.session.scalars(select(DkimKey)).one()
        relay = db.session.scalars(select(TenantRelay)).one()
        assert relay_server(config, relay).password == "globex-relay-pw"  # in its place it opens
        assert open_value(config, DkimKey.private_key_sealed, dkim.id, dkim.private_key_sealed).startswith("-----BEGIN")

        relay.password_sealed = dkim.private_key_sealed  # the attack: acme's DKIM key into globex's relay
        db.session.commit()
        server = relay_server(config, db.session.scalars(select(TenantRelay)).one())
        assert server.password is None and server.unusable == UNREADABLE

        acme_hook, globex_hook = (db.session.scalars(select(WebhookEndpoint).join(Tenant)
                                                     .where(Tenant.slug == slug)).one() for slug in ("acme", "globex"))
        with pytest.raises(SecretUnreadableError):
            open_value(config, WebhookEndpoint.secret_sealed, globex_hook.id, acme_hook.secret_sealed)
        with pytest.raises(SecretUnreadableError):  # same row, another column
            open_value(config, TenantRelay.password_sealed, dkim.id, dkim.private_key_sealed)


def test_values_sealed_before_binding_open_and_the_rotate_walk_binds_them(app_factory):
    key = Fernet.generate_key().decode()
    app = app_factory(RELAY_ALLOW_PRIVATE=True, SECRETS_KEY=(key,))
    create_tenant(app)
    client, acme = _admin(app, "acme", "admin@acme.test")
    client.put("/v1/tenant/smtp", json={"host": "127.0.0.1", "port": 2525, "encryption": "starttls",
                                        "username": "acme", "password": "pw-1"}, headers=acme)
    legacy = Fernet(key).encrypt(b"pw-1").decode()  # as the service sealed it before values were bound
    with app.app_context():
        relay = db.session.scalars(select(TenantRelay)).one()
        relay.password_sealed = legacy
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0 and '"bound": {"tenant_relays.password_sealed": 1}' in result.output
    with app.app_context():
        relay = db.session.scalars(select(TenantRelay)).one()
        place = f"tenant_relays.password_sealed:{relay.tenant_id}"
        assert SecretBox([key]).is_bound(relay.password_sealed, context=place)
        assert relay_server(app.config["MAILER"], relay).password == "pw-1"
        relay.password_sealed = legacy  # every value is bound now: an unbound one can only be a copy
        db.session.commit()
    fresh = app_factory(RELAY_ALLOW_PRIVATE=True, SECRETS_KEY=(key,))
    with fresh.app_context():
        relay = db.session.scalars(select(TenantRelay)).one()
        assert relay_server(fresh.config["MAILER"], relay).password is None
