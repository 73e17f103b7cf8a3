from __future__ import annotations

from typing import Any

from flask import Blueprint

from mailer.http.json import iso, parse_body
from mailer.models import Role, TenantRelay
from mailer.openapi.registry import documented
from mailer.relays import service
from mailer.relays.responses import ProbeOut, RelayOut
from mailer.relays.schemas import RelayPut
from mailer.security.principal import current_principal, require_role

bp = Blueprint("relays", __name__, url_prefix="/v1")


def relay_json(relay: TenantRelay) -> dict[str, Any]:
    return {"host": relay.host, "port": relay.port, "encryption": relay.encryption, "username": relay.username,
            "verify_tls": relay.verify_tls, "has_password": relay.password_sealed is not None,
            "updated_at": iso(relay.updated_at)}


@bp.put("/tenant/smtp")
@documented("Send the tenant's mail through its own relay (the password is write-only)", body=RelayPut,
            response=RelayOut)
@require_role(Role.ADMIN)
def put_relay() -> Any:
    body = parse_body(RelayPut)
    return relay_json(service.put_relay(current_principal(), body))


@bp.get("/tenant/smtp")
@documented("The tenant's own relay, without its password; 404 when it uses the operator's", response=RelayOut,
            errors=(404,))
@require_role(Role.ADMIN)
def get_relay() -> Any:
    return relay_json(service.get_relay(current_principal()))


@bp.delete("/tenant/smtp")
@documented("Return to the operator's relay", status=204)
@require_role(Role.ADMIN)
def delete_relay() -> Any:
    service.delete_relay(current_principal())
    return "", 204


@bp.post("/tenant/smtp/test")
@documented("Connect to the tenant's relay: greet, start TLS, authenticate, quit; each step's reply",
            response=ProbeOut, errors=(404,))
@require_role(Role.ADMIN)
def test_relay() -> Any:
    result = service.probe_relay(current_principal())
    return {"ok": result.ok, "steps": [{"step": s.step, "reply": s.reply} for s in result.steps],
            "error": result.error}
