"""N2: aliased containers and repeated format fields are measured as printed, and a tenant's template renders
in a limited child process, so a case the sandbox misses (a C loop it cannot see) costs the child, not us."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from sqlalchemy import select

from mailer.extensions import db
from mailer.mail import render_child
from mailer.mail.templates import TemplateRenderError, TemplateSource, render
from mailer.models import Recipient
from tests.helpers import sign_up

ALIASED = "{% set ns = namespace(a=['xxxxxxxxxx']) %}{% for i in range(40) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}"
TWIN = ("{% set ns = namespace(a=['x'], b=['x']) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}"
        "{% set ns.b = [ns.b, ns.b] %}{% endfor %}")
BOMBS = {
    # The review's payloads.
    "aliased_string": ALIASED + "{% if ns.a|string %}{% endif %}",
    "aliased_tojson": ALIASED + "{{ ns.a|tojson|length }}",
    "aliased_output": ALIASED + "{{ ns.a }}",
    "format_repeat": "{% set f = '{0}' * 1000 %}{% set big = 'x' * 400000 %}{{ f.format(big)|length }}",
    "format_map_repeat": "{% set f = '{a}' * 1000 %}{{ f.format_map({'a': 'x' * 400000})|length }}",
    "percent_repeat": "{% set f = '%(a)s' * 1000 %}{{ (f % {'a': 'x' * 400000})|length }}",
    "format_filter_repeat": "{% set f = '%(a)s' * 1000 %}{{ (f|format(a='x' * 400000))|length }}",
    # The next ones: C loops the sandbox cannot see, which only the child's deadline ends.
    "aliased_compare": TWIN + "{{ ns.a == ns.b }}",
    "aliased_in": TWIN + "{{ ns.a in [ns.b] }}",
    "aliased_join": ALIASED + "{{ ns.a|join|length }}",
    "aliased_replace": ALIASED + "{{ (ns.a|string)|replace('x', 'yy')|length }}",
    "aliased_pprint": ALIASED + "{{ ns.a|pprint|length }}",
    "deep_recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "huge_range": "{{ range(10**12)|list|length }}",
    "string_times": "{{ ('x' * 100000 * 100000)|length }}",
    "list_times": "{{ ([ 'x' * 1000 ] * 10**9)|length }}",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_bomb_is_a_render_error_within_the_deadline(name):
    started = time.monotonic()
    with pytest.raises(TemplateRenderError):
        render(TemplateSource("s", None, BOMBS[name]), {})
    assert time.monotonic() - started < 20.0  # 2 s budget + 1 s kill margin; a replacement child may be starting


def test_the_process_stays_healthy_and_the_pool_replaces_a_killed_child():
    render(TemplateSource("s", None, "warm {{ 1 }}"), {})
    pool = render_child._current_pool()
    # The parent's deadline or the child's own limits (RLIMIT_CPU/AS) end it, whichever a loaded machine hits first.
    with pytest.raises(TemplateRenderError, match=r"too long|too much memory or time"):
        render(TemplateSource("s", None, BOMBS["aliased_compare"]), {})
    started = time.monotonic()
    assert render(TemplateSource("Hi {{ n }}", None, "Hello {{ n }}"), {"n": "Ann"}).text == "Hello Ann"
    assert time.monotonic() - started < 15.0
    assert pool.started <= render_child.POOL_SIZE


def test_a_child_has_memory_and_cpu_limits():
    """The children run under RLIMIT_AS and RLIMIT_CPU: read from /proc while one is idle."""
    render(TemplateSource("s", None, "x"), {})
    child = render_child._current_pool().idle.queue[-1]
    with open(f"/proc/{child.process.pid}/limits", encoding="ascii") as handle:
        limits = {line[:26].strip(): line[26:].split() for line in handle}
    assert limits["Max address space"][0] != "unlimited"
    assert limits["Max cpu time"][0] != "unlimited"
    assert child.process.pid != os.getpid()


def test_built_in_templates_render_in_process():
    from mailer.mail.templates import load_builtin

    builtin = load_builtin("verification")
    assert builtin is not None and builtin.trusted


def test_render_overhead_is_small():
    """The round trip to a warm child is a few milliseconds (measured, and bounded loosely here)."""
    source = TemplateSource("Hi {{ name }}", None, "Hello {{ name }}, {{ items|join(', ') }}")
    render(source, {"name": "Ann", "items": [1, 2]})
    started = time.monotonic()
    for _ in range(50):
        render(source, {"name": "Ann", "items": [1, 2]})
    assert (time.monotonic() - started) / 50 < 0.05


@pytest.mark.parametrize("name", ["aliased_string", "format_repeat", "aliased_compare"])
def test_a_bomb_in_a_message_or_preview_is_a_422_and_the_app_keeps_serving(client, admin, name):
    assert client.put("/v1/templates/bomb", json={"subject": "s", "text": BOMBS[name]},
                      headers=admin).status_code in (200, 201)
    for path, body in (("/v1/messages", {"to": ["ann@example.com"], "template": "bomb"}),
                       ("/v1/templates/bomb/preview", {})):
        started = time.monotonic()
        response = client.post(path, json=body, headers=admin)
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["code"] == "template_error"
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert time.monotonic() - started < 10.0
    ok = client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "s", "text": "t"}, headers=admin)
    assert ok.status_code == 202


def test_a_bomb_in_a_broadcast_fails_that_member_in_the_worker(app, client, smtp_server, worker, admin):
    """Broadcast copies render in the worker through the same child: the member whose copy spins is failed."""
    sign_up(client, worker, smtp_server, "bob@example.com")
    text = TWIN + "{% if recipient.email == 'bob@example.com' %}{{ ns.a == ns.b }}{% else %}hi{% endif %}"
    response = client.post("/v1/broadcasts", json={"subject": "news", "text": text,
                                                   "audience": {"roles": ["user", "admin"]}}, headers=admin)
    assert response.status_code == 202, response.get_json()
    worker()
    with app.app_context():
        rows = {r.email: r for r in db.session.scalars(select(Recipient).where(
            Recipient.message_id == uuid.UUID(response.get_json()["id"])))}
        assert rows["bob@example.com"].status == "failed"
        assert rows["bob@example.com"].error_code == "invalid_message"
        assert rows["admin@acme.test"].status == "sent"


@pytest.mark.parametrize("name", ["format_repeat", "format_map_repeat", "percent_repeat", "format_filter_repeat",
                                  "aliased_string", "aliased_output"])
def test_the_sandbox_refuses_before_building(name):
    """In the sandbox itself: the output is estimated before the C call builds it (the review saw 449 MB)."""
    import tracemalloc

    from mailer.mail.sandbox import BoundedSandbox, RenderBudget

    template = BoundedSandbox(autoescape=False).from_string(BOMBS[name])
    tracemalloc.start()
    try:
        with RenderBudget(30.0), pytest.raises(Exception, match="larger than"):  # tracemalloc slows it
            template.render()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024


def test_a_child_that_died_between_renders_is_replaced_without_failing_a_render():
    import signal

    source = TemplateSource("s", None, "Hello {{ n }}")
    assert render(source, {"n": 1}).text == "Hello 1"
    child = render_child._current_pool().idle.queue[-1]
    os.kill(child.process.pid, signal.SIGKILL)
    child.process.wait(5.0)
    assert render(source, {"n": 2}).text == "Hello 2"


def test_a_render_waiting_for_a_busy_pool_starts_a_child_when_a_replacement_fails_to_start(monkeypatch):
    """Both children busy, a render waits; one is killed and its replacement cannot start (an interpreter that
    does not come up within START_SECONDS on a loaded machine): the waiting render starts a child itself
    instead of waiting forever for one that will never be put back."""
    import threading

    pool = render_child._current_pool()
    busy = [pool.take() for _ in range(render_child.POOL_SIZE)]
    taken: list[object] = []
    waiter = threading.Thread(target=lambda: taken.append(pool.take()), daemon=True)
    waiter.start()
    time.sleep(0.2)
    assert not taken  # it waits: every child is busy

    real_start, failures = pool._start, []

    def start_failing_once():
        if not failures:
            failures.append(1)
            raise RuntimeError("the template render child did not start")
        return real_start()

    monkeypatch.setattr(pool, "_start", start_failing_once)
    pool.discard(busy.pop())  # its replacement's start fails in the background
    waiter.join(timeout=10)
    assert failures and len(taken) == 1
    for child in [*busy, *taken]:
        pool.give_back(child)
    assert pool.started <= render_child.POOL_SIZE
    assert render(TemplateSource("s", None, "Hello {{ n }}"), {"n": 3}).text == "Hello 3"


def test_a_built_in_template_renders_without_a_trace_and_still_has_a_deadline(monkeypatch):
    """Our own templates skip the per-call trace (a built-in render was about three times slower under it): the
    deadline is checked at each value the render builds instead, so one still cannot run past it. A tenant's stays
    traced."""
    import sys

    from mailer.mail import rendering

    traces: list[object] = []
    monkeypatch.setattr(sys, "settrace", traces.append)
    loop = "{% for i in range(5000) %}{{ 'x'.upper() }}{% endfor %}"
    trusted = TemplateSource("s", None, loop, trusted=True)
    assert rendering.render_in_process(trusted, {}).text == "X" * 5000
    assert traces == []
    with pytest.raises(TemplateRenderError, match="took too long"):
        rendering.render_in_process(trusted, {}, seconds=-1)
    rendering.render_in_process(TemplateSource("s", None, loop), {})
    assert traces and traces[-1] is None
