"""One POST to a checked address: bounded time, no redirects, no retries inside, keep-alive pools.

A pool is per (scheme, checked address, port, host name) with a fixed number of connections, so the
connections open to one endpoint are bounded; TLS verifies the certificate against the URL's host
name (sent as SNI) while the socket goes to the address the guard checked.

The timeout bounds the whole exchange (API.md §9), from connect to the last byte of the answer: a socket
timeout only bounds each read, so an endpoint that drips one byte just inside it would hold a POST for
as long as it likes. Each POST therefore has a deadline kept by one watchdog thread, which shuts the
connection's socket down when it passes; whatever the POST was waiting for (TCP connect, TLS handshake,
status line, headers, body) fails at once and the connection is never pooled again.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError, MaxRetryError, NewConnectionError, TimeoutError

from mailer.webhooks.guard import Target

MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(eq=False)
class _Deadline:
    """One POST's deadline and the sockets it has opened or reused so far."""

    at: float
    sockets: list[socket.socket] = field(default_factory=list)
    fired: bool = False
    done: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def watch(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.append(sock)
            fired = self.fired
        if fired:  # connected after the deadline: cut it at once
            _cut(sock)

    def fire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.fired = True
            sockets = list(self.sockets)
        for sock in sockets:
            _cut(sock)


def _cut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for an SSLSocket: it wakes a read blocked in another thread
    # (SSLSocket.shutdown would first drop its SSL object under that read).
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread that fires deadlines as they pass (a heap, not a timer thread per POST)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._count = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> _Deadline:
        deadline = _Deadline(time.monotonic() + seconds)
        with self._wake:
            heapq.heappush(self._heap, (deadline.at, next(self._count), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="webhook-watchdog", daemon=True)
                self._thread.start()
            self._wake.notify()
        return deadline

    def disarm(self, deadline: _Deadline) -> None:
        with deadline.lock:  # finished: nothing of it is cut from now on (its connection may be pooled)
            deadline.done = True
            deadline.sockets.clear()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                at, _, deadline = self._heap[0]
                now = time.monotonic()
                if at > now:
                    self._wake.wait(at - now)
                    continue
                heapq.heappop(self._heap)
            deadline.fire()


_watchdog = _Watchdog()
_current = threading.local()  # the deadline of the POST this thread is making


def _watch(sock: socket.socket | None) -> None:
    deadline: _Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.watch(sock)


class _WatchedMixin:
    """Hands every socket a POST opens (before any TLS handshake) or reuses to that POST's deadline."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a kept-alive connection: its socket exists already
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class Pools:
    """Connection pools of one dispatcher run; ``close()`` when done."""

    def __init__(self, connections_per_endpoint: int) -> None:
        self._size = connections_per_endpoint
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}

    def for_target(self, target: Target) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, target.address, target.port, target.host)
        pool = self._pools.get(key)
        if pool is None:
            if target.scheme == "https":
                pool = _HTTPSPool(
                    target.address, target.port, maxsize=self._size, block=True, server_hostname=target.host,
                    assert_hostname=target.host, cert_reqs="CERT_REQUIRED",
                )
            else:
                pool = _HTTPPool(target.address, target.port, maxsize=self._size, block=True)
            self._pools[key] = pool
        return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def post(pools: Pools, target: Target, headers: dict[str, str], body: bytes, timeout: float) -> PostResult:
    """POST ``body`` within ``timeout`` in all; an answer, a timeout or a connection error, as a PostResult."""
    started = time.monotonic()
    deadline = _watchdog.arm(timeout)
    _current.deadline = deadline
    try:
        status = _exchange(pools, target, headers, body, timeout)
    except (TimeoutError, MaxRetryError, NewConnectionError, HTTPError, OSError) as exc:
        status, error = None, _describe(exc, timeout)
    else:
        error = None
    finally:
        _current.deadline = None
        _watchdog.disarm(deadline)
    if deadline.fired:  # cut mid-exchange: whatever was read is not an answer
        return PostResult(None, _ms(started), f"timed out after {timeout:g} s (the whole exchange)")
    if status is not None:
        if 300 <= status < 400:
            error = f"redirect not followed (HTTP {status})"
        elif not 200 <= status < 300:
            error = f"HTTP {status}"
    return PostResult(status, _ms(started), error)


def _exchange(pools: Pools, target: Target, headers: dict[str, str], body: bytes, timeout: float) -> int:
    """The request and its answer (status line, headers, a small body); the status code."""
    host = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    response = pools.for_target(target).urlopen(
        "POST", target.path, body=body, headers={**headers, "Host": host, "User-Agent": "Mailer-Webhooks/1"},
        redirect=False, retries=False, preload_content=False, assert_same_host=False,
        timeout=urllib3.Timeout(connect=timeout, read=timeout), pool_timeout=timeout,
    )
    length = response.headers.get("Content-Length")
    try:
        if length is not None and length.isdigit() and int(length) <= MAX_RESPONSE_BYTES:
            response.read()
            if _current.deadline.fired:
                response.close()
            else:
                response.release_conn()
        else:  # a body we will not read: do not keep a connection it would poison
            response.close()
    except (HTTPError, OSError):
        response.close()
    return response.status


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _describe(exc: BaseException, timeout: float) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, TimeoutError) or "timed out" in str(reason).lower():
        return f"timed out after {timeout:g} s"
    if isinstance(reason, NewConnectionError | ConnectionRefusedError):
        return "connection refused or unreachable"
    return f"connection error ({type(reason).__name__})"
