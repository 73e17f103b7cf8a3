"""Delivery through a tenant's own relay (API.md §10): its mail goes there, other tenants' to the operator's,
and a relay that cannot be used defers that tenant's mail — it never falls back to the operator's relay."""

from __future__ import annotations

from tests.relays.conftest import admin_of, put_relay, recipient, send


def test_a_tenants_mail_goes_to_its_relay_and_others_to_the_operators(client, acme, globex, relay, smtp_server,
                                                                      worker):
    """acme's message arrives at acme's relay (over STARTTLS, authenticated); globex's at the operator's."""
    put_relay(client, acme, relay.settings())
    acme_message, globex_message = send(client, acme, "ann@example.com"), send(client, globex, "bob@example.com")
    worker()
    assert [m.rcpt_tos for m in relay.handler.messages] == [("ann@example.com",)]
    assert relay.authenticator.attempts == ["acme-relay"]
    assert [m.rcpt_tos for m in smtp_server.messages] == [["bob@example.com"]]
    assert recipient(client, acme, acme_message)["status"] == "sent"
    assert recipient(client, globex, globex_message)["status"] == "sent"


def test_a_wrong_relay_password_defers_and_never_uses_the_operators_relay(client, acme, relay, smtp_server, worker):
    """AUTH 535 at the tenant's relay → deferred with the server's reply; the operator's relay gets nothing."""
    put_relay(client, acme, relay.settings(password="not-the-password"))
    message = send(client, acme)
    worker()
    row = recipient(client, acme, message)
    assert row["status"] == "deferred" and row["smtp_code"] == 535
    assert smtp_server.messages == [] and relay.handler.messages == []


def test_a_relay_that_is_down_defers(client, acme, smtp_server, worker):
    """Nothing listening at the tenant's relay → deferred (connection failed), nothing at the operator's."""
    from tests.smtp.smtpd import free_port

    put_relay(client, acme, {"host": "127.0.0.1", "port": free_port(), "encryption": "starttls"})
    message = send(client, acme)
    worker()
    row = recipient(client, acme, message)
    assert row["status"] == "deferred" and "connection failed" in row["last_error"]
    assert smtp_server.messages == []


def test_the_private_address_guard_also_holds_at_delivery(app_factory, relay, smtp_server, redis):
    """A relay stored while private hosts were allowed is not contacted once they are not: deferred, no connection."""
    from tests.fixtures import Drainer

    permissive = app_factory(RELAY_ALLOW_PRIVATE=True)
    client = permissive.test_client()
    admin = admin_of(permissive, client, "acme")
    put_relay(client, admin, relay.settings())
    strict = app_factory()
    message = send(strict.test_client(), admin)
    Drainer(strict, redis)()
    row = recipient(client, admin, message)
    assert row["status"] == "deferred" and "private" in row["last_error"]
    assert relay.handler.peers == set() and relay.authenticator.attempts == [] and smtp_server.messages == []


def test_an_unreadable_relay_password_defers(app_factory, relay, smtp_server, redis, relay_ca):
    """A password sealed under a key SECRETS_KEY no longer lists: deferred with that reason, no connection at all."""
    from cryptography.fernet import Fernet

    from mailer.extensions import db
    from mailer.models import TenantRelay
    from mailer.security.secret_box import SecretBox
    from tests.fixtures import Drainer

    other = app_factory(RELAY_ALLOW_PRIVATE=True, SMTP_CA_FILE=relay_ca[1])
    client = other.test_client()
    admin = admin_of(other, client, "acme")
    put_relay(client, admin, relay.settings())
    with other.app_context():  # this one row sealed under a key SECRETS_KEY does not list
        row = db.session.query(TenantRelay).one()
        row.password_sealed = SecretBox([Fernet.generate_key().decode()]).seal("pw", context="elsewhere")
        db.session.commit()
    message = send(client, admin)
    Drainer(other, redis)()
    row = recipient(client, admin, message)
    assert row["status"] == "deferred" and "SECRETS_KEY" in row["last_error"]
    assert relay.handler.peers == set() and smtp_server.messages == []


def test_after_delete_the_operators_relay_is_used_again(client, acme, relay, smtp_server, worker):
    """DELETE /v1/tenant/smtp: the next message goes to the operator's relay."""
    put_relay(client, acme, relay.settings())
    client.delete("/v1/tenant/smtp", headers=acme)
    send(client, acme)
    worker()
    assert len(smtp_server.messages) == 1 and relay.handler.messages == []
