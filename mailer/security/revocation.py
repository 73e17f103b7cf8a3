"""Revoked access-token ids, kept in Redis until the token would have expired anyway."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from redis.exceptions import RedisError

from mailer.queues import get_redis

log = logging.getLogger(__name__)
_PREFIX = "mailer:revoked-jti:"


def revoke_jti(jti: str, expires_at: datetime) -> None:
    ttl = int((expires_at - datetime.now(UTC)).total_seconds()) + 1
    if ttl > 0:
        get_redis().set(_PREFIX + jti, "1", ex=ttl)


def is_revoked(jti: str) -> bool:
    """True if revoked. With Redis down we accept the token: the user's token version
    in the database still ends every session on a password reset or a disable."""
    try:
        return bool(get_redis().exists(_PREFIX + jti))
    except RedisError:
        log.warning("revocation check skipped: redis unavailable")
        return False
