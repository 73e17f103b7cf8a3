"""Tenant relay rules: the SSRF guard, write-only encrypted password, audit without secrets."""

from __future__ import annotations

import re

from flask import current_app

from mailer.audit import record_audit
from mailer.config import Config
from mailer.errors import NotFoundError, ValidationError
from mailer.extensions import atomic, db
from mailer.models import TenantRelay
from mailer.models.types import utcnow
from mailer.relays.routing import relay_server
from mailer.relays.schemas import RelayPut
from mailer.security.sealed import seal_value
from mailer.security.types import Principal
from mailer.smtp.addresses import PrivateAddressError, public_addresses
from mailer.smtp.connection import may_authenticate
from mailer.smtp.probe import ProbeResult, probe_server

_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?|\[?[0-9a-f:.]+\]?")


def _config() -> Config:
    return current_app.config["MAILER"]


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(errors=[{"field": field, "message": message}])


def _checked_host(config: Config, host: str, port: int) -> str:
    host = host.strip().rstrip(".").lower()
    if not _HOST.fullmatch(host):
        raise _invalid("host", "must be a host name or an IP address")
    host = host.strip("[]")
    if not config.RELAY_ALLOW_PRIVATE:
        if port not in config.RELAY_PORTS:
            raise _invalid("port", f"must be one of {', '.join(map(str, config.RELAY_PORTS))}")
        try:
            public_addresses(host, port)
        except PrivateAddressError as exc:
            raise _invalid("host", str(exc)) from None
    return host


def get_relay(principal: Principal) -> TenantRelay:
    relay = db.session.get(TenantRelay, principal.tenant_id)
    if relay is None:
        raise NotFoundError("The tenant uses the operator's relay.")
    return relay


def put_relay(principal: Principal, body: RelayPut) -> TenantRelay:
    """Replace the tenant's relay settings. The password is kept only for the same host, port and user."""
    config = _config()
    host = _checked_host(config, body.host, body.port)
    if body.password is not None and body.username is None:
        raise _invalid("password", "a password needs a username")
    if body.username is not None and body.encryption == "none" and not may_authenticate(host, False):
        raise _invalid("encryption", "credentials are only sent over TLS: use starttls or ssl")
    relay = db.session.get(TenantRelay, principal.tenant_id)
    same_login = relay is not None and (relay.host, relay.port, relay.username) == (host, body.port, body.username)
    sealed = relay.password_sealed if same_login and relay is not None else None
    if body.password is not None:
        sealed = seal_value(config, TenantRelay.password_sealed, principal.tenant_id, body.password)
    if relay is None:
        relay = TenantRelay(tenant_id=principal.tenant_id)
        db.session.add(relay)
    relay.host, relay.port, relay.encryption = host, body.port, body.encryption
    relay.username, relay.password_sealed, relay.verify_tls = body.username, sealed, body.verify_tls
    relay.updated_at = utcnow()
    with atomic():
        record_audit("tenant_relay.changed", tenant_id=principal.tenant_id, actor_id=principal.id,
                     actor_type=principal.kind, details={"host": host, "port": body.port, "encryption": body.encryption,
                                                         "username": body.username, "verify_tls": body.verify_tls})
    return relay


def delete_relay(principal: Principal) -> None:
    """Back to the operator's relay (idempotent)."""
    relay = db.session.get(TenantRelay, principal.tenant_id)
    if relay is None:
        return
    db.session.delete(relay)
    with atomic():
        record_audit("tenant_relay.deleted", tenant_id=principal.tenant_id, actor_id=principal.id,
                     actor_type=principal.kind, details={"host": relay.host, "port": relay.port})


def probe_relay(principal: Principal) -> ProbeResult:
    """Connect, greet, start TLS, authenticate and quit with the stored settings (never pooled)."""
    return probe_server(relay_server(_config(), get_relay(principal)))
