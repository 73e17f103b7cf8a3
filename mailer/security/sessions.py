"""Refresh-token sessions in the database: record, rotate, revoke (one token, a family, a user)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, update

from mailer.extensions import db
from mailer.models import ConsoleSession, RefreshToken
from mailer.models.types import utcnow
from mailer.security.tokens import TokenClaims


def new_family() -> str:
    return uuid.uuid4().hex


def record_refresh_token(claims: TokenClaims, family: str) -> None:
    db.session.add(
        RefreshToken(
            jti=claims.jti, tenant_id=claims.tenant_id, user_id=claims.user_id,
            family=family, expires_at=claims.expires_at,
        )
    )


def rotate_refresh_token(jti: str) -> bool:
    """Mark the token used; True only for the one caller that did (a conditional UPDATE)."""
    result = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.jti == jti, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def revoke_family(family: str) -> None:
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def revoke_user_sessions(user_id: uuid.UUID) -> None:
    """Every refresh token and every console sign-in of the user."""
    db.session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id)
                       .execution_options(synchronize_session=False))
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
