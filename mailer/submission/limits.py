"""The submission server's bounds (API.md §13, §5): sessions, failed AUTH per client address, messages per key,
the daily quota's room that RCPT answers from.

Sessions are counted in this process (both ports share one count). Failed AUTH is counted in Redis (every
submission process shares it) with a per-process fallback when Redis is down, never no limit. The message
rate spends the API's own RATELIMIT_MESSAGES bucket of the key (flask-limiter's storage and key), so a key
cannot double its rate by using both doors.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flask import current_app
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from redis import Redis, RedisError

from mailer.config import Config
from mailer.extensions import current_limiter
from mailer.http.rate_limits import MESSAGES_ENDPOINT, ip_bucket, principal_key
from mailer.queues import get_redis
from mailer.security.types import Principal

AUTH_FAILURES = 10
AUTH_WINDOW_SECONDS = 600


@dataclass
class SessionSlots:
    """At most ``total`` sessions over both ports and ``per_client`` from one client address."""

    total: int
    per_client: int
    _open: int = 0
    _by_client: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def take(self, client: str) -> str | None:
        """None when a slot is taken (give it back with ``release``), else the refusal to send."""
        with self._lock:
            if self._open >= self.total:
                return "421 4.3.2 Too many sessions, try again later"
            if self._by_client[client] >= self.per_client:
                return "421 4.3.2 Too many sessions from your address, try again later"
            self._open += 1
            self._by_client[client] += 1
            return None

    def release(self, client: str) -> None:
        with self._lock:
            self._open -= 1
            self._by_client[client] -= 1
            if self._by_client[client] <= 0:
                del self._by_client[client]
            self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no session holds a slot (aiosmtpd's start-up probe connects and leaves asynchronously)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._open == 0, timeout)


class AuthFailures:
    """Failed AUTH per client address: AUTH_FAILURES in AUTH_WINDOW_SECONDS, then refused until the window ends."""

    def __init__(self) -> None:
        self._memory = MemoryStorage()

    @staticmethod
    def _key(client: str) -> str:
        return f"mailer:submission:auth-failures:{ip_bucket(client)}"

    def retry_after(self, client: str) -> int | None:
        """Seconds until AUTH may be tried again from this address, or None while it may."""
        key = self._key(client)
        try:
            redis: Redis = get_redis()
            count, ttl = redis.pipeline().get(key).ttl(key).execute()
            count = int(count or 0)
        except RedisError:
            count = self._memory.get(key)
            ttl = int(self._memory.get_expiry(key) - time.time())
        return max(1, int(ttl)) if count >= AUTH_FAILURES else None

    def failed(self, client: str) -> None:
        key = self._key(client)
        try:
            redis: Redis = get_redis()
            redis.pipeline().incr(key).expire(key, AUTH_WINDOW_SECONDS, nx=True).execute()
        except RedisError:
            self._memory.incr(key, AUTH_WINDOW_SECONDS)


class MessageRate:
    """RATELIMIT_MESSAGES per key, in the API's bucket; per-process memory when the limiter's storage is down."""

    def __init__(self, config: Config) -> None:
        self.items: list[RateLimitItem] = parse_many(config.RATELIMIT_MESSAGES)
        self.enabled = config.RATELIMIT_ENABLED
        self._fallback = FixedWindowRateLimiter(MemoryStorage())

    def retry_after(self, principal: Principal) -> int | None:
        """Spend one message of the key's budget: None when allowed, else seconds until the window resets."""
        if not self.enabled:
            return None
        limiter = current_limiter()
        args = ("mailer", principal_key(principal), MESSAGES_ENDPOINT)
        strategy = limiter.limiter if limiter is not None else self._fallback
        for item in self.items:
            try:
                allowed = strategy.hit(item, *args)
            except Exception:  # any storage failure: keep the limit in this process instead
                current_app.logger.warning("rate-limit storage unreachable; keeping the submission limit in memory")
                strategy = self._fallback
                allowed = strategy.hit(item, *args)
            if not allowed:
                reset = strategy.get_window_stats(item, *args).reset_time
                return max(1, int(reset - time.time()))
        return None


class QuotaRooms:
    """Each tenant's daily-quota room (None: no quota) as this process last learnt it: from the writer's last
    commit, or read at MAIL when older than ``max_age``. RCPT answers from it at once while the recipients fit
    (else it asks the database why), and the commit counts again, so a room another process took meanwhile is
    found there (451 4.7.1 at DATA), as a concurrent session's always was. Saves MAIL a database read a message.
    """

    def __init__(self, max_age: float = 1.0) -> None:
        self.max_age = max_age
        self._rooms: dict[uuid.UUID, tuple[float, int | None]] = {}

    def room(self, tenant_id: uuid.UUID, read: Callable[[], int | None]) -> int | None:
        known = self._rooms.get(tenant_id)
        if known is not None and time.monotonic() - known[0] < self.max_age:
            return known[1]
        room = read()
        self._rooms[tenant_id] = (time.monotonic(), room)
        return room

    def committed(self, rooms: Mapping[uuid.UUID, int | None]) -> None:
        """The rooms a commit left (its tenants' counters as read at the group's start, less its recipients)."""
        now = time.monotonic()
        self._rooms.update((tenant_id, (now, room)) for tenant_id, room in rooms.items())

    def forget(self) -> None:
        """A failed commit (perhaps a concurrent one took the room): read again at the next MAIL."""
        self._rooms.clear()
