"""Console sign-ins (API.md §12): an opaque random id in the cookie, its SHA-256 in `console_sessions`.

A session is alive while the user and tenant are active, the address verified, the user's token_version
is the one it began with (a password reset, disable or role change bumps it), and it was used within
CONSOLE_SESSION_HOURS. Anything else ends it at the next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, update

from mailer.extensions import db
from mailer.models import ConsoleSession, User
from mailer.models.types import utcnow

# last_seen_at is written at most this often: a page view is not a write each time.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class LiveSession:
    id_hash: str
    user: User


def hash_session_id(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def start(user: User) -> str:
    """A new session for a user who just proved their password; returns the cookie's value (caller commits)."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(ConsoleSession(id_hash=hash_session_id(raw), tenant_id=user.tenant_id, user_id=user.id,
                                  token_version=user.token_version, created_at=now, last_seen_at=now))
    return raw


def _idle_limit() -> timedelta:
    return timedelta(hours=current_app.config["MAILER"].CONSOLE_SESSION_HOURS)


def resume(raw: str | None) -> LiveSession | None:
    """The live session behind a cookie value, touched; None (and the row gone) when it has ended."""
    if not raw or len(raw) > 128:
        return None
    id_hash = hash_session_id(raw)
    row = db.session.get(ConsoleSession, id_hash)
    if row is None:
        return None
    user = db.session.get(User, row.user_id)
    now = utcnow()
    idle_limit = _idle_limit()
    if (
        user is None
        or user.tenant_id != row.tenant_id
        or not user.is_active
        or not user.email_verified
        or not user.tenant.is_active
        or user.token_version != row.token_version
        or now - row.last_seen_at > idle_limit
    ):
        end(raw)
        return None
    if now - row.last_seen_at > min(_TOUCH_EVERY, idle_limit / 4):
        db.session.execute(update(ConsoleSession).where(ConsoleSession.id_hash == id_hash)
                           .values(last_seen_at=now).execution_options(synchronize_session=False))
        db.session.commit()
    return LiveSession(id_hash, user)


def end(raw: str | None) -> None:
    if raw:
        db.session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == hash_session_id(raw))
                           .execution_options(synchronize_session=False))
        db.session.commit()
