"""Idempotency-Key on POST /v1/messages (API.md §3).

The first keyed request stores its response with the message, in the same transaction,
under a (tenant, key) unique constraint; a repeat within 24 h with the same body (and the
same caller) gets that response again, a different body gets 409 idempotency_conflict.
Two concurrent first requests cannot both create a message: the loser's commit violates
the constraint, and it answers with the winner's response instead.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mailer.errors import IdempotencyConflictError, ValidationError
from mailer.extensions import db
from mailer.models import IdempotencyKey
from mailer.security.types import Principal

HEADER = "Idempotency-Key"
KEY_LIFETIME = timedelta(hours=24)
_SANE_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


Reply = tuple[dict[str, Any], int, dict[str, str]]  # (JSON body, status, headers)


@dataclass(frozen=True)
class KeyedRequest:
    key: str
    fingerprint: str


def keyed_request(principal: Principal, body: Any) -> KeyedRequest | None:
    """The request's Idempotency-Key and body fingerprint, or None without the header."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _SANE_KEY.match(key):
        raise ValidationError(errors=[{"field": HEADER, "message": "1 to 255 printable ASCII characters"}])
    canonical = json.dumps({"caller": str(principal.id), "body": body}, sort_keys=True, separators=(",", ":"))
    return KeyedRequest(key, hashlib.sha256(canonical.encode()).hexdigest())


def find_replay(tenant_id: uuid.UUID, keyed: KeyedRequest) -> Reply | None:
    """The stored reply for this key, or None (also for an expired one); IdempotencyConflictError for another body.

    A lookup only: an expired row is replaced by remember(), in the transaction of the new message.
    """
    row = _stored(tenant_id, keyed.key)
    if row is None or _expired(row):
        return None
    if row.fingerprint != keyed.fingerprint:
        raise IdempotencyConflictError("This Idempotency-Key was already used with a different request body.")
    return row.response, row.status_code, {"Idempotent-Replayed": "true"}


def replay_or_create(principal: Principal, create: Callable[[KeyedRequest | None], Any]) -> Any:
    """The stored answer for the request's Idempotency-Key, else ``create(keyed)``'s.

    A concurrent first request with the same key makes ``create``'s commit raise IntegrityError:
    the loser rolls back and answers with the winner's response.
    """
    keyed = keyed_request(principal, request.get_json())
    if keyed is not None and (replayed := find_replay(principal.tenant_id, keyed)):
        return replayed
    try:
        return create(keyed)
    except IntegrityError:
        db.session.rollback()
        if keyed is not None and (replayed := find_replay(principal.tenant_id, keyed)):
            return replayed
        raise


def keyed_message(principal: Principal, key: str, content: bytes) -> KeyedRequest:
    """A key read from a submitted message's header, fingerprinted over the caller and the message as received."""
    if not _SANE_KEY.match(key):
        raise ValidationError(errors=[{"field": "X-Mailer-Idempotency-Key",
                                       "message": "1 to 255 printable ASCII characters"}])
    digest = hashlib.sha256(str(principal.id).encode() + b"\0" + content).hexdigest()
    return KeyedRequest(key, digest)


def remember(tenant_id: uuid.UUID, keyed: KeyedRequest, message_id: uuid.UUID, status: int,
             response: dict[str, Any]) -> None:
    """Store the reply in the caller's transaction (the caller commits), replacing an expired row of the key."""
    expired = _stored(tenant_id, keyed.key)
    if expired is not None and _expired(expired):
        db.session.delete(expired)
        db.session.flush()  # the unique (tenant, key) slot is free before the new row goes in
    db.session.add(IdempotencyKey(
        tenant_id=tenant_id, key=keyed.key, fingerprint=keyed.fingerprint, message_id=message_id,
        status_code=status, response=response, expires_at=datetime.now(UTC) + KEY_LIFETIME,
    ))


def _stored(tenant_id: uuid.UUID, key: str) -> IdempotencyKey | None:
    return db.session.scalars(
        select(IdempotencyKey).where(IdempotencyKey.tenant_id == tenant_id, IdempotencyKey.key == key)
    ).first()


def _expired(row: IdempotencyKey) -> bool:
    return row.expires_at <= datetime.now(UTC)
