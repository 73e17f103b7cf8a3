"""Reports are drained in claimed batches: one job applies many, each with its own outcome, a forged or
repeated report in the batch changes nothing it must not, and a worker killed mid-batch loses and doubles
nothing (real receiver, real Redis, real rq workers)."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import func, insert, select

from mailer.extensions import db
from mailer.feedback.inbox import enqueue_pending_reports, store_reports
from mailer.mail.recipient_tokens import TokenKind, read_address, token_address
from mailer.models import (
    AuditEvent,
    DeliveryEvent,
    FeedbackRecord,
    InboundReport,
    Message,
    Recipient,
    Tenant,
    WebhookEvent,
)
from mailer.queues import get_queue
from tests.feedback import samples
from tests.feedback.rig import BOUNCE_DOMAIN, running_receiver, suppressions
from tests.fixtures import drain, wait_for
from tests.helpers import create_tenant
from tests.workers import WorkerProcesses


@pytest.fixture
def hooked_app(app_factory: Callable[..., Flask]) -> Flask:
    """A tenant with BOUNCE_DOMAIN and a webhook endpoint for every feedback event (never reached: the
    events' rows are what is counted)."""
    app = app_factory(BOUNCE_DOMAIN=BOUNCE_DOMAIN, WEBHOOK_ALLOW_PRIVATE=True)
    create_tenant(app)
    client = app.test_client()
    from tests.helpers import bearer, login

    headers = bearer(login(client, "acme", "admin@acme.test"))
    response = client.post("/v1/webhooks", headers=headers, json={
        "url": "http://127.0.0.1:9/hook", "events": ["message.bounced", "message.complained", "suppression.created"]})
    assert response.status_code == 201, response.get_json()
    return app


def _sent_recipients(app: Flask, count: int) -> list[tuple[uuid.UUID, str, str]]:
    """``count`` recipients already `sent`, one message each: (row id, address, Message-ID)."""
    rows = []
    with app.app_context():
        tenant_id = db.session.scalars(select(Tenant.id)).one()
        messages, recipients = [], []
        for index in range(count):
            mid, rid, email = uuid.uuid4(), uuid.uuid4(), f"r{index}@example.com"
            header = f"<{mid.hex}@acme.test>"
            messages.append({"id": mid, "tenant_id": tenant_id, "kind": "custom", "creator_type": "user",
                             "subject": "s", "sender": "news@acme.test", "message_id_header": header,
                             "queue": "default", "status": "sent", "tags": [], "metadata": {}})
            recipients.append({"id": rid, "message_id": mid, "tenant_id": tenant_id, "position": 0, "email": email,
                               "name": "", "status": "sent", "attempts": 1, "smtp_message_id": header})
            rows.append((rid, email, header))
        db.session.execute(insert(Message.__table__), messages)
        db.session.execute(insert(Recipient.__table__), recipients)
        db.session.commit()
    return rows


def _verp(app: Flask, recipient_id: uuid.UUID) -> str:
    return token_address(app.config["MAILER"], TokenKind.BOUNCE, recipient_id)


def _hard_bounce(app: Flask, row: tuple[uuid.UUID, str, str], report: int = 0) -> bytes:
    verp = _verp(app, row[0])
    return samples.postfix_dsn(to=verp, verp=verp, recipient=row[1], original_message_id=row[2],
                               report_id=f"<r{report}-{row[0].hex}@mx.example.net>")


def _by_recipient(app: Flask, model: Any, column: Any, value: str | None = None) -> Counter[uuid.UUID]:
    with app.app_context():
        query = select(model.recipient_id, func.count()).group_by(model.recipient_id)
        if value is not None:
            query = query.where(column == value)
        return Counter(dict(db.session.execute(query).tuples().all()))


def _webhook_events(app: Flask) -> Counter[str]:
    with app.app_context():
        return Counter(db.session.scalars(select(WebhookEvent.type)))


def _statuses(app: Flask) -> dict[uuid.UUID, str]:
    with app.app_context():
        db.session.expire_all()
        return dict(db.session.execute(select(Recipient.id, Recipient.status)).tuples().all())


def test_one_job_applies_a_storm_each_report_to_its_own_recipient(hooked_app: Flask, redis: Redis) -> None:
    """40 reports through the real receiver wait for one drain job: hard bounces (5.1.1) suppress, a 5.7.1
    bounce and a delay do not, complaints suppress; each recipient gets its own outcome, once."""
    app = hooked_app
    rows = _sent_recipients(app, 40)
    kinds = ["hard", "policy", "delayed", "complaint"]
    with running_receiver(app) as receiver:
        for index, row in enumerate(rows):
            verp, kind = _verp(app, row[0]), kinds[index % 4]
            if kind == "complaint":
                raw = samples.arf_complaint(to=verp, recipient=row[1], original_message_id=row[2],
                                            report_id=f"<arf-{row[0].hex}@fbl.example.net>")
            else:
                status, action = {"hard": ("5.1.1", "failed"), "policy": ("5.7.1", "failed"),
                                  "delayed": ("4.4.1", "delayed")}[kind]
                raw = samples.postfix_dsn(to=verp, verp=verp, recipient=row[1], original_message_id=row[2],
                                          status=status, action=action, diagnostic=f"smtp; 550 {status} no",
                                          report_id=f"<{row[0].hex}@mx.example.net>")
            assert receiver.send(verp, raw)[0] == 250
    assert len(get_queue("bulk", redis).get_jobs()) == 1
    drain(app, redis, ("bulk",))
    statuses = _statuses(app)
    expected_status = {"hard": "bounced", "policy": "bounced", "delayed": "sent", "complaint": "sent"}
    expected_outcome = {"hard": "bounced", "policy": "bounced", "delayed": "delayed", "complaint": "complained"}
    events = {}
    with app.app_context():
        for recipient_id, outcome in db.session.execute(
                select(DeliveryEvent.recipient_id, DeliveryEvent.outcome)).tuples():
            events.setdefault(recipient_id, []).append(outcome)
    for index, row in enumerate(rows):
        kind = kinds[index % 4]
        assert statuses[row[0]] == expected_status[kind], (kind, row)
        assert events[row[0]] == [expected_outcome[kind]], (kind, row)
    assert suppressions(app) == sorted(
        (row[1], "all", "hard_bounce" if kinds[index % 4] == "hard" else "complaint")
        for index, row in enumerate(rows) if kinds[index % 4] in ("hard", "complaint"))
    assert _webhook_events(app) == {"message.bounced": 20, "message.complained": 10, "suppression.created": 20}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "suppression.created")) == 20
        assert set(db.session.scalars(select(InboundReport.status))) == {"processed"}


def test_a_batch_mixing_genuine_forged_and_repeated_reports(hooked_app: Flask, redis: Redis) -> None:
    """In one batch: genuine hard bounces; Ann's token on a DSN failing Bob and Carl too (only Ann's block
    applies); the same report twice, and again under a new Report-ID for the same recipient (one event,
    suppression, audit entry and webhook each per address); a report for a token whose row is gone."""
    app = hooked_app
    ann, bob, carl, dave, erin = _sent_recipients(app, 5)
    forged_verp = _verp(app, ann[0])
    forged = samples.multi_dsn(to=forged_verp, verp=forged_verp, original_message_id=ann[2],
                               failures=[(ann[1], "5.1.1"), (bob[1], "5.1.1"), (carl[1], "5.1.1")])
    with running_receiver(app) as receiver:
        for verp, raw in [(forged_verp, forged), (_verp(app, dave[0]), _hard_bounce(app, dave)),
                          (_verp(app, dave[0]), _hard_bounce(app, dave)),
                          (_verp(app, erin[0]), _hard_bounce(app, erin)),
                          (_verp(app, erin[0]), _hard_bounce(app, erin, report=1)),
                          (_verp(app, uuid.uuid4()), _hard_bounce(app, erin, report=2))]:
            assert receiver.send(verp, raw)[0] == 250
    drain(app, redis, ("bulk",))
    statuses = _statuses(app)
    assert [statuses[r[0]] for r in (ann, bob, carl, dave, erin)] == ["bounced", "sent", "sent", "bounced", "bounced"]
    assert suppressions(app) == sorted((r[1], "all", "hard_bounce") for r in (ann, dave, erin))
    assert _by_recipient(app, DeliveryEvent, DeliveryEvent.outcome, "bounced") == {ann[0]: 1, dave[0]: 1, erin[0]: 2}
    assert _by_recipient(app, FeedbackRecord, None) == {ann[0]: 1, dave[0]: 1, erin[0]: 2}
    assert _webhook_events(app) == {"message.bounced": 4, "suppression.created": 3}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "suppression.created")) == 3
        results = Counter(db.session.execute(select(InboundReport.status, InboundReport.result)).tuples())
    assert results == {("processed", "bounced"): 4, ("processed", "bounced (duplicate)"): 1,
                       ("unmatched", "the token's recipient no longer exists"): 1}


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(app_factory: Callable[..., Flask], redis: Redis) -> None:
    """300 stored reports, a real rq worker draining them is SIGKILLed while it holds a claimed batch; once
    the lease runs out the sweep hands them to a second worker: every recipient ends bounced, suppressed,
    with one event, one feedback record and one audit entry, and every report processed."""
    app = app_factory(BOUNCE_DOMAIN=BOUNCE_DOMAIN, DELIVERY_LEASE_SECONDS=3)
    create_tenant(app)
    rows = _sent_recipients(app, 300)
    with app.app_context():
        config = app.config["MAILER"]
        store_reports([read_address(config, _verp(app, row[0])) for row in rows],  # type: ignore[misc]
                      [_hard_bounce(app, row) for row in rows])
        from mailer.feedback.inbox import enqueue_drain

        assert enqueue_drain()
    workers = WorkerProcesses(app)
    try:
        first = workers.start("bulk")

        def held() -> int:
            with app.app_context():
                return db.session.scalar(select(func.count()).select_from(InboundReport).where(
                    InboundReport.status == "pending", InboundReport.lease_until.is_not(None))) or 0

        _kill_holding_a_batch(workers, first, held, lambda: _pending(app) < len(rows))
        cut = _pending(app)
        assert 0 < cut < len(rows)
        workers.start("bulk")

        def swept() -> bool:
            with app.app_context():
                enqueue_pending_reports()
            return _pending(app) == 0

        wait_for(swept, timeout=90, interval=1.0)
    finally:
        for proc in list(workers.procs):
            workers.kill(proc)
    assert set(_statuses(app).values()) == {"bounced"}
    assert _by_recipient(app, DeliveryEvent, DeliveryEvent.outcome, "bounced") == {row[0]: 1 for row in rows}
    assert _by_recipient(app, FeedbackRecord, None) == {row[0]: 1 for row in rows}
    assert suppressions(app) == sorted((row[1], "all", "hard_bounce") for row in rows)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "suppression.created")) == len(rows)
        reports = db.session.execute(select(InboundReport.status, InboundReport.attempts)).tuples().all()
    assert {status for status, _ in reports} == {"processed"}
    assert max(attempts for _, attempts in reports) == 2  # the killed batch was claimed again, once


def _kill_holding_a_batch(workers: WorkerProcesses, worker: subprocess.Popen[bytes], held: Callable[[], int],
                          started: Callable[[], bool]) -> None:
    """SIGKILL the worker (and its work horse) while it holds a claimed batch: stopped first (SIGSTOP), so a
    batch it commits between the look and the kill is seen, and it is let go on to claim the next."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        wait_for(lambda: held() > 0 and started(), timeout=60, interval=0.005)
        workers.kill(worker, signal.SIGSTOP)
        time.sleep(0.2)  # a COMMIT already sent finishes on the server meanwhile
        if held() > 0:
            workers.kill(worker)
            worker.wait(timeout=10)
            assert held() > 0, "the worker died holding a claimed batch"
            return
        workers.kill(worker, signal.SIGCONT)
    raise AssertionError("the worker never held a claimed batch when stopped")


def _pending(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(InboundReport)
                                 .where(InboundReport.status == "pending")) or 0

