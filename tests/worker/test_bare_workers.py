"""The contract's worker: a bare `rq worker --with-scheduler critical default bulk` subprocess, alone,
replaced after SIGKILL, beside MailerWorker, and under one-message-per-request traffic."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job

from mailer.mail.outbox import requeue
from tests.fixtures import drain, wait_for
from tests.helpers import bearer, login
from tests.rows import events_of, make_messages, recipient_rows, statuses

pytestmark = pytest.mark.slow
GREYLISTED = "451 4.7.1 greylisted, come back later"


def _enqueue(app, ids, queue="default", at=None):
    with app.app_context():
        requeue(ids, queue, at=at)


def _deferred_at(app, recipient_id):
    """When the recipient's first (deferred) attempt was recorded, epoch seconds."""
    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.models import DeliveryEvent

    with app.app_context():
        at = db.session.scalar(select(DeliveryEvent.at).where(DeliveryEvent.recipient_id == recipient_id,
                                                             DeliveryEvent.outcome == "deferred"))
        return at.replace(tzinfo=at.tzinfo or UTC).timestamp() if at else None


def _row(app, email):
    return next(r for r in recipient_rows(app) if r.email == email)


def test_a_bare_worker_delivers_a_message_a_broadcast_a_signup_mail_and_a_retry(fast_app, sink, workers, redis):
    """No worker class, no serializer option: every kind of mail reaches the sink, a 451 is retried to a 250."""
    sink.handler.rcpt_script["grey@example.com"] = [GREYLISTED, "250 OK"]
    client = fast_app.test_client()
    token = login(client, "acme", "admin@acme.test")
    workers.start()
    message = client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "Hi", "text": "x"},
                          headers=bearer(token))
    retried = client.post("/v1/messages", json={"to": ["grey@example.com"], "subject": "Hi", "text": "x"},
                          headers=bearer(token))
    broadcast = client.post("/v1/broadcasts", json={"subject": "News", "text": "t", "audience": {"roles": ["admin"]}},
                            headers=bearer(token))
    signup = client.post("/v1/auth/register", json={"tenant": "acme", "email": "new@example.com",
                                                    "password": "a long enough password 1"})
    assert [r.status_code for r in (message, retried, broadcast, signup)] == [202, 202, 202, 202]
    wanted = ("ann@example.com", "grey@example.com", "admin@acme.test", "new@example.com")
    wait_for(lambda: all(sink.handler.count(a) for a in wanted), timeout=40, interval=0.2)
    for response in (message, retried):
        body = client.get(f"/v1/messages/{response.get_json()['id']}", headers=bearer(token)).get_json()
        assert body["status"] == "sent"
    assert events_of(fast_app, _row(fast_app, "grey@example.com").id) == ["deferred", "sent"]
    verification = next(m for m in sink.messages if m.rcpt_tos == ["new@example.com"])
    text = verification.message.get_body(("plain",)).get_content()
    assert "Please confirm your email address (new@example.com)" in text


def test_jobs_are_readable_with_rqs_own_job_api(fast_app, redis):
    """What rq-dashboard shows: the function's dotted name and id arguments, read with RQ's defaults."""
    ids = make_messages(fast_app, 2)
    _enqueue(fast_app, ids)
    [job_id] = [j.decode() for j in redis.lrange("rq:queue:default", 0, -1)]
    job = Job.fetch(job_id, connection=redis)
    assert job.func_name == "mailer.worker.jobs.deliver_recipients"
    assert job.args == (sorted(str(i) for i in ids),) or job.args == ([str(i) for i in ids],)


def test_sigkill_then_an_immediate_bare_replacement_sends_retries_and_send_at_on_time(fast_app, sink, workers,
                                                                                      redis):
    """The only worker (holding RQ's scheduler locks) is SIGKILLed mid-batch and replaced at once; with only
    gunicorn and bare workers, a greylisted recipient and a send_at mail go out within retry + sweep + a few s."""
    sink.handler.delay = 0.05
    sink.handler.rcpt_script["grey0@example.com"] = [GREYLISTED, "250 OK"]
    [grey] = make_messages(fast_app, 1, prefix="grey")
    ids = make_messages(fast_app, 60)
    send_at = datetime.now(UTC) + timedelta(seconds=5)
    [later] = make_messages(fast_app, 1, send_at=send_at, prefix="later")
    _enqueue(fast_app, [grey])
    _enqueue(fast_app, ids)
    _enqueue(fast_app, [later], at=send_at)
    workers.start_web()
    first = workers.start()
    wait_for(lambda: _deferred_at(fast_app, grey) and len(sink.messages) >= 3, timeout=30, interval=0.02)
    workers.kill(first)
    first.wait(timeout=10)
    assert redis.keys("rq:scheduler-lock:*"), "the killed worker should still hold RQ's scheduler locks"
    assert sink.handler.count("grey0@example.com") == 0 and statuses(fast_app).get("sending")
    deferred = _deferred_at(fast_app, grey)

    # A loaded machine can take seconds to start the replacement; "on time" counts from when it could work.
    ready_at = workers.wait_registered(workers.start())
    wait_for(lambda: statuses(fast_app) == {"sent": 62}, timeout=20, interval=0.2)
    retry_delay, sweep, few = 1.0, 2.0, 6.0
    grey_sent = sink.handler.arrivals["grey0@example.com"]
    assert grey_sent - max(deferred + retry_delay, ready_at) <= sweep + few, (grey_sent - deferred, ready_at - deferred)
    later_sent = sink.handler.arrivals["later0@example.com"]
    assert send_at.timestamp() <= later_sent <= max(send_at.timestamp(), ready_at) + sweep + few
    ambiguous = {r.id for r in recipient_rows(fast_app) if "ambiguous" in events_of(fast_app, r.id)}
    for row in recipient_rows(fast_app):
        copies = sink.handler.count(row.email)
        assert copies == 1 or (copies == 2 and row.id in ambiguous), (row.email, copies)
    assert len(ambiguous) <= 1  # the one mail in flight on the killed worker's connection


def test_a_mixed_fleet_runs_each_others_jobs(fast_app, sink, workers):
    """A retry a MailerWorker's job scheduled is run by a bare worker, and one a bare worker's job scheduled is
    run by a MailerWorker: one serializer, one fleet."""
    slow_retries = {"SMTP_RETRY_DELAYS": "4,4,4"}  # longer than the delivery loop lingers
    for starter, successor, prefix in (("mailer.worker.MailerWorker", None, "first"),
                                       (None, "mailer.worker.MailerWorker", "second")):
        sink.handler.rcpt_script[f"{prefix}0@example.com"] = [GREYLISTED, "250 OK"]
        [rid] = make_messages(fast_app, 1, prefix=prefix)
        proc = workers.start(worker_class=starter, **slow_retries)
        _enqueue(fast_app, [rid])
        wait_for(lambda rid=rid: events_of(fast_app, rid) == ["deferred"], timeout=30, interval=0.1)
        workers.kill(proc, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        proc = workers.start(worker_class=successor, **slow_retries)
        wait_for(lambda rid=rid: events_of(fast_app, rid) == ["deferred", "sent"], timeout=30, interval=0.2)
        workers.kill(proc, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert statuses(fast_app) == {"sent": 2}


def test_a_1s_retry_is_sent_within_5s_of_its_deferral_whatever_the_sweep_interval(app_factory, sink, workers_for):
    """SWEEP_INTERVAL_SECONDS=30: the retry is not the sweep's business; it goes out at its time."""
    app, pool = workers_for(SWEEP_INTERVAL_SECONDS=30, SMTP_RETRY_DELAYS=(1, 1, 1))
    sink.handler.rcpt_script["user0@example.com"] = [GREYLISTED, "250 OK"]
    [rid] = make_messages(app, 1)
    pool.start()
    _enqueue(app, [rid])
    wait_for(lambda: sink.handler.count("user0@example.com"), timeout=30, interval=0.05)
    assert sink.handler.arrivals["user0@example.com"] - _deferred_at(app, rid) <= 5


def test_200_one_message_requests_share_a_handful_of_sessions_each_ended_with_quit(app_factory, sink, workers_for):
    """One POST after another while a bare worker runs: a few SMTP sessions, not 200, all QUIT, EHLO named."""
    app, pool = workers_for(RATELIMIT_ENABLED=False)
    client = app.test_client()
    token = login(client, "acme", "admin@acme.test")
    pool.start(SMTP_HELO_NAME="mailer-worker.example.net")
    for index in range(200):
        response = client.post("/v1/messages", json={"to": [f"r{index}@example.com"], "subject": "s", "text": "t"},
                               headers=bearer(token))
        assert response.status_code == 202
    wait_for(lambda: len(sink.messages) >= 200, timeout=60, interval=0.1)
    # The delivery loop leaves once no mail has come for a while, and QUITs on its way out.
    wait_for(lambda: sink.handler.quits == set(sink.handler.sessions), timeout=15, interval=0.1)
    assert len(sink.messages) == 200
    assert 1 <= len(sink.handler.sessions) <= 5, len(sink.handler.sessions)
    assert set(sink.handler.sessions.values()) == {"mailer-worker.example.net"}


def test_a_retry_job_woken_before_its_rows_are_due_waits_or_reschedules_them(fast_app, sink, redis, monkeypatch):
    """RQ's whole-second clock may wake a retry early: its rows are sent at their time, or put back on the
    schedule at their time, never left for the next sweep."""
    from mailer.extensions import db
    from mailer.mail import delivery_loop
    from mailer.models import Recipient

    first, second = make_messages(fast_app, 2)
    due, later = datetime.now(UTC) + timedelta(seconds=0.8), datetime.now(UTC) + timedelta(seconds=30)
    with fast_app.app_context():
        for rid, at, job_id in ((first, due, "early-1"), (second, later, "early-2")):
            row = db.session.get(Recipient, rid)
            row.status, row.next_attempt_at, row.job_id = "deferred", at, job_id
        db.session.commit()
    monkeypatch.setattr(delivery_loop, "LINGER_SECONDS", 2.0)
    with fast_app.app_context():
        delivery_loop.deliver_and_keep_going([first], "early-1")
        assert sink.handler.arrivals["user0@example.com"] >= due.timestamp()
        delivery_loop.deliver_and_keep_going([second], "early-2")
    assert sink.handler.count("user1@example.com") == 0
    rescheduled = _row(fast_app, "user1@example.com").job_id
    assert rescheduled not in (None, "early-2")
    assert Job.fetch(rescheduled, connection=redis).get_status() == "scheduled"
    assert abs(redis.zscore("rq:scheduled:default", rescheduled) - later.timestamp()) < 2


def test_a_row_that_comes_due_as_its_early_job_ends_gets_a_job_at_once(fast_app, sink, redis):
    """The job found its row not yet due and left (no linger, as under test settings, or asked to stop); the row
    came due before the job's last look: it is enqueued now, not left without a job until the next sweep."""
    from mailer.extensions import db
    from mailer.mail import delivery_loop
    from mailer.models import Recipient

    [rid] = make_messages(fast_app, 1)
    due = datetime.now(UTC) + timedelta(seconds=0.3)
    with fast_app.app_context():
        row = db.session.get(Recipient, rid)
        row.status, row.next_attempt_at, row.job_id = "deferred", due, "early-1"
        db.session.commit()

    def stop_once_due() -> bool:
        time.sleep(max(0.0, due.timestamp() - time.time()) + 0.1)
        return True

    with fast_app.app_context():
        delivery_loop.deliver_and_keep_going([rid], "early-1", stop_once_due)
    assert sink.handler.count("user0@example.com") == 0  # the job itself sent nothing: it woke too early
    again = _row(fast_app, "user0@example.com").job_id
    assert again not in (None, "early-1")
    assert Job.fetch(again, connection=redis).get_status() == "queued"
    drain(fast_app, redis, scheduled=False)
    assert sink.handler.count("user0@example.com") == 1


def test_a_loop_claims_what_its_connection_sends_in_a_fifth_of_a_second_within_bounds():
    """A fast server's loop claims up to DELIVERY_BATCH_SIZE rows at a time; a slow one stays at 20 (the
    wait of critical mail arriving meanwhile stays about LOOP_CLAIM_SECONDS)."""
    from mailer.mail.delivery_loop import LOOP_CLAIM_ROWS, LOOP_CLAIM_SECONDS, claim_rows

    assert claim_rows(20, 0.02, 100) == 100  # 1 000 mails/s: 200 in 0.2 s, capped at the batch size
    assert claim_rows(100, 0.4, 100) == int(LOOP_CLAIM_SECONDS * 250)  # 250 mails/s: 50
    assert claim_rows(20, 1.0, 100) == LOOP_CLAIM_ROWS  # 20 mails/s: the floor
    assert claim_rows(0, 0.0, 100) == LOOP_CLAIM_ROWS
    assert claim_rows(20, 0.02, 10) == 10  # never more than a job carries
    assert claim_rows(20, 1.0, 10) == 10
