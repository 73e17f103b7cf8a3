"""The sweeper rebuilds lost work from the database: Redis flushes and outages lose nothing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from mailer.extensions import db
from mailer.mail import sweeper
from mailer.mail.outbox import requeue
from mailer.mail.sweeper import periodic_sweep_due, register_sweep_hook, sweep
from mailer.models import Recipient
from mailer.queues import get_queue
from tests.fixtures import drain, wait_for
from tests.helpers import bearer, login
from tests.rows import events_of, make_messages, recipient_rows, statuses


def _comes_due_now(app, recipient_ids):
    with app.app_context():
        db.session.execute(update(Recipient).where(Recipient.id.in_(recipient_ids))
                           .values(next_attempt_at=datetime.now(UTC)))
        db.session.commit()


def _sweep(app, redis):
    with app.app_context():
        return sweep(redis, app.config["MAILER"].DELIVERY_LEASE_SECONDS)


def test_flushdb_with_queued_deferred_and_scheduled_work_still_delivers_each_once(deferring_app, redis, sink):
    """After FLUSHDB the sweeper re-enqueues queued, deferred and (once due) scheduled rows; one copy each."""
    sink.handler.rcpt_script["user0@example.com"] = ["451 4.3.0 later", "250 OK"]
    deferred = make_messages(deferring_app, 1)
    with deferring_app.app_context():
        requeue(deferred, "default")
    drain(deferring_app, redis)
    queued = make_messages(deferring_app, 3, prefix="queued")
    # Scheduled far enough ahead that no drain under load reaches them; the test moves their time up below.
    later = datetime.now(UTC) + timedelta(minutes=10)
    scheduled = make_messages(deferring_app, 2, prefix="later", send_at=later)
    with deferring_app.app_context():
        requeue(queued, "default")
        requeue(scheduled, "default", at=later)
    assert statuses(deferring_app) == {"deferred": 1, "queued": 5}

    redis.flushdb()
    # The queued ones, maybe the deferral (its 3 s retry delay may be over), never the scheduled ones.
    assert _sweep(deferring_app, redis).recipients in (3, 4)
    drain(deferring_app, redis)
    assert statuses(deferring_app)["queued"] == 2
    assert not any(m.rcpt_tos[0].startswith("later") for m in sink.messages)
    _comes_due_now(deferring_app, scheduled)  # their send_at arrives: the sweeper must now find them

    def delivered():
        _sweep(deferring_app, redis)
        drain(deferring_app, redis)
        return statuses(deferring_app) == {"sent": 6}

    wait_for(delivered, timeout=25, interval=0.3)
    received = sorted(m.rcpt_tos[0] for m in sink.messages)
    assert received == sorted({*received}) and len(received) == 6
    assert events_of(deferring_app, deferred[0]) == ["deferred", "sent"]


def test_sweep_skips_rows_whose_job_is_alive(fast_app, redis, sink):
    """A row whose job still waits in Redis is not enqueued again (no duplicate jobs)."""
    ids = make_messages(fast_app, 5)
    with fast_app.app_context():
        requeue(ids, "default")
    assert _sweep(fast_app, redis).recipients == 0
    assert get_queue("default", redis).count == 1


def test_redis_down_at_request_time_is_202_and_delivered_after_a_sweep(app_factory, sink, redis):
    """With Redis unreachable POST answers 202; once Redis is back `flask sweep` enqueues, a worker sends."""
    from tests.fixtures import FAST
    from tests.helpers import create_tenant

    down = app_factory(**FAST, SMTP_PORT=sink.port, REDIS_URL="redis://127.0.0.1:1/0")
    create_tenant(down)
    client = down.test_client()
    token = login(client, "acme", "admin@acme.test")
    response = client.post("/v1/messages", json={"to": ["ann@example.com", "bob@example.com"], "subject": "s",
                                                 "text": "x"}, headers=bearer(token))
    assert response.status_code == 202 and response.get_json()["status"] == "queued"

    up = app_factory(**FAST, SMTP_PORT=sink.port)
    result = up.test_cli_runner().invoke(args=["sweep"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["recipients"] == 2
    drain(up, redis)
    assert statuses(up) == {"sent": 2}
    assert len(sink.messages) == 1 and sorted(sink.messages[0].rcpt_tos) == ["ann@example.com", "bob@example.com"]
    body = up.test_client().get(f"/v1/messages/{response.get_json()['id']}", headers=bearer(token)).get_json()
    assert body["status"] == "sent"


def test_sweep_command_without_redis_fails_cleanly(app_factory, sink):
    from tests.fixtures import FAST

    app = app_factory(**FAST, REDIS_URL="redis://127.0.0.1:1/0")
    result = app.test_cli_runner().invoke(args=["sweep"])
    assert result.exit_code != 0 and "Redis is unavailable" in result.output


def test_expired_lease_is_taken_back_and_recorded_as_ambiguous(fast_app, redis, sink):
    """A row left `sending` mid-attempt by a dead worker is retried once its lease ends, with an ambiguous event."""
    from mailer.extensions import db
    from mailer.models import Recipient

    [rid] = make_messages(fast_app, 1)
    with fast_app.app_context():
        row = db.session.get(Recipient, rid)
        row.status, row.claim_token = "sending", "deadbeef"
        row.lease_until = datetime.now(UTC) + timedelta(seconds=1)
        row.attempt_started_at = datetime.now(UTC)
        db.session.commit()
    assert _sweep(fast_app, redis).recipients == 0  # lease still running
    time.sleep(1.1)
    assert _sweep(fast_app, redis).recipients == 1

    def sent():
        drain(fast_app, redis)
        return recipient_rows(fast_app)[0].status == "sent"

    wait_for(sent, timeout=10, interval=0.3)
    assert events_of(fast_app, rid) == ["ambiguous", "sent"]
    assert recipient_rows(fast_app)[0].attempts == 2


def test_hooks_run_on_every_sweep_and_a_failing_hook_does_not_stop_others(fast_app, redis, monkeypatch):
    monkeypatch.setattr(sweeper, "_hooks", [])
    calls = []

    def broken():
        raise RuntimeError("boom")

    register_sweep_hook(broken)
    register_sweep_hook(lambda: calls.append("ran"))
    register_sweep_hook(broken)  # registering twice is harmless
    report = _sweep(fast_app, redis)
    assert calls == ["ran"] and report.hooks_failed == 1


def test_only_one_sweep_at_a_time_and_one_trigger_per_interval(fast_app, redis):
    redis.set(sweeper.LOCK_KEY, "someone-else")
    assert _sweep(fast_app, redis).skipped
    redis.delete(sweeper.LOCK_KEY)
    assert not _sweep(fast_app, redis).skipped
    assert [periodic_sweep_due(redis, 1) for _ in range(3)] == [True, False, False]
    time.sleep(1.1)
    assert periodic_sweep_due(redis, 1)
