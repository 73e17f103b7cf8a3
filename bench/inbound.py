"""Bounce storm: how many reports per second the inbound receiver takes, and how fast workers process them.

    .venv/bin/python bench/inbound.py [--reports 2000] [--clients 8] [--workers 2] [--database-url URL]
                                      [--worker-class mailer.worker.MailerWorker]

1. baseline — an aiosmtpd server that answers 250 to every mail and keeps nothing (the ceiling of
              SMTP itself on this machine), fed the same storm.
2. receiver — Mailer's receiver (token check at RCPT, raw report committed, processing enqueued), no
              worker running: the storm becomes a backlog.
3. backlog  — ``--workers`` real ``rq worker`` processes start and process the backlog: reports/s from
              the first report processed to the last, and the workers' CPU per report.
4. live     — with those workers running, a second storm of as many reports: each report's arrival
              (stored) to its suppression being committed, p50/p99/max, the target being ≤ 5 s.

Every report is a Postfix-style RFC 3464 DSN (~2.5 KB, 5.1.1: it suppresses) to a distinct recipient's
VERP address. Clients are separate processes, each on one connection. The database is a temp SQLite
file unless --database-url is given (a PostgreSQL database's schema is RESET); the Redis database
BENCH_REDIS_URL (default redis://127.0.0.1:6379/10) is FLUSHED before and after. The last line printed
is one JSON object. A benchmark, not a test: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import smtplib
import socket
import sys
import tempfile
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aiosmtpd.controller import Controller
from flask import Flask
from redis import Redis
from sqlalchemy import insert, select

from bench.common import (
    app_settings,
    bench_env,
    percentile,
    reset_schema,
    start_workers,
    stop_processes,
    wait_for,
)
from bench.cpu import tree_cpu
from mailer import create_app
from tests.feedback.samples import postfix_dsn

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
BOUNCES = "bounces.bench.test"


class Discard:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client(port: int, jobs: list[tuple[str, bytes]], done: Any) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo("mx.example.net")
        for rcpt, raw in jobs:
            client.sendmail("", [rcpt], raw)
    done.put(len(jobs))


def storm(port: int, jobs: list[tuple[str, bytes]], clients: int) -> float:
    """Reports/s for every job sent by ``clients`` processes at once."""
    context = mp.get_context("fork")
    done = context.Queue()
    shares = [jobs[i::clients] for i in range(clients)]
    procs = [context.Process(target=_client, args=(port, share, done)) for share in shares]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    sent = sum(done.get(timeout=600) for _ in procs)
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join()
    assert sent == len(jobs)
    return len(jobs) / elapsed


def build_app(env: dict[str, str]) -> Flask:
    reset_schema(env["DATABASE_URL"])
    app = create_app({**app_settings(env), "TESTING": True, "LOG_FORMAT": "text"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    result = app.test_cli_runner().invoke(args=["tenants", "create", "acme", "--name", "Acme", "--admin-email",
                                                "admin@acme.test", "--admin-password", "bench password 1"])
    assert result.exit_code == 0, result.output
    return app


def make_reports(app: Flask, start: int, n: int) -> list[tuple[str, bytes]]:
    """n sent recipients (one message each) and, for each, a DSN to its VERP address."""
    from mailer.extensions import db
    from mailer.mail.recipient_tokens import TokenKind, token_address
    from mailer.models import Message, Recipient, Tenant

    jobs = []
    with app.app_context():
        tenant_id = db.session.scalars(select(Tenant.id)).one()
        messages, recipients = [], []
        for index in range(start, start + n):
            mid, rid = uuid.uuid4(), uuid.uuid4()
            header = f"<{mid.hex}@acme.test>"
            messages.append({"id": mid, "tenant_id": tenant_id, "kind": "custom", "creator_type": "user",
                             "subject": "s", "sender": "news@acme.test", "message_id_header": header,
                             "queue": "default", "status": "sent", "tags": [], "metadata": {}})
            recipients.append({"id": rid, "message_id": mid, "tenant_id": tenant_id, "position": 0,
                               "email": f"gone{index}@example.com", "name": "", "status": "sent", "attempts": 1,
                               "smtp_message_id": header})
            verp = token_address(app.config["MAILER"], TokenKind.BOUNCE, rid)
            jobs.append((verp, postfix_dsn(to=verp, verp=verp, recipient=f"gone{index}@example.com",
                                           original_message_id=header,
                                           report_id=f"<{uuid.uuid4().hex}@mx.example.net>")))
        db.session.execute(insert(Message.__table__), messages)
        db.session.execute(insert(Recipient.__table__), recipients)
        db.session.commit()
    return jobs


def statuses(app: Flask) -> dict[str, int]:
    from sqlalchemy import func

    from mailer.extensions import db
    from mailer.models import InboundReport

    with app.app_context():
        rows = db.session.execute(select(InboundReport.status, func.count()).group_by(InboundReport.status)).all()
        db.session.rollback()
    return {status: count for status, count in rows}


def processed_span(app: Flask, since: float) -> tuple[int, float]:
    """(reports processed after ``since``, seconds from the first of them to the last)."""
    from datetime import UTC, datetime

    from mailer.extensions import db
    from mailer.models import InboundReport

    with app.app_context():
        stamps = sorted(_aware(t).timestamp() for t in db.session.scalars(
            select(InboundReport.processed_at).where(InboundReport.processed_at >= datetime.fromtimestamp(since, UTC))))
        db.session.rollback()
    return len(stamps), (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")


def suppression_delays(app: Flask, since: float) -> list[float]:
    """Per report received after ``since``: seconds from its arrival (stored) to its address's suppression."""
    from datetime import UTC, datetime

    from mailer.extensions import db
    from mailer.models import InboundReport, Recipient, Suppression

    with app.app_context():
        rows = db.session.execute(
            select(InboundReport.received_at, Suppression.created_at)
            .join(Recipient, Recipient.id == InboundReport.recipient_id)
            .join(Suppression, Suppression.email == Recipient.email)
            .where(InboundReport.received_at >= datetime.fromtimestamp(since, UTC))
        ).all()
        db.session.rollback()
    return [(_aware(suppressed) - _aware(received)).total_seconds() for received, suppressed in rows]


def _aware(moment: Any) -> Any:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def workers_idle(redis: Redis) -> bool:
    """No job queued or running: every work horse has ended and been reaped (so its CPU is counted)."""
    from rq import Worker

    from mailer.queues import get_queue

    return not get_queue("bulk", redis).count and all(w.get_state() == "idle" for w in Worker.all(connection=redis))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="mailer.worker.MailerWorker",
                        help="as the Procfile runs them; 'bare' for a plain rq worker")
    parser.add_argument("--database-url", default=None, help="default: a temp SQLite file")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    workers: list[Any] = []
    try:
        with tempfile.TemporaryDirectory() as directory:
            url = args.database_url or f"sqlite:///{os.path.join(directory, 'bench.db')}"
            env = bench_env(url, REDIS_URL, 25, BOUNCE_DOMAIN=BOUNCES, SWEEP_INTERVAL_SECONDS=3600)
            app = build_app(env)
            backlog = make_reports(app, 0, args.reports)
            live = make_reports(app, args.reports, args.reports)
            size = sum(len(raw) for _, raw in backlog) // len(backlog)

            port = _free_port()
            baseline_server = Controller(Discard(), hostname="127.0.0.1", port=port)
            baseline_server.start()
            try:
                baseline = storm(port, backlog, args.clients)
            finally:
                baseline_server.stop()
            print(f"baseline (aiosmtpd, discard):  {baseline:8.1f} reports/s", flush=True)

            from mailer.feedback import limits
            from mailer.feedback.receiver import make_controller

            # The storm stands for many MTAs but comes from one loopback address: lift the per-client bound.
            limits.REPORTS_PER_CLIENT_PER_HOUR = max(limits.REPORTS_PER_CLIENT_PER_HOUR, 2 * args.reports)
            port = _free_port()
            server = make_controller(app, "127.0.0.1", port)
            server.start()
            try:
                received = storm(port, backlog, args.clients)
                print(f"receiver (store + enqueue):    {received:8.1f} reports/s", flush=True)

                since = time.time()
                worker_class = None if args.worker_class == "bare" else args.worker_class
                workers = start_workers(args.workers, REDIS_URL, env, worker_class, queues=("bulk",))
                wait_for(lambda: statuses(app).get("pending", 0) == 0, 600, "the backlog to be processed")
                count, span = processed_span(app, since)
                processed = (count - 1) / span
                wait_for(lambda: workers_idle(redis), 120, "the workers' jobs to end")
                cpu_backlog = tree_cpu([w.pid for w in workers])
                counts = statuses(app)
                print(f"backlog ({args.workers} workers):          {processed:8.1f} reports/s, "
                      f"{1000 * cpu_backlog / count:.1f} ms worker CPU per report "
                      f"(startup and the idle end included)  {counts}",
                      flush=True)

                since = time.time()
                live_rate = storm(port, live, args.clients)
                wait_for(lambda: statuses(app).get("pending", 0) == 0, 600, "the live storm to be processed")
                delays = suppression_delays(app, since)
            finally:
                server.stop()
            p50, p99 = percentile(delays, 50), percentile(delays, 99)
            print(f"live storm ({live_rate:.0f} reports/s in): arrival -> suppression p50 {p50:.2f} s, "
                  f"p99 {p99:.2f} s, max {max(delays):.2f} s over {len(delays)} suppressions", flush=True)
            print(f"receiver/baseline {received / baseline:.2f}x; {args.reports} reports of ~{size} bytes, "
                  f"{args.clients} clients", flush=True)
            print(json.dumps({"reports": args.reports, "clients": args.clients, "report_bytes": size,
                              "database": url.split(":", 1)[0], "workers": args.workers,
                              "worker_class": args.worker_class,
                              "baseline_per_s": round(baseline, 1), "receiver_per_s": round(received, 1),
                              "receiver_ratio": round(received / baseline, 3),
                              "processed_per_s": round(processed, 1),
                              "worker_cpu_ms_per_report": round(1000 * cpu_backlog / count, 2),
                              "live_in_per_s": round(live_rate, 1),
                              "suppression_delay_p50_s": round(p50, 3), "suppression_delay_p99_s": round(p99, 3),
                              "suppression_delay_max_s": round(max(delays), 3), "suppressions": len(delays),
                              "statuses": statuses(app)}))
    finally:
        stop_processes(workers)
        redis.flushdb()


if __name__ == "__main__":
    main()
