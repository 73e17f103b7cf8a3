"""Tenants take turns on the bulk lane (mail/turns.py), with real `rq worker` subprocesses and a real SMTP sink:
a second tenant's bulk mail goes out while the first one's backlog drains, and killing a worker loses nothing."""

from __future__ import annotations

import time

import pytest

from mailer.mail.outbox import requeue
from tests.fixtures import wait_for
from tests.helpers import create_tenant
from tests.rows import ambiguous_ids, make_messages, recipient_rows, statuses

pytestmark = pytest.mark.slow

A_ROWS, B_ROWS = 800, 40
# A's backlog when B's turn is measured: long enough to outlast B's wait for a turn (TURN_SECONDS and a claim) with
# room to spare on a fast or a loaded machine.
A_BACKLOG = 1500


def _bulk(app, count, prefix, tenant_slug=None):
    ids = make_messages(app, count, queue="bulk", prefix=prefix, tenant_slug=tenant_slug)
    with app.app_context():
        requeue(ids, "bulk")
    return time.time()


def _b_sent(sink):
    return [m for m in sink.messages if m.rcpt_tos[0].startswith("b")]


@pytest.fixture
def two_tenants(fast_app, sink):
    create_tenant(fast_app, "beta", "admin@beta.test")
    sink.handler.delay = 0.002
    return fast_app


def test_a_second_tenants_bulk_mail_goes_out_while_the_first_ones_backlog_drains(two_tenants, sink, workers):
    """One worker, A's 1 500 bulk rows queued first: B's 40 start within a turn and are all sent while most
    of A's still wait (first come first served, they would have waited for all of A's)."""
    _bulk(two_tenants, A_BACKLOG, "a")
    workers.start()
    wait_for(lambda: len(sink.messages) >= 100, timeout=60)
    asked = _bulk(two_tenants, B_ROWS, "b", "beta")
    wait_for(lambda: len(_b_sent(sink)) >= B_ROWS, timeout=60, interval=0.05)
    a_sent = len(sink.messages) - B_ROWS
    assert a_sent < A_BACKLOG - 300, a_sent
    first_b = min(sink.handler.arrivals[f"b{i}@example.com"] for i in range(B_ROWS))
    assert first_b - asked < 5.0, first_b - asked
    wait_for(lambda: statuses(two_tenants) == {"sent": A_BACKLOG + B_ROWS}, timeout=180, interval=0.5)
    assert all(sink.handler.count(row.email) == 1 for row in recipient_rows(two_tenants))


def test_a_worker_killed_while_tenants_take_turns_loses_nothing(two_tenants, sink, workers):
    """Two workers, one killed right after B's rows got a turn: a new worker and the sweeper finish both
    tenants, each mail once except the recorded ambiguous ones."""
    _bulk(two_tenants, A_ROWS, "a")
    workers.start_web()
    first = workers.start()
    workers.start()
    wait_for(lambda: len(sink.messages) >= 100, timeout=60)
    _bulk(two_tenants, B_ROWS, "b", "beta")
    wait_for(lambda: _b_sent(sink), timeout=30, interval=0.01)
    workers.kill(first)
    first.wait(timeout=10)
    assert len(sink.messages) < A_ROWS
    workers.start()
    wait_for(lambda: statuses(two_tenants) == {"sent": A_ROWS + B_ROWS}, timeout=180, interval=0.5)
    ambiguous = ambiguous_ids(two_tenants)
    for row in recipient_rows(two_tenants):
        copies = sink.handler.count(row.email)
        assert copies >= 1, row.email
        assert copies == 1 or row.id in ambiguous, (row.email, copies)
