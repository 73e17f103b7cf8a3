"""Rate-limit headers come from the request's own hit (one Redis script call), not from two more reads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from tests.fixtures import send
from tests.helpers import bearer, create_tenant, login


def _commands_during(redis: Any, action: Callable[[], Any]) -> tuple[Any, list[str]]:
    """What ``action`` returned, and the commands this test's Redis database received meanwhile (MONITOR)."""
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    seen: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        with redis.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if command["command"] == "ECHO done-watching":
                    return
                if command["db"] == db:
                    seen.append(command["command"].split()[0].upper())

    watcher = threading.Thread(target=watch)
    watcher.start()
    ready.wait(5)
    result = action()
    redis.echo("done-watching")
    watcher.join(5)
    return result, seen


def test_headers_count_down_with_the_window_and_read_nothing_more(app_factory, redis):
    app = app_factory(RATELIMIT_MESSAGES="3/minute")
    create_tenant(app)
    client = app.test_client()
    headers = bearer(login(client, "acme", "admin@acme.test"))
    answers, commands = _commands_during(redis, lambda: [send(client, headers) for _ in range(4)])
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"3"}
    resets = {int(a.headers["X-RateLimit-Reset"]) for a in answers}
    assert all(time.time() < reset <= time.time() + 61 for reset in resets)
    assert int(answers[3].headers["Retry-After"]) > 0
    # The window's stats were not read back: neither GET nor TTL ran (the hits are one script call each).
    assert commands.count("EVALSHA") + commands.count("EVAL") >= 4
    assert "GET" not in commands and "TTL" not in commands, commands


def test_a_second_instance_sees_the_same_window(app_factory):
    settings = {"RATELIMIT_MESSAGES": "2/minute"}
    first, second = app_factory(**settings), app_factory(**settings)
    create_tenant(first)
    clients = [first.test_client(), second.test_client()]
    headers = bearer(login(clients[0], "acme", "admin@acme.test"))
    assert send(clients[0], headers).headers["X-RateLimit-Remaining"] == "1"
    answer = send(clients[1], headers)
    assert answer.status_code == 202 and answer.headers["X-RateLimit-Remaining"] == "0"
    assert send(clients[0], headers).status_code == 429
