from __future__ import annotations

from typing import Any

from flask import Blueprint

from mailer.batch import service
from mailer.batch.rate import message_rate_left
from mailer.batch.schemas import BatchIn, BatchRequest, BatchResult
from mailer.errors import RateLimitedError
from mailer.http.json import parse_body
from mailer.models import Role
from mailer.notifications import idempotency
from mailer.openapi.registry import documented
from mailer.security.principal import current_principal, require_role

bp = Blueprint("batch", __name__, url_prefix="/v1")


@bp.post("/messages/batch")
@documented(
    "Send up to 500 messages in one request", body=BatchRequest, response=BatchResult, errors=(409,),
    headers={"Idempotency-Key": "The same key (per tenant, 24 h) returns the first answer of the whole batch."},
    description="Each item is validated and accepted on its own, exactly as POST /v1/messages would: "
                "`status` 202 with the message id, or the problem it would have answered. Every item "
                "counts against the per-message rate limit and the daily quotas.",
)
@require_role(Role.USER, Role.ADMIN, Role.SERVICE)
def send_batch() -> Any:
    if message_rate_left() == 0:  # before the (up to 16 MiB) body is parsed and walked for nothing
        raise RateLimitedError("Over the per-message rate limit; no message of this batch can be accepted.")
    body = parse_body(BatchIn)
    principal = current_principal()
    return idempotency.replay_or_create(principal, lambda keyed: service.send_batch(principal, body.messages, keyed))
