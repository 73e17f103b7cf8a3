"""WEBHOOK_TIMEOUT_SECONDS bounds the whole exchange (API.md §9), not each read: an endpoint that drips its
status line, headers or body one byte at a time, or never answers, costs one timeout, and its attempt is a
timeout, not a success."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mailer.webhooks.guard import Target
from mailer.webhooks.transport import Pools, post
from tests.webhooks.slow_servers import SlowServer


@pytest.fixture
def pools() -> Iterator[Pools]:
    made = Pools(2)
    yield made
    made.close()


@pytest.mark.parametrize("mode", ["drip-headers", "drip-body", "hang"])
def test_a_slow_endpoint_costs_one_timeout_in_all(mode: str, pools: Pools) -> None:
    """Each byte comes well inside the 1 s timeout (every 0.3 s, for 3000 s in all), yet the POST ends after
    about 1 s with a timeout."""
    server = SlowServer(mode).start()
    try:
        target = Target("http", "127.0.0.1", server.port, "/hooks/mailer", "127.0.0.1")
        started = time.monotonic()
        result = post(pools, target, {"Content-Type": "application/json"}, b"{}", timeout=1.0)
        elapsed = time.monotonic() - started
        assert server.requests == 1
        assert elapsed < 2.0, f"{mode}: the POST took {elapsed:.1f} s"
        assert result.status_code is None and not result.succeeded
        assert result.error is not None and "timed out" in result.error
    finally:
        server.stop()


def test_a_cut_connection_is_not_reused_and_a_fast_answer_still_succeeds(pools: Pools) -> None:
    """After a drip is cut, the same pool's next POST to a healthy endpoint answers 200 at once."""
    from tests.webhooks.receiver import Receiver

    slow, fast = SlowServer("drip-body").start(), Receiver().start()
    try:
        slow_target = Target("http", "127.0.0.1", slow.port, "/", "127.0.0.1")
        fast_target = Target("http", "127.0.0.1", fast.server.server_address[1], "/", "127.0.0.1")
        assert post(pools, slow_target, {}, b"{}", timeout=0.5).status_code is None
        for _ in range(3):
            result = post(pools, fast_target, {}, b"{}", timeout=0.5)
            assert result.succeeded and result.error is None
    finally:
        slow.stop()
        fast.stop()
