"""Single-use emailed tokens (verification, password reset): random, stored only as SHA-256.

A token is bound to one purpose and one user of one tenant. Redemption is one conditional
UPDATE (`used_at IS NULL AND expires_at > now`), so of two concurrent redemptions exactly
one wins, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from mailer.errors import InvalidTokenError, TokenExpiredError
from mailer.extensions import db
from mailer.models import ActionPurpose, ActionToken, User
from mailer.models.types import utcnow

TOKEN_BYTES = 32  # 256 bits
MAX_TOKEN_CHARS = 256


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def void_action_tokens(user_id: uuid.UUID, purpose: ActionPurpose) -> None:
    """Make every unused token of this purpose for this user unusable."""
    db.session.execute(
        update(ActionToken)
        .where(ActionToken.user_id == user_id, ActionToken.purpose == purpose, ActionToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def issue_action_token(user: User, purpose: ActionPurpose, lifetime_seconds: int) -> str:
    """A new token for the user (older unused ones of the same purpose are voided).

    Adds the hashed row to the session; the caller commits. Returns the token itself,
    which exists nowhere else but in the mail about to be built.
    """
    void_action_tokens(user.id, purpose)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.session.add(
        ActionToken(
            tenant_id=user.tenant_id,
            user_id=user.id,
            purpose=purpose,
            token_hash=hash_token(token),
            expires_at=utcnow() + timedelta(seconds=lifetime_seconds),
        )
    )
    return token


def find_action_token(token: str, purpose: ActionPurpose) -> tuple[ActionToken, User]:
    """The live token row and its user. InvalidTokenError if unknown, used, of another purpose
    or its user/tenant is gone or disabled; TokenExpiredError if only its time is up."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidTokenError()
    row = db.session.scalars(
        select(ActionToken).where(ActionToken.token_hash == hash_token(token), ActionToken.purpose == purpose)
    ).first()
    if row is None or row.used_at is not None:
        raise InvalidTokenError()
    user = db.session.get(User, row.user_id)
    if user is None or user.tenant_id != row.tenant_id or not user.is_active or not user.tenant.is_active:
        raise InvalidTokenError()
    if row.expires_at <= utcnow():
        raise TokenExpiredError()
    return row, user


def redeem_action_token(row: ActionToken) -> None:
    """Mark the token used, atomically. InvalidTokenError if someone else got there first."""
    now = utcnow()
    result = db.session.execute(
        update(ActionToken)
        .where(ActionToken.id == row.id, ActionToken.used_at.is_(None), ActionToken.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        raise InvalidTokenError()
