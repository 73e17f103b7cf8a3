"""Real `rq worker` subprocesses: killed, stopped, duplicated, and an SMTP server that goes away."""

from __future__ import annotations

import signal
import time

import pytest

from mailer.mail.outbox import requeue
from mailer.models import DeliveryEvent
from tests.fixtures import Sink, wait_for
from tests.rows import ambiguous_ids, events_of, make_messages, recipient_rows, statuses

pytestmark = pytest.mark.slow


def _enqueue(app, ids, queue="default"):
    with app.app_context():
        requeue(ids, queue)


def test_worker_killed_mid_batch_loses_nothing_and_duplicates_only_recorded_ones(fast_app, sink, workers):
    """SIGKILL while a 60-mail batch is being sent: a new worker and the sweeper finish it, each mail once
    except the recorded ambiguous ones."""
    sink.handler.delay = 0.05
    ids = make_messages(fast_app, 60)
    _enqueue(fast_app, ids)
    workers.start_web()
    first = workers.start()
    wait_for(lambda: len(sink.messages) >= 25, timeout=30)
    workers.kill(first)
    first.wait(timeout=10)
    sent_before = len(sink.messages)
    assert sent_before < 60
    assert statuses(fast_app).get("sending", 0) > 0

    workers.start()
    wait_for(lambda: statuses(fast_app) == {"sent": 60}, timeout=60, interval=0.2)
    ambiguous = ambiguous_ids(fast_app)
    for row in recipient_rows(fast_app):
        copies = sink.handler.count(row.email)
        assert copies >= 1, row.email
        assert copies == 1 or row.id in ambiguous, (row.email, copies)
    assert len(ambiguous) <= 20  # at most the chunk that was in flight


def _in_flight(app):
    """Rows a worker marked as being tried (attempt_started_at) and never wrote a result for."""
    return [r for r in recipient_rows(app) if r.status == "sending" and r.attempt_started_at is not None]


def _commits(app):
    """Distinct commit times of the delivery events (one ``at`` per recorded window)."""
    from sqlalchemy import select

    from mailer.extensions import db

    with app.app_context():
        return set(db.session.scalars(select(DeliveryEvent.at)))


def test_worker_killed_on_a_fast_server_leaves_at_most_one_commit_window_ambiguous(fast_app, sink, workers):
    """A fast server: results share a commit a window at a time. SIGKILL mid-run leaves at most one window
    (COMMIT_WINDOW_MAILS) in flight; those rows come back ambiguous and are the only ones that may arrive twice."""
    from mailer.mail.delivery import COMMIT_WINDOW_MAILS

    ids = make_messages(fast_app, 600)
    _enqueue(fast_app, ids)
    first = workers.start()
    wait_for(lambda: len(sink.messages) >= 200, timeout=60, interval=0.005)
    workers.kill(first)
    first.wait(timeout=10)
    assert len(sink.messages) < 600
    in_flight = _in_flight(fast_app)
    assert len(in_flight) <= COMMIT_WINDOW_MAILS, len(in_flight)
    assert len(_commits(fast_app)) < len(sink.messages) / 2  # several mails per commit on this server

    workers.start()
    wait_for(lambda: statuses(fast_app) == {"sent": 600}, timeout=90, interval=0.2)
    ambiguous = ambiguous_ids(fast_app)
    assert ambiguous <= {r.id for r in in_flight}
    for row in recipient_rows(fast_app):
        copies = sink.handler.count(row.email)
        assert copies == 1 or (copies == 2 and row.id in ambiguous), (row.email, copies)


def test_on_a_slow_server_each_result_is_committed_at_its_reply(fast_app, sink, workers):
    """60 ms per reply, longer than COMMIT_WINDOW_SECONDS: a window is one mail, one commit each, as before."""
    sink.handler.delay = 0.06
    ids = make_messages(fast_app, 15)
    _enqueue(fast_app, ids)
    workers.start()
    wait_for(lambda: statuses(fast_app) == {"sent": 15}, timeout=30, interval=0.1)
    assert len(_commits(fast_app)) == 15


def test_same_job_enqueued_twice_and_run_by_two_workers_at_once_sends_one_mail(fast_app, sink, workers, redis):
    """Two jobs over the same 30 recipients, two workers running them concurrently: each address gets one mail."""
    sink.handler.delay = 0.03
    ids = make_messages(fast_app, 30)
    _enqueue(fast_app, ids)
    _enqueue(fast_app, ids)
    workers.start()
    workers.start()
    wait_for(lambda: statuses(fast_app) == {"sent": 30}, timeout=60, interval=0.2)
    time.sleep(0.5)
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == sorted(f"user{i}@example.com" for i in range(30))
    assert all(events_of(fast_app, rid) == ["sent"] for rid in ids)


def test_smtp_server_down_for_a_while_defers_then_delivers_once(fast_app, sink, workers):
    """Nothing listens at first: recipients are deferred; when the server comes up, each is sent once."""
    sink.stop()
    ids = make_messages(fast_app, 3)
    _enqueue(fast_app, ids)
    workers.start()
    wait_for(lambda: statuses(fast_app).get("deferred") == 3, timeout=30)
    revived = Sink(port=sink.port).start()
    try:
        wait_for(lambda: statuses(fast_app) == {"sent": 3}, timeout=30, interval=0.2)
        assert sorted(m.rcpt_tos[0] for m in revived.messages) == ["user0@example.com", "user1@example.com",
                                                                     "user2@example.com"]
        for rid in ids:
            outcomes = events_of(fast_app, rid)
            assert outcomes[-1] == "sent" and set(outcomes[:-1]) == {"deferred"} and len(outcomes) >= 2
    finally:
        revived.stop()


def test_sigterm_finishes_the_current_batch_and_commits(fast_app, sink, workers):
    """SIGTERM to the worker group mid-batch: the batch completes, results are committed, the worker exits."""
    sink.handler.delay = 0.05
    ids = make_messages(fast_app, 30)
    _enqueue(fast_app, ids)
    proc = workers.start()
    wait_for(lambda: len(sink.messages) >= 5, timeout=30)
    workers.kill(proc, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert statuses(fast_app) == {"sent": 30}
    assert len(sink.messages) == 30


def test_reset_during_a_big_bulk_send_is_delivered_first(fast_app, sink, workers):
    """A critical mail enqueued while 1 500 bulk mails are being sent overtakes them: at most the rows the
    workers hold when it is asked for (a loop claim, 2 x DELIVERY_BATCH_SIZE at worst) go before it."""
    sink.handler.delay = 0.002
    bulk = make_messages(fast_app, 1500, queue="bulk", prefix="bulk")
    _enqueue(fast_app, bulk, "bulk")
    workers.start()
    workers.start()
    wait_for(lambda: len(sink.messages) >= 100, timeout=60)
    reset = make_messages(fast_app, 1, queue="critical", kind="password_reset", prefix="reset")
    sent_when_asked = len(sink.messages)
    _enqueue(fast_app, reset, "critical")
    wait_for(lambda: sink.handler.count("reset0@example.com"), timeout=60, interval=0.01)
    order = [m.rcpt_tos[0] for m in sink.messages]
    bulk_before_reset = order.index("reset0@example.com")
    batch = fast_app.config["MAILER"].DELIVERY_BATCH_SIZE
    assert bulk_before_reset - sent_when_asked <= 2 * batch, (sent_when_asked, bulk_before_reset)
    assert bulk_before_reset < 1500 - 2 * batch  # far from the end: it overtook the backlog
    wait_for(lambda: statuses(fast_app) == {"sent": 1501}, timeout=180, interval=0.5)
