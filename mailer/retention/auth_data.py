"""Retention of account data (L18): what sign-up, password reset and sessions leave behind.

- ``auth_requests`` (address, name, IP; the password hash is dropped when processed or expired): kept
  MESSAGE_RETENTION_DAYS after they were made, then deleted once no longer pending.
- ``action_tokens`` (hashes only): deleted a day after they expired, used or not.
- ``refresh_tokens`` (hashes only): deleted a day after they expired; until then a rotated one is kept, so
  its re-use is still detected (API.md §2) for as long as it could have been used.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete

from mailer.config import Config
from mailer.extensions import db
from mailer.models import ActionToken, AuthRequest, AuthRequestStatus, RefreshToken

TOKEN_GRACE = timedelta(days=1)


def purge_auth_data(config: Config, now: datetime) -> dict[str, Any]:
    """Delete what is past retention; commits. Returns counts per table."""
    counts = {
        "auth_requests": db.session.execute(delete(AuthRequest).where(
            AuthRequest.status != AuthRequestStatus.PENDING,
            AuthRequest.created_at < now - timedelta(days=config.MESSAGE_RETENTION_DAYS),
        )).rowcount or 0,
        "action_tokens": db.session.execute(delete(ActionToken).where(
            ActionToken.expires_at < now - TOKEN_GRACE)).rowcount or 0,
        "refresh_tokens": db.session.execute(delete(RefreshToken).where(
            RefreshToken.expires_at < now - TOKEN_GRACE)).rowcount or 0,
    }
    db.session.commit()
    return counts
