from __future__ import annotations

from typing import Any

from flask import Blueprint

from mailer.erasure import service
from mailer.erasure.schemas import ErasureAccepted, ErasureRequest
from mailer.http.json import parse_body
from mailer.models import Role
from mailer.openapi.registry import documented
from mailer.security.principal import current_principal, require_role

bp = Blueprint("erasure", __name__, url_prefix="/v1")


@bp.post("/erasures")
@documented(
    "Erase an address from the tenant's data", body=ErasureRequest, response=ErasureAccepted, status=202,
    description="Every copy of the address in the tenant's messages, recipients, events and auth requests is "
                "replaced by a keyed hash; mail to it still being delivered is erased once it finishes "
                "(`pending` until then). Audited `data.erased` with the hash only.",
)
@require_role(Role.ADMIN)
def create_erasure() -> Any:
    body = parse_body(ErasureRequest)
    erasure = service.request_erasure(current_principal(), body.email)
    return {"id": str(erasure.id), "status": erasure.status}, 202
