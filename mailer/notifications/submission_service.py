"""Sending rules for SMTP submission (API.md §13): the same steps as POST /v1/messages.

The door (mailer/submission) authenticates and reads the envelope; this module applies the rules the API
applies — the sender domain of §10, the daily quota of §5, tags and metadata of §3, Idempotency-Key — and
stores the kept message with service.store_draft (quota, rows, suppressions, audit, outbox, enqueue).
"""

from __future__ import annotations

from typing import Annotated, Any

from flask import current_app
from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from mailer.config import Config
from mailer.domains.policy import may_send_as
from mailer.errors import ValidationError
from mailer.extensions import db
from mailer.mail.quota import check_room
from mailer.mail.submitted import Submission, keep_message
from mailer.models import Tenant
from mailer.notifications.idempotency import keyed_message, replay_or_run
from mailer.notifications.schemas import Metadata, Tag
from mailer.notifications.service import Draft, store_draft
from mailer.security.types import Principal

_TAGS: TypeAdapter[list[str]] = TypeAdapter(Annotated[list[Tag], Field(max_length=10)])
_METADATA: TypeAdapter[dict[str, str]] = TypeAdapter(Metadata)


def _config() -> Config:
    return current_app.config["MAILER"]


def _tenant(principal: Principal) -> Tenant:
    return db.session.get(Tenant, principal.tenant_id)


def may_submit_as(principal: Principal, address: str) -> bool:
    """Whether the envelope sender is on a domain the caller's tenant may send as (§10's rule)."""
    return may_send_as(_config(), _tenant(principal), address)


def check_recipient_room(principal: Principal, count: int) -> None:
    """QuotaExceededError (with Retry-After) unless `count` recipients still fit in today's quota."""
    check_room(_config(), principal.tenant_id, count)


def submit_message(principal: Principal, submission: Submission) -> dict[str, Any]:
    """Store a submitted message like POST /v1/messages stores one (kind custom); the 202 body (its id).

    Raises MessageValidationError / ValidationError (bad headers, tags or metadata), SenderRefusedError,
    QuotaExceededError, IdempotencyConflictError, or a database error (nothing stored).
    """
    config = _config()
    tenant = _tenant(principal)
    kept = keep_message(config, tenant, submission)
    tags = _checked(_TAGS, kept.tags, "X-Mailer-Tag")
    metadata = _checked(_METADATA, kept.metadata, "X-Mailer-Metadata")
    keyed = keyed_message(principal, kept.idempotency_key, submission.raw) if kept.idempotency_key else None
    draft = Draft(kept.composed, None, tags, metadata)

    def create(keyed_now: Any) -> dict[str, Any]:
        return store_draft(config, principal, tenant, draft, keyed_now)

    answer = replay_or_run(tenant.id, keyed, create)
    return answer[0] if isinstance(answer, tuple) else answer


def _checked(adapter: TypeAdapter[Any], value: Any, field: str) -> Any:
    try:
        return adapter.validate_python(value)
    except PydanticValidationError as exc:
        raise ValidationError(errors=[{"field": field, "message": exc.errors()[0]["msg"]}]) from None
