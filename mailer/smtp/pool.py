"""A thread-safe pool of SMTP connections, keyed by ``SmtpServer.pool_key``.

A connection is never shared across owners, credentials or TLS settings; at most
``max_per_key`` exist per key (idle and in use together); an idle one is checked before reuse
(with NOOP, or when it was given back moments ago, by a poll of its socket) and recycled by age
and by message count. A pool belongs to the
process that created it: after ``fork`` the child gets a fresh default pool and never
touches a connection opened by its parent.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from mailer.smtp.connection import Connection, ServerFault, open_connection
from mailer.smtp.replies import Reply
from mailer.smtp.settings import SmtpServer

log = logging.getLogger(__name__)

# A connection given back less than this long ago is reused without NOOP when its socket has nothing to read
# (servers time idle sessions out after minutes: RFC 5321 §4.5.3.2.7 asks for at least 5).
UNPROBED_REUSE_SECONDS = 2.0


@dataclass(frozen=True)
class PoolStats:
    opened: int = 0
    reused: int = 0
    discarded: int = 0
    recycled: int = 0
    idle: int = 0
    in_use: int = 0


@dataclass
class _Slot:
    idle: deque[Connection] = field(default_factory=deque)
    total: int = 0


class ConnectionPool:
    """Hands out ready connections; callers give each back with ``release`` or ``discard``."""

    def __init__(self, *, max_per_key: int = 4, max_age: float = 300.0, max_messages: int = 500,
                 unprobed_reuse_seconds: float = UNPROBED_REUSE_SECONDS) -> None:
        self.max_per_key = max_per_key
        self.unprobed_reuse_seconds = unprobed_reuse_seconds
        self.max_age = max_age
        self.max_messages = max_messages
        self._start_over()

    def _start_over(self) -> None:
        self.pid = os.getpid()
        self._slots: dict[tuple[object, ...], _Slot] = {}
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._counts = {"opened": 0, "reused": 0, "discarded": 0, "recycled": 0}

    def _in_own_process(self) -> None:
        # After fork the parent's connections and lock are not ours: forget them untouched.
        if self.pid != os.getpid():
            self._start_over()

    def acquire(self, server: SmtpServer, deadline: float) -> Connection:
        """A live connection for ``server``: a pooled one that is ready (_ready), else a new one.

        Waits for a free slot until ``deadline`` when the key is at ``max_per_key``.
        Raises ServerFault (opening failed, or no slot in time).
        """
        self._in_own_process()
        key = server.pool_key
        while True:
            connection = self._take_idle_or_reserve(key, deadline)
            if connection is None:
                return self._open(key, server, deadline)
            if self._expired(connection):
                self._drop(key, connection, "recycled", polite=True)
            elif self._ready(connection, server, deadline):
                connection.reused = True
                self._count("reused")
                return connection
            else:
                self._drop(key, connection, "discarded", polite=False)

    def release(self, connection: Connection) -> None:
        """Give back a healthy connection (idle for reuse, or recycled when worn out)."""
        self._in_own_process()
        if connection.pid != os.getpid():
            return
        key = connection.server.pool_key
        if self._expired(connection):
            self._drop(key, connection, "recycled", polite=True)
            return
        connection.idle_since = time.monotonic()
        with self._lock:
            self._slots[key].idle.append(connection)
            self._freed.notify()

    def _ready(self, connection: Connection, server: SmtpServer, deadline: float) -> bool:
        """Given back moments ago and nothing has come from the server since (a poll, no round trip: Postfix's
        client reuses a connection it cached moments ago without a probe too); else NOOP answered. A server that
        drops it or answers 421 at our MAIL meanwhile has taken nothing: the handler retries on a new one."""
        if time.monotonic() - connection.idle_since < self.unprobed_reuse_seconds and connection.quiet():
            return True
        return connection.is_alive(min(deadline, time.monotonic() + server.timeout))

    def discard(self, connection: Connection) -> None:
        """Drop a broken connection (421, disconnect, timeout, protocol confusion)."""
        self._in_own_process()
        if connection.pid != os.getpid():
            return
        self._drop(connection.server.pool_key, connection, "discarded", polite=False)

    def stats(self) -> PoolStats:
        self._in_own_process()
        with self._lock:
            idle = sum(len(slot.idle) for slot in self._slots.values())
            total = sum(slot.total for slot in self._slots.values())
            return PoolStats(**self._counts, idle=idle, in_use=total - idle)

    def close(self) -> None:
        """QUIT every idle connection; connections in use are closed when given back."""
        self._in_own_process()
        with self._lock:
            idle = [(key, c) for key, slot in self._slots.items() for c in slot.idle]
            for slot in self._slots.values():
                slot.idle.clear()
        for key, connection in idle:
            self._forget(key)
            connection.quit()

    def _take_idle_or_reserve(self, key: tuple[object, ...], deadline: float) -> Connection | None:
        """An idle connection, or None after reserving a slot for a new one."""
        with self._lock:
            slot = self._slots.setdefault(key, _Slot())
            while True:
                if slot.idle:
                    return slot.idle.pop()  # the most recently used is the likeliest alive
                if slot.total < self.max_per_key:
                    slot.total += 1
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerFault(Reply.none(f"all {self.max_per_key} pooled connections busy"))
                self._freed.wait(left)

    def _open(self, key: tuple[object, ...], server: SmtpServer, deadline: float) -> Connection:
        try:
            connection = open_connection(server, deadline)
        except BaseException:
            self._forget(key)
            raise
        self._count("opened")
        log.debug("opened SMTP connection to %s:%s", server.host, server.port)
        return connection

    def worn_out(self, connection: Connection) -> bool:
        """Due for recycling (by age or message count): give it back rather than use it again."""
        return self._expired(connection)

    def _expired(self, connection: Connection) -> bool:
        return connection.messages >= self.max_messages or time.monotonic() - connection.opened_at >= self.max_age

    def _drop(self, key: tuple[object, ...], connection: Connection, reason: str, *, polite: bool) -> None:
        self._count(reason)
        self._forget(key)
        if polite:
            connection.quit()
        else:
            connection.close()

    def _forget(self, key: tuple[object, ...]) -> None:
        with self._lock:
            self._slots[key].total -= 1
            self._freed.notify()

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1


_default_pool: ConnectionPool | None = None
_default_lock = threading.Lock()


def default_pool() -> ConnectionPool:
    """The pool of this process (a forked child gets its own, empty one)."""
    global _default_pool
    with _default_lock:
        if _default_pool is None or _default_pool.pid != os.getpid():
            _default_pool = ConnectionPool()
        return _default_pool


def _forget_parent_pool() -> None:
    # Runs in a fork's child: the parent's pool, its sockets and its (possibly held)
    # lock all belong to the parent; start over without touching any of them.
    global _default_pool, _default_lock
    _default_pool = None
    _default_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_parent_pool)
