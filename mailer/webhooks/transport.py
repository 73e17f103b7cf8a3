"""One POST to a checked address: bounded time, no redirects, no retries inside, keep-alive pools.

A pool is per (scheme, checked address, port, host name) with a fixed number of connections, so the
connections open to one endpoint are bounded; TLS verifies the certificate against the URL's host
name (sent as SNI) while the socket goes to the address the guard checked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import urllib3
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
                pool = urllib3.HTTPSConnectionPool(
                    target.address, target.port, maxsize=self._size, block=True, server_hostname=target.host,
                    assert_hostname=target.host, cert_reqs="CERT_REQUIRED",
                )
            else:
                pool = urllib3.HTTPConnectionPool(target.address, target.port, maxsize=self._size, block=True)
            self._pools[key] = pool
        return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def post(pools: Pools, target: Target, headers: dict[str, str], body: bytes, timeout: float) -> PostResult:
    """POST ``body``; any answer, a timeout or a connection error comes back as a PostResult."""
    host = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    started = time.monotonic()
    try:
        response = pools.for_target(target).urlopen(
            "POST", target.path, body=body, headers={**headers, "Host": host, "User-Agent": "Mailer-Webhooks/1"},
            redirect=False, retries=False, preload_content=False, assert_same_host=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout, total=timeout), pool_timeout=timeout,
        )
    except (TimeoutError, MaxRetryError, NewConnectionError, HTTPError, OSError) as exc:
        return PostResult(None, _ms(started), _describe(exc, timeout))
    status = response.status
    length = response.headers.get("Content-Length")
    try:
        if length is not None and length.isdigit() and int(length) <= MAX_RESPONSE_BYTES:
            response.read()
            response.release_conn()
        else:  # a body we will not read: do not keep a connection it would poison
            response.close()
    except (HTTPError, OSError):
        response.close()
    error = None
    if 300 <= status < 400:
        error = f"redirect not followed (HTTP {status})"
    elif not 200 <= status < 300:
        error = f"HTTP {status}"
    return PostResult(status, _ms(started), error)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _describe(exc: BaseException, timeout: float) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, TimeoutError) or "timed out" in str(reason).lower():
        return f"timed out after {timeout:g} s"
    if isinstance(reason, NewConnectionError | ConnectionRefusedError):
        return "connection refused or unreachable"
    return f"connection error ({type(reason).__name__})"
