"""Sending rules for SMTP submission (API.md §13): the same steps as POST /v1/messages.

The door (mailer/submission) authenticates and reads the envelope; this module applies the rules the API
applies — the sender domain of §10, the daily quota of §5, tags and metadata of §3, Idempotency-Key — and
stores the kept message with service.store_draft (quota, rows, suppressions, audit, outbox, enqueue).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from flask import current_app
from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from mailer.config import Config
from mailer.domains.policy import may_send_as
from mailer.errors import IdempotencyConflictError, QuotaExceededError, ValidationError
from mailer.extensions import atomic, db
from mailer.mail.outbox import StagedJob, enqueue_staged
from mailer.mail.quota import check_room
from mailer.mail.submitted import SenderRefusedError, Submission, keep_message
from mailer.models import Tenant
from mailer.notifications.idempotency import find_replay, keyed_message, remember
from mailer.notifications.schemas import Metadata, Tag
from mailer.notifications.serializers import accepted_json
from mailer.notifications.service import Draft, stage_message
from mailer.security.types import Principal
from mailer.smtp.validation import MessageValidationError

_TAGS: TypeAdapter[list[str]] = TypeAdapter(Annotated[list[Tag], Field(max_length=10)])
_METADATA: TypeAdapter[dict[str, str]] = TypeAdapter(Metadata)
# A submission's own refusals: raised before anything of it is written, so the others of its group go on.
REFUSALS = (MessageValidationError, ValidationError, SenderRefusedError, QuotaExceededError,
            IdempotencyConflictError)


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

    Raises one of REFUSALS (bad headers, tags or metadata, sender, quota, idempotency) or a database error
    (nothing stored).
    """
    [result] = submit_messages([(principal, submission)])
    if isinstance(result, Exception):
        raise result
    return result


def submit_messages(items: Sequence[tuple[Principal, Submission]]) -> list[dict[str, Any] | Exception]:
    """submit_message for submissions that arrived together (group commit): each is checked on its own and
    gets its 202 body or its refusal (one of REFUSALS, nothing of it written); all that are accepted are
    stored in one transaction and their jobs enqueued after its commit. A failed commit raises for them all.
    """
    config = _config()
    results: list[dict[str, Any] | Exception] = []
    jobs: list[StagedJob] = []
    with atomic():
        for principal, submission in items:
            try:
                accepted, staged = _stage(config, principal, submission)
            except REFUSALS as refused:
                results.append(refused)
                continue
            results.append(accepted)
            jobs.extend(staged)
    enqueue_staged(jobs)  # with Redis down, the sweeper enqueues them later
    return results


def _stage(config: Config, principal: Principal, submission: Submission) -> tuple[dict[str, Any], list[StagedJob]]:
    """One submission in the caller's transaction: refused before anything of it is written, or staged."""
    tenant = _tenant(principal)
    kept = keep_message(config, tenant, submission)
    tags = _checked(_TAGS, kept.tags, "X-Mailer-Tag")
    metadata = _checked(_METADATA, kept.metadata, "X-Mailer-Metadata")
    keyed = keyed_message(principal, kept.idempotency_key, submission.raw) if kept.idempotency_key else None
    if keyed is not None and (replayed := find_replay(tenant.id, keyed)):
        return replayed[0], []
    # stage_message counts the quota after its inserts: checked first, so a refusal writes nothing (the
    # transaction holds the others' rows); a concurrent process's commit in between fails the commit instead.
    check_room(config, tenant.id, len(kept.composed.recipients))
    message, staged = stage_message(config, principal, tenant, Draft(kept.composed, None, tags, metadata))
    accepted = accepted_json(message)
    if keyed is not None:
        remember(tenant.id, keyed, message.id, 202, accepted)
    return accepted, staged


def _checked(adapter: TypeAdapter[Any], value: Any, field: str) -> Any:
    try:
        return adapter.validate_python(value)
    except PydanticValidationError as exc:
        raise ValidationError(errors=[{"field": field, "message": exc.errors()[0]["msg"]}]) from None
